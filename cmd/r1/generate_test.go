package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/openai/openaitest"
)

// r1 generate with a local teacher writes SFT rows that r1 sft trains on
// unchanged.
func TestGenerateLocalFeedsSFT(t *testing.T) {
	dir := t.TempDir()
	md := chatTestModel(t, dir)
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"problem": "What is 2 + 3?", "answer": "5"}`+"\n"+`{"problem": "What is 12 + 7?", "answer": "19"}`+"\n"), 0o644)
	out := filepath.Join(dir, "gen.jsonl")
	stdout, stderr, code := runCLI(t, "", "generate", "--teacher", md, "--prompts", prompts, "--n", "2", "--max-new-tokens", "8",
		"--no-filter", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "2 prompts, 4 samples") || !strings.Contains(stdout, "wrote 4 rows") {
		t.Errorf("stdout: %s", stdout)
	}
	// The default filters judge the random model's answers wrong.
	out2 := filepath.Join(dir, "gen2.jsonl")
	stdout, stderr, code = runCLI(t, "", "generate", "--teacher", md, "--prompts", prompts, "--n", "2", "--max-new-tokens", "8", "--out", out2)
	if code != 0 || !strings.Contains(stdout, "0 of 4 kept; dropped: 4 incorrect") {
		t.Errorf("exit %d: %s%s", code, stdout, stderr)
	}
	_, stderr, code = runCLI(t, "", "sft", "--model", md, "--data", out, "--out", filepath.Join(dir, "sft"), "--epochs", "1", "--set", "eval_rows=0")
	if code != 0 {
		t.Fatalf("r1 sft on generated rows: exit %d: %s", code, stderr)
	}
}

// r1 generate with an OpenAI-compatible teacher reports requests in
// flight; a dead endpoint is a clear error.
func TestGenerateRemoteCLI(t *testing.T) {
	srv := openaitest.New(func(r openaitest.Request, _ int) openaitest.Reply {
		return openaitest.Reply{Reasoning: "Adding the numbers step by step gives the total " + r.LastUser(), Content: "The answer is $\\boxed{5}$."}
	})
	defer srv.Close()
	dir := t.TempDir()
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"problem": "What is 2 + 3?", "answer": "5"}`+"\n"+`{"problem": "What is 1 + 3?", "answer": "4"}`+"\n"), 0o644)
	out := filepath.Join(dir, "gen.jsonl")
	stdout, stderr, code := runCLI(t, "", "generate", "--teacher-url", srv.URL(), "--teacher-model", "t", "--prompts", prompts,
		"--n", "3", "--stream", "--concurrency", "2", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"6 requests, 0 retries, 0 failed", "of 2 allowed", "1 of 6 kept; dropped: 3 incorrect, 2 duplicate"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	url := srv.URL()
	srv.Close()
	_, stderr, code = runCLI(t, "", "generate", "--teacher-url", url, "--teacher-model", "t", "--prompts", prompts, "--retries", "1",
		"--out", filepath.Join(dir, "dead.jsonl"))
	if code != 1 || !strings.Contains(stderr, "connection refused") || !strings.Contains(stderr, "--resume") {
		t.Errorf("dead endpoint: exit %d: %s", code, stderr)
	}
}

// chatTestModel writes a random test model with a chat template (r1 sft
// needs one for messages rows) under dir.
func chatTestModel(t *testing.T, dir string) string {
	t.Helper()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 9); err != nil {
		t.Fatal(err)
	}
	tc, _ := json.Marshal(map[string]any{"eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
		"chat_template": "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"})
	if err := os.WriteFile(filepath.Join(md, "tokenizer_config.json"), tc, 0o644); err != nil {
		t.Fatal(err)
	}
	return md
}

// r1 distill runs generate, eval, SFT and eval; a rerun finds every stage
// done.
func TestDistillStagesAndRerun(t *testing.T) {
	dir := t.TempDir()
	md := chatTestModel(t, dir)
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"problem": "What is 2 + 3?", "answer": "5"}`+"\n"+`{"problem": "What is 12 + 7?", "answer": "19"}`+"\n"), 0o644)
	out := filepath.Join(dir, "run")
	args := []string{"distill", "--teacher", md, "--student", md, "--prompts", prompts, "--n", "2", "--max-new-tokens", "8",
		"--no-filter", "--epochs", "1", "--eval-n", "3", "--eval-k", "1", "--out", out}
	stdout, stderr, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "2 prompts × 2 answers: 4 kept") || !strings.Contains(stdout, "before accuracy") || !strings.Contains(stdout, "after  accuracy") {
		t.Errorf("stdout:\n%s", stdout)
	}
	for _, f := range []string{"data.jsonl", "generate.json", "eval_before.json", "sft.json", "eval_after.json", "summary.json", "sft/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	_, stderr, code = runCLI(t, "", args...)
	if code != 0 || strings.Count(stderr, "done earlier") != 4 {
		t.Errorf("rerun: exit %d, want every stage done earlier:\n%s", code, stderr)
	}
}

// r1 distill --kd trains the student on the teacher's logits; a teacher
// with another tokenizer is refused.
func TestDistillKD(t *testing.T) {
	dir := t.TempDir()
	md := chatTestModel(t, dir)
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"problem": "What is 2 + 3?", "answer": "5"}`+"\n"), 0o644)
	out := filepath.Join(dir, "run")
	stdout, stderr, code := runCLI(t, "", "distill", "--teacher", md, "--student", md, "--prompts", prompts, "--n", "2", "--max-new-tokens", "8",
		"--no-filter", "--epochs", "1", "--eval-n", "0", "--kd", "jsd", "--kd-beta", "0.3", "--out", out)
	if code != 0 || !strings.Contains(stderr, "loss = jsd divergence") {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	// On-policy: the student answers, the teacher's logits teach.
	stdout, stderr, code = runCLI(t, "", "distill", "--teacher", md, "--student", md, "--prompts", prompts, "--n", "2", "--max-new-tokens", "8",
		"--epochs", "1", "--eval-n", "0", "--kd", "reverse", "--on-policy", "--out", filepath.Join(dir, "onpolicy"))
	if code != 0 || !strings.Contains(stdout, "2 kept") {
		t.Errorf("on-policy: exit %d: %s%s", code, stdout, stderr)
	}
	_, stderr, code = runCLI(t, "", "distill", "--teacher", md, "--student", "builtin:tiny", "--prompts", prompts, "--kd", "forward", "--out", filepath.Join(dir, "x"))
	if code == 0 || !strings.Contains(stderr, "different tokenizer.json") {
		t.Errorf("mismatched tokenizers: exit %d: %s", code, stderr)
	}
}
