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
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 9); err != nil {
		t.Fatal(err)
	}
	// A chat template, which r1 sft needs for messages rows.
	tc, _ := json.Marshal(map[string]any{"eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
		"chat_template": "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"})
	os.WriteFile(filepath.Join(md, "tokenizer_config.json"), tc, 0o644)
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
