package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/safetensors"
)

var updateParity = flag.Bool("update-parity", false, "rewrite testdata/parity.json from this build's short runs")

// TestParity runs short r1 pretrain, r1 grpo and r1 zero jobs and checks that
// their metrics, samples, summaries and checkpoints (weights and AdamW
// moments, tensor by tensor) are bit-identical to the digests in
// testdata/parity.json, recorded before the training core was refactored.
// The kernels are switched to their portable Go versions so the digests do
// not depend on this machine's SIMD level. Timing fields are left out.
func TestParity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	defer cpu.UsePortable()()
	tiny, err := filepath.Abs(filepath.Join("..", "..", "assets", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got := map[string]string{}

	pre := filepath.Join(dir, "pretrain")
	mustRun(t, "pretrain", "--out", pre, "--steps", "4", "--batch", "2", "--seq-len", "32", "--vocab-size", "300",
		"--tokenizer-docs", "200", "--heldout", "3", "--save-every", "2", "--log-every", "2", "--seed", "3")
	got["pretrain/metrics.jsonl"] = digestPretrainMetrics(t, filepath.Join(pre, "metrics.jsonl"))
	got["pretrain/tokenizer.json"] = digestFile(t, filepath.Join(pre, "tokenizer.json"))
	got["pretrain/model.safetensors"] = digestTensors(t, filepath.Join(pre, "model.safetensors"))
	got["pretrain/checkpoint/model.safetensors"] = digestTensors(t, filepath.Join(pre, "checkpoints", "step-4", "model.safetensors"))
	got["pretrain/checkpoint/optimizer.safetensors"] = digestTensors(t, filepath.Join(pre, "checkpoints", "step-4", "optimizer.safetensors"))

	gr := filepath.Join(dir, "grpo")
	mustRun(t, "grpo", "--config", "preset:tiny-zero", "--set", "model="+tiny, "--set", "out="+gr, "--set", "steps=3",
		"--set", "prompts_per_step=2", "--set", "num_generations=4", "--set", "sampling.max_new_tokens=24",
		"--set", "loss.beta=0.02", "--set", "loss.num_iterations=2", "--set", "micro_batch=3", "--set", "save_every=2")
	got["grpo/metrics.jsonl"] = digestMetrics(t, filepath.Join(gr, "metrics.jsonl"))
	got["grpo/samples.jsonl"] = digestFile(t, filepath.Join(gr, "samples.jsonl"))
	got["grpo/checkpoint/model.safetensors"] = digestTensors(t, filepath.Join(gr, "checkpoints", "step-3", "model.safetensors"))
	got["grpo/checkpoint/optimizer.safetensors"] = digestTensors(t, filepath.Join(gr, "checkpoints", "step-3", "optimizer.safetensors"))

	ze := filepath.Join(dir, "zero")
	mustRun(t, "zero", "--model", tiny, "--out", ze, "--steps", "2", "--eval-n", "4", "--eval-k", "2",
		"--set", "prompts_per_step=2", "--set", "num_generations=4", "--set", "sampling.max_new_tokens=24")
	got["zero/metrics.jsonl"] = digestMetrics(t, filepath.Join(ze, "metrics.jsonl"))
	got["zero/summary.json"] = digestMetrics(t, filepath.Join(ze, "summary.json"))
	got["zero/checkpoint/model.safetensors"] = digestTensors(t, filepath.Join(ze, "checkpoints", "step-2", "model.safetensors"))

	golden := filepath.Join("testdata", "parity.json")
	if *updateParity {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: digest %s, want %s (a change altered what training computes)", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: not in %s (run with -update-parity only when a change of results is intended)", k, golden)
		}
	}
}

func mustRun(t *testing.T, args ...string) {
	t.Helper()
	if _, stderr, code := runCLI(t, "", args...); code != 0 {
		t.Fatalf("r1 %s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
}

func digestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// digestMetrics hashes a JSON or JSONL file line by line after dropping
// wall-clock fields (time/*, tokens_per_s, seconds) and the model path, and re-encoding with
// sorted keys, so the digest covers the values and not the formatting.
func digestMetrics(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for k := range m {
			if strings.HasPrefix(k, "time/") || k == "time" || k == "tokens_per_s" || k == "seconds" || k == "model" {
				delete(m, k)
			}
		}
		line, _ := json.Marshal(m) // map keys are sorted
		h.Write(append(line, '\n'))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digestPretrainMetrics hashes pretraining's metrics at the precision the
// pre-refactor r1 pretrain wrote them (it printed loss %.5f, lr %.6g,
// grad_norm %.4f; the training core writes full precision).
func digestPretrainMetrics(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		f := func(k string) float64 { v, _ := m[k].(float64); return v }
		fmt.Fprintf(h, "%d %.5f %.6g %.4f %d\n", int(f("step")), f("loss"), f("lr"), f("grad_norm"), int64(f("tokens")))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digestTensors hashes a safetensors file's tensors (name, dtype, shape,
// bytes) in name order, ignoring header layout and metadata.
func digestTensors(t *testing.T, path string) string {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts := append([]safetensors.Tensor(nil), f.Tensors()...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	h := sha256.New()
	for _, x := range ts {
		shape, _ := json.Marshal(x.Shape)
		h.Write([]byte(x.Name + "|" + x.DType + "|" + string(shape) + "|"))
		h.Write(x.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}
