package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// The report marks an RL stage's logged samples by the accuracy reward's
// score in samples.jsonl, as r1 grpo and r1 ppo write it.
func TestLastSamplesMarksCorrectness(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	lines := `{"step":1,"prompt":"What is 6 * 8 - 32?","completion":" <think> 48 - 32 = 21 </think> <answer> 21 </answer>","reward":0.5,"scores":{"format":{"value":1},"math":{"value":0}}}
{"step":1,"prompt":"What is 6 * 8 - 32?","completion":" <think> 48 - 32 = 16 </think> <answer> 16 </answer>","reward":1.5,"scores":{"format":{"value":1},"math":{"value":1}}}
{"step":2,"prompt":"Make 10 from 2 5","completion":"<answer> 2 * 5 </answer>","scores":{"countdown":{"value":1}}}
`
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	got := lastSamples(path, 3) // newest first
	want := []bool{true, true, false}
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for i, ex := range got {
		if ex.Correct != want[i] {
			t.Errorf("sample %d (%q): correct %v, want %v", i, ex.Completion, ex.Correct, want[i])
		}
	}
}
