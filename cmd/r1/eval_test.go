package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/eval"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

// tinyEvalModel writes a random-init model with a small trained tokenizer
// into a temp dir: what `r1 eval` sees for an untrained checkpoint.
func tinyEvalModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	corpus := []string{
		"A conversation between User and Assistant. The user asks a question, and the Assistant solves it.",
		"The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags.",
		"What is 12 plus 30? The answer is 42. Please reason step by step, and put your final answer within \\boxed{}.",
	}
	tok, err := tokenizer.Train(slices.Values(corpus), 320, []string{"<|endoftext|>"})
	if err != nil {
		t.Fatal(err)
	}
	tok.EOS = 0
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ParseConfig([]byte(`{"model_type": "qwen2", "vocab_size": ` + itoa(tok.VocabSize()) + `, "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"initializer_range": 0.5, "max_position_embeddings": 1024, "eos_token_id": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := model.New(cfg, cpu.New(), 7).Save(dir, tensor.F32); err != nil {
		t.Fatal(err)
	}
	return dir
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestEvalTinyModel(t *testing.T) {
	modelDir := tinyEvalModel(t)
	work := t.TempDir()
	bench := filepath.Join(work, "arith.jsonl")
	// Golds a random model will not hit by chance.
	rows := `{"problem": "What is 4711 plus 3506?", "answer": "8217"}
{"problem": "What is 9000 minus 1234?", "answer": 7766}
{"problem": "What is 6 times 1111?", "answer": "6666"}
`
	if err := os.WriteFile(bench, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	args := []string{"--model", modelDir, "--bench", bench, "--limit", "2", "-k", "2", "--max-new-tokens", "8",
		"--prompt", "r1-zero", "--out", out}
	var stdout, stderr bytes.Buffer
	if err := runEval(context.Background(), args, nil, &stdout, &stderr); err != nil {
		t.Fatalf("r1 eval: %v\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "pass@1") || !strings.Contains(stdout.String(), "arith") {
		t.Fatalf("no results table on stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "ETA") {
		t.Errorf("no progress bar on stderr:\n%s", stderr.String())
	}
	data, err := os.ReadFile(filepath.Join(out, eval.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Model      string
		Settings   map[string]any
		Benchmarks map[string]map[string]any
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	b := res.Benchmarks["arith"]
	if b == nil || b["n"] != 2.0 || b["k"] != 2.0 || res.Settings["temperature"] != 0.6 || res.Settings["top_p"] != 0.95 {
		t.Fatalf("results.json = %s", data)
	}
	// A random-init model scores (near) zero without errors.
	p1, _ := b["pass@1"].(float64)
	cons, _ := b["cons@k"].(float64)
	if _, ok := b["pass@1"].(float64); !ok || p1 > 0.25 || cons > 0.5 || b["unscored"] != nil {
		t.Errorf("random model: pass@1 %v cons@k %v unscored %v, want near zero and none unscored", b["pass@1"], b["cons@k"], b["unscored"])
	}
	recs, err := eval.ReadRecords(filepath.Join(out, eval.SamplesFile))
	if err != nil || len(recs) != 2 {
		t.Fatalf("samples.jsonl: %v, %d records", err, len(recs))
	}
	for _, r := range recs {
		if len(r.Samples) != 2 || !strings.HasPrefix(r.Prompt, "A conversation between User and Assistant") {
			t.Fatalf("record %+v", r)
		}
		for _, s := range r.Samples {
			if s.Tokens < 1 || s.Tokens > 8 {
				t.Fatalf("sample with %d tokens, want 1..8", s.Tokens)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, eval.ReportFile)); err != nil {
		t.Fatal(err)
	}

	// Running again resumes: nothing is generated and the numbers agree.
	stdout.Reset()
	stderr.Reset()
	if err := runEval(context.Background(), append(args, "--progress=false"), nil, &stdout, &stderr); err != nil {
		t.Fatalf("resumed r1 eval: %v", err)
	}
	if !strings.Contains(stderr.String(), "resuming: 2 problems") {
		t.Errorf("resumed run did not use the cache; stderr: %s", stderr.String())
	}
	again, err := os.ReadFile(filepath.Join(out, eval.ResultsFile))
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("resumed results differ:\n%s\nvs\n%s", again, data)
	}
}

func TestEvalFlagErrors(t *testing.T) {
	modelDir := tinyEvalModel(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--model", modelDir, "-k", "0"}, "-k 0"},
		{[]string{"--model", modelDir, "-k", "4", "--samples", "2"}, "samples ≥ k"},
		{[]string{"--model", modelDir, "--bench", "nosuch"}, `unknown dataset "nosuch"`},
		{[]string{"--model", modelDir, "--bench", "gsm8k", "--data", t.TempDir()}, "gsm8k"},
		{[]string{"--model", modelDir, "--bench", "/no/such.jsonl"}, "no such file"},
		{[]string{"--model", filepath.Join(modelDir, "missing"), "--bench", "/dev/null/x.jsonl"}, "--bench"},
		{[]string{"--max-new-tokens", "0", "--model", modelDir}, "--max-new-tokens"},
		{[]string{"--bench", "x.jsonl"}, "x.jsonl"}, // the built-in model loads; the benchmark file is missing
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := runEval(context.Background(), tt.args, nil, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("r1 eval %q = %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := runEval(context.Background(), []string{"-h"}, nil, &stdout, &stderr); !errors.Is(err, errHelp) ||
		!strings.Contains(stderr.String(), "-max-new-tokens") {
		t.Errorf("-h: %v\n%s", err, stderr.String())
	}
	// Prompt too long for the context: a clear error, not a panic.
	bench := filepath.Join(t.TempDir(), "long.jsonl")
	os.WriteFile(bench, []byte(`{"problem": "`+strings.Repeat("word ", 2000)+`", "answer": "1"}`+"\n"), 0o644)
	err := runEval(context.Background(), []string{"--model", modelDir, "--bench", bench, "-k", "1", "--max-new-tokens", "4",
		"--prompt", "plain", "--out", t.TempDir(), "--progress=false"}, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "context") {
		t.Errorf("overlong prompt: %v, want a context-length error", err)
	}
}
