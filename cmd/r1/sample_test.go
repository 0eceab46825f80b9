package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/internal/testmodel"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestSampleFileIsReproducible(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 9); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "p.jsonl")
	os.WriteFile(prompts, []byte(`{"prompt": "What is 2 + 3?"}`+"\n"+`{"prompt": "What is 12 + 7? Think first."}`+"\n"), 0o644)
	var outs []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, "s"+string(rune('a'+i))+".jsonl")
		_, stderr, code := runCLI(t, "", "sample", "--model", md, "--prompts", prompts, "-n", "3", "--seed", "7",
			"--max-new-tokens", "10", "--template", "r1-zero", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(data))
	}
	if outs[0] != outs[1] {
		t.Fatal("the same seed gave different sample files")
	}
	lines := strings.Split(strings.TrimSpace(outs[0]), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 2 prompts × 3 samples", len(lines))
	}
	var rec sampleRecord
	if err := json.Unmarshal([]byte(lines[4]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.PromptIndex != 1 || rec.SampleIndex != 1 || len(rec.Tokens) != len(rec.LogProbs) || !strings.HasPrefix(rec.Prompt, "A conversation between User and Assistant") {
		t.Fatalf("record %+v", rec)
	}
}

func TestSampleStreamsOnePrompt(t *testing.T) {
	md := filepath.Join(t.TempDir(), "m")
	if _, err := testmodel.Write(md, "llama", 2); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runCLI(t, "", "sample", "--model", md, "--prompt", "User: What is 9 - 4? Assistant:", "--max-new-tokens", "6", "--temperature", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "6 tokens, length") && !strings.Contains(stderr, "stop") {
		t.Fatalf("stderr %q", stderr)
	}
	if len(strings.TrimSpace(out)) == 0 {
		t.Fatal("nothing streamed")
	}
	if _, _, code := runCLI(t, "", "sample", "--model", md); code == 0 {
		t.Fatal("no prompt accepted")
	}
}

// Without --model, commands use the tiny base model built into the binary.
func TestBuiltinModelIsDefault(t *testing.T) {
	if defaultModelDir() == "" {
		t.Fatal("the built-in model could not be unpacked")
	}
	out, stderr, code := runCLI(t, "", "sample", "--template", "r1-zero", "--prompt", "What is 2 + 3?", "--max-new-tokens", "40", "--temperature", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "<answer>") {
		t.Fatalf("the built-in model answered %q; it should use the R1-Zero format", out)
	}
}
