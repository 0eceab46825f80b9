package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// r1 ppo trains from a GRPO preset, resumes, and its checkpoint (a Hugging
// Face model carrying TRL's v_head) is what r1 sample takes next.
func TestPPOCommandRunsResumesAndFeedsSample(t *testing.T) {
	if defaultModelDir() == "" {
		t.Skip("no built-in model in this build")
	}
	out := filepath.Join(t.TempDir(), "ppo")
	args := []string{"ppo", "--config", "preset:tiny-zero", "--set", "out=" + out, "--set", "prompts_per_step=2",
		"--set", "num_generations=2", "--set", "sampling.max_new_tokens=16", "--set", "ppo.num_mini_batches=2"}
	stdout, stderr, code := runCLI(t, "", append(args, "--set", "steps=1")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = runCLI(t, "", append(args, "--set", "steps=2", "--resume")...)
	if code != 0 || !strings.Contains(stdout, "resumed") || !strings.Contains(stdout, "vloss") {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil || strings.Count(string(m), "\n") != 2 || !strings.Contains(string(m), "ppo/explained_variance") {
		t.Fatalf("metrics.jsonl: %v\n%s", err, m)
	}
	ckpt := filepath.Join(out, "checkpoints", "step-2")
	stdout, stderr, code = runCLI(t, "", "sample", "--model", ckpt, "--prompt", "What is 2 + 3?", "--max-new-tokens", "8", "--seed", "1")
	if code != 0 || stdout == "" {
		t.Fatalf("r1 sample on the PPO checkpoint: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
