package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/pretrain"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

const pretrainTestConfig = `{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
 "num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": true, "vocab_size": 0}`

// pretrainArgs is a run small enough for a unit test: a 2-layer d32 model,
// 4 steps of 2×48 tokens, a 300-token vocabulary.
func pretrainArgs(t *testing.T, out string, extra ...string) []string {
	t.Helper()
	cfg := filepath.Join(filepath.Dir(out), "config.json")
	if err := os.WriteFile(cfg, []byte(pretrainTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return append([]string{"--out", out, "--config", cfg, "--steps", "4", "--batch", "2", "--seq-len", "48",
		"--vocab-size", "300", "--tokenizer-docs", "300", "--heldout", "5", "--log-every", "1", "--lr", "1e-2"}, extra...)
}

// cancelOn cancels a context once the output contains marker, simulating
// a run killed part-way.
type cancelOn struct {
	buf    bytes.Buffer
	marker string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func TestPretrainRunAndResume(t *testing.T) {
	dirA := filepath.Join(t.TempDir(), "a")
	var out, errb bytes.Buffer
	if err := runPretrain(context.Background(), pretrainArgs(t, dirA, "--eval", "2", "--eval-samples", "2"), nil, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"step 4/4", "loss", "tok/s", "ETA", "eval arithmetic", "eval countdown", "format"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
		"heldout_arithmetic.jsonl", "heldout_countdown.jsonl", "metrics.jsonl", "base_samples.jsonl", "pretrain.json"} {
		if _, err := os.Stat(filepath.Join(dirA, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	// The saved model, tokenizer and held-out set load back.
	m, err := model.Load(dirA, openDeviceOrFail(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dirA)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.VocabSize != tok.VocabSize() || tok.EOS < 0 || len(m.Config.EOSTokenIDs) != 1 || m.Config.EOSTokenIDs[0] != tok.EOS {
		t.Errorf("vocab %d vs tokenizer %d, eos %v vs %d", m.Config.VocabSize, tok.VocabSize(), m.Config.EOSTokenIDs, tok.EOS)
	}
	if m.Config.DType != "bfloat16" {
		t.Errorf("saved dtype %q, want bfloat16", m.Config.DType)
	}
	held, err := data.ReadProblems(filepath.Join(dirA, "heldout_countdown.jsonl"))
	if err != nil || len(held) != 5 || !held[0].HeldOut() {
		t.Errorf("held-out countdown set: %d problems, err %v", len(held), err)
	}

	// Kill a second run after step 2, resume it, and get the same weights.
	dirB := filepath.Join(t.TempDir(), "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOn{marker: "step 2/4", cancel: cancel}
	err = runPretrain(ctx, pretrainArgs(t, dirB), nil, w, &errb)
	if err == nil || !strings.Contains(err.Error(), "interrupted after step 2") || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("interrupted run returned %v", err)
	}
	if ck := train.LatestCheckpoint(dirB); filepath.Base(ck) != "step-2" {
		t.Fatalf("checkpoint after interrupt: %q, want step-2", ck)
	}
	out.Reset()
	if err := runPretrain(context.Background(), pretrainArgs(t, dirB, "--resume"), nil, &out, &errb); err != nil {
		t.Fatalf("resume: %v\n%s", err, errb.String())
	}
	if strings.Contains(out.String(), "step 1/4") || !strings.Contains(out.String(), "step 3/4") {
		t.Errorf("resumed run did not continue at step 3:\n%s", out.String())
	}
	a, _ := os.ReadFile(filepath.Join(dirA, "model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(dirB, "model.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("resumed run's weights differ from an uninterrupted run's (%d vs %d bytes)", len(a), len(b))
	}

	// Resuming with different flags is refused, except a longer --steps,
	// which extends the run.
	err = runPretrain(context.Background(), append(pretrainArgs(t, dirB, "--resume"), "--batch", "3"), nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "flags differ") {
		t.Errorf("resume with other flags: %v", err)
	}
	err = runPretrain(context.Background(), append(pretrainArgs(t, dirB, "--resume"), "--steps", "3"), nil, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "below the first run's") {
		t.Errorf("resume with fewer steps: %v", err)
	}
	out.Reset()
	if err := runPretrain(context.Background(), append(pretrainArgs(t, dirB, "--resume"), "--steps", "6"), nil, &out, &errb); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if strings.Contains(out.String(), "step 4/6") || !strings.Contains(out.String(), "step 6/6") {
		t.Errorf("extended run did not continue from step 5:\n%s", out.String())
	}
}

func openDeviceOrFail(t *testing.T) tensor.Backend {
	t.Helper()
	dev, err := openDevice("cpu")
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

func TestPretrainFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if err := runPretrain(context.Background(), []string{"-h"}, nil, &out, &errb); !errors.Is(err, errHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-out", "-steps", "-seq-len", "-batch", "-lr", "-seed", "-vocab-size", "-config", "-resume", "-eval"} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("help lacks %s", f)
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--out is required"},
		{[]string{"--out", dir, "--steps", "0"}, "--steps must be > 0"},
		{[]string{"--out", dir, "--vocab-size", "100"}, "--vocab-size must be ≥"},
		{[]string{"--out", dir, "--wrong-frac", "2"}, "wrong_frac"},
		{[]string{"--out", dir, "--warmup", "10", "--steps", "5"}, "--warmup (10)"},
		{[]string{"--out", dir, "--config", filepath.Join(dir, "nope.json"), "--tokenizer-docs", "50"}, "--config"},
	} {
		errb.Reset()
		err := runPretrain(context.Background(), tc.args, nil, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The committed tiny base model loads, fits its tokenizer, stays under
// 20 MB, and its held-out sets are what data.SyntheticProblems generates
// today (so a change to the generators cannot silently shift r1 zero's
// evaluation away from the committed files).
func TestTinyAssets(t *testing.T) {
	dir := filepath.Join("..", "..", "assets", "tiny")
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Skipf("no committed tiny model: %v", err)
	}
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	if total > 20<<20 {
		t.Errorf("assets/tiny holds %d bytes, over 20 MB", total)
	}
	m, err := model.Load(dir, openDeviceOrFail(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.VocabSize != tok.VocabSize() || m.Config.NumParams() > 20e6 {
		t.Errorf("model vocab %d, tokenizer %d, %d params", m.Config.VocabSize, tok.VocabSize(), m.Config.NumParams())
	}
	if eos, ok := tok.TokenID("<|endoftext|>"); !ok || eos != tok.EOS {
		t.Errorf("EOS %d, <|endoftext|> %d %v", tok.EOS, eos, ok)
	}
	// The held-out sets are written by the pretraining run, with its seed.
	opts, err := readJSON[pretrain.Config](filepath.Join(dir, "pretrain.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range data.Kinds {
		got, err := data.ReadProblems(filepath.Join(dir, "heldout_"+string(k)+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := data.SyntheticProblems(k, len(got), opts.Seed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i].Steps, want[i].Expr = nil, ""
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s held-out record %d is %+v, the generator gives %+v", k, i+1, got[i], want[i])
			}
		}
	}
}
