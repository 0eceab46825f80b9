package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
)

// r1 sft --config cold-start runs the preset on the built-in model: an RL
// run's scored samples become cold-start rows, the model trains on them
// and is evaluated on the held-out benchmark, whose pass@1 lands in
// metrics.jsonl. (Shortened with --set; the preset's own data path is
// r1 zero's runs/zero.)
func TestSFTColdStartPreset(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := range 16 {
		b, _ := json.Marshal(map[string]any{"prompt": chat.R1Zero(fmt.Sprintf("What is %d + 2?", i)),
			"completion":    fmt.Sprintf(" <think> %d + 2 = %d, counting up twice. </think> <answer> %d </answer>", i, i+2, i+2),
			"finish_reason": "stop", "scores": map[string]any{"math": map[string]any{"value": 1}}})
		lines = append(lines, string(b))
	}
	samples := filepath.Join(dir, "samples.jsonl")
	if err := os.WriteFile(samples, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cold")
	stdout, stderr, code := runCLI(t, "", "sft", "--config", "cold-start", "--data", samples, "--out", out,
		"--set", "steps=2", "--set", "eval.n=2", "--set", "eval.k=1", "--set", "eval.max_new_tokens=16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "cold start from "+samples+": 16 samples read, 16 kept") {
		t.Errorf("no cold-start summary: %s", stdout)
	}
	raw, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSpace(string(raw)), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(recs[len(recs)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || last["eval/synthetic/pass@1"] == nil {
		t.Fatalf("metrics %s: want 2 steps, the last with eval/synthetic/pass@1", raw)
	}
	// A GRPO command refuses the SFT preset, naming the trainer.
	if _, stderr, code := runCLI(t, "", "grpo", "--config", "cold-start"); code == 0 || !strings.Contains(stderr, "configures r1 sft") {
		t.Errorf("r1 grpo --config cold-start: exit %d: %s", code, stderr)
	}
}
