package sft

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/chat"
)

// An RL run's samples become cold-start conversations: only correct,
// complete, well-formed samples within the length bounds, with the
// question recovered from the R1-Zero prompt and the answer in the R1
// format (reasoning, then a summary with the boxed answer).
func TestColdStart(t *testing.T) {
	row := func(q, completion, finish string, math float64) string {
		b, _ := json.Marshal(map[string]any{"prompt": chat.R1Zero(q), "completion": completion, "finish_reason": finish,
			"scores": map[string]any{"math": map[string]any{"value": math}, "format": map[string]any{"value": 1}}})
		return string(b)
	}
	in := strings.Join([]string{
		row("What is 2 + 3?", " <think> 2 + 3 = 5. </think> <answer> 5 </answer>", "stop", 1),
		row("What is 7 - 1?", " <think> 7 - 1 = 5. </think> <answer> 5 </answer>", "stop", 0),
		row("What is 9 + 9?", " <think> 9 + 9 = 18, carry", "length", 1),
		row("What is 4 + 4?", " 4 + 4 = 8. The answer is 8.", "stop", 1),
		row("What is 1 + 1?", " <think> 2 </think> <answer> 2 </answer>", "stop", 1),
		row("What is 6 + 6?", " <think> 6 + 6 = 12, write 2, carry 1. So 12. </think> <answer> 12 </answer>", "stop", 1),
	}, "\n")
	rows, st, err := ColdStart(strings.NewReader(in), ColdStartOptions{Correct: "math", MinThink: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st.Read != 6 || st.Kept != 2 || st.Incorrect != 1 || st.Truncated != 1 || st.Malformed != 1 || st.OutOfSize != 1 {
		t.Fatalf("stats %+v", st)
	}
	msgs := rows[1]["messages"].([]map[string]string)
	if msgs[0]["content"] != "What is 6 + 6?" ||
		msgs[1]["content"] != "<think>\n6 + 6 = 12, write 2, carry 1. So 12.\n</think>\n\nThe answer is $\\boxed{12}$." {
		t.Fatalf("row %q", msgs)
	}
	// The rows are valid SFT input.
	r, _ := tinyRenderer(t)
	b, _ := json.Marshal(rows[0])
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	if _, err := r.Example(m); err != nil {
		t.Fatalf("cold-start row is not SFT input: %v", err)
	}
	if _, _, err := ColdStart(strings.NewReader(`{"prompt": "p", "completion": "c"}`), ColdStartOptions{Correct: "math"}); err == nil ||
		!strings.Contains(err.Error(), "scores") {
		t.Fatalf("unscored input: %v", err)
	}
	if _, _, err := ColdStart(strings.NewReader(row("q", "c", "stop", 1)), ColdStartOptions{Correct: "countdown"}); err == nil ||
		!strings.Contains(err.Error(), "countdown") {
		t.Fatalf("missing label: %v", err)
	}
}

// cold_start.correct in an SFT config makes data an RL run's samples: New
// converts them into OUT/cold_start.jsonl and trains on those rows.
func TestColdStartConfig(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range 12 {
		ok := 1.0
		if i%4 == 0 {
			ok = 0
		}
		b, _ := json.Marshal(map[string]any{"prompt": chat.R1Zero(fmt.Sprintf("What is %d + 2?", i)),
			"completion":    fmt.Sprintf(" <think> %d + 2 = %d, counting up twice. </think> <answer> %d </answer>", i, i+2, i+2),
			"finish_reason": "stop", "scores": map[string]any{"math": map[string]any{"value": ok}}})
		lines = append(lines, string(b))
	}
	samples := filepath.Join(dir, "samples.jsonl")
	if err := os.WriteFile(samples, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testConfig(dir, samples, filepath.Join(dir, "cold"))
	c.ColdStart.Correct, c.EvalRows, c.Steps = "math", 0, 1
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if st := tr.ColdStartStats; st == nil || st.Read != 12 || st.Kept != 9 || st.Incorrect != 3 {
		t.Fatalf("cold start stats %+v", st)
	}
	if len(tr.Train) != 9 {
		t.Fatalf("%d training samples, want the 9 kept", len(tr.Train))
	}
	raw, err := os.ReadFile(filepath.Join(c.Out, ColdStartFile))
	if err != nil || strings.Count(string(raw), "\n") != 9 || !strings.Contains(string(raw), `\\boxed{3}`) {
		t.Fatalf("%s: %v\n%s", ColdStartFile, err, raw)
	}
	c.ColdStart.MinThink = -1
	if _, err := New(c, cpu.New()); err == nil || !strings.Contains(err.Error(), "cold_start.min_think") {
		t.Fatalf("negative min_think: %v", err)
	}
}
