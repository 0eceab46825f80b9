package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// r1 rm pairs → r1 rm train → r1 rm score, end to end: the score lines
// answer the input lines in order (a bad line gets an error line and the
// exit status is 1), and each score is the one the line's text gets alone
// (to float32 rounding).
func TestRMTrainAndScore(t *testing.T) {
	dir := t.TempDir()
	pairs, out := filepath.Join(dir, "pairs.jsonl"), filepath.Join(dir, "rm")
	var stdout, stderr bytes.Buffer
	if err := runRM(context.Background(), []string{"pairs", "--synthetic", "helpful", "--n", "40", "--out", pairs}, nil, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	tiny, _ := filepath.Abs(filepath.Join("..", "..", "assets", "tiny"))
	if err := runRM(context.Background(), []string{"train", "--model", tiny, "--data", pairs, "--out", out, "--set", "steps=2", "--set", "micro_batch=2"},
		nil, &stdout, &stderr); err != nil {
		t.Fatal(err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "held-out pairwise accuracy") {
		t.Fatalf("no held-out figures in %q", stdout.String())
	}
	lines := []string{`{"text": "What is 2 + 3? <answer> 5 </answer>"}`, `{"prompt": "What is 2 + 3?", "response": " <answer> 5 </answer>"}`,
		`{"oops"`, `{"prompt": "What is 2 + 3?", "completion": " <answer> 6 </answer>"}`, `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}`}
	score := func(in []string, batch string) []map[string]any {
		var o, e bytes.Buffer
		err := runRM(context.Background(), []string{"score", "--model", out, "--jsonl", "--batch", batch}, strings.NewReader(strings.Join(in, "\n")+"\n"), &o, &e)
		var res []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(o.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("output line %q: %v", l, err)
			}
			res = append(res, m)
		}
		if bad := strings.Contains(strings.Join(in, ""), "oops"); bad != (err != nil) {
			t.Fatalf("exit error %v with a bad line %v", err, bad)
		}
		return res
	}
	all := score(lines, "2")
	if len(all) != len(lines) || all[2]["error"] == nil || !strings.Contains(all[2]["error"].(string), "line 3") {
		t.Fatalf("answers %v", all)
	}
	if all[0]["score"] != all[1]["score"] {
		t.Errorf("the same text as text and as prompt+response: %v vs %v", all[0]["score"], all[1]["score"])
	}
	for i, l := range lines {
		if i == 2 {
			continue
		}
		alone := score([]string{l}, "16")
		// Batches are padded: float32 sums in another order (1e-5).
		if a, b := alone[0]["score"].(float64), all[i]["score"].(float64); math.Abs(a-b) > 1e-5*math.Max(1, math.Abs(b)) {
			t.Errorf("line %d: %v in a batch, %v alone", i+1, all[i]["score"], alone[0]["score"])
		}
	}
	if _, err := os.Stat(filepath.Join(out, "config.json")); err != nil {
		t.Fatal(err)
	}
}
