package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/safetensors"
)

// mergeTol bounds |merged − (base + adapter)| logits in float32: the merged
// weight W + s·B·A is rounded once more than the adapter's separate
// products. The logits are O(1); differences seen are ~2e-6.
const mergeTol = 1e-4

func logitsOfModel(t *testing.T, m *model.Model, b model.Batch) []float32 {
	t.Helper()
	tp := m.NewTape()
	tp.NoGrad = true
	defer tp.Reset()
	l, err := m.Logits(tp, b)
	if err != nil {
		t.Fatal(err)
	}
	return m.Dev.Download(l.Val)
}

// r1 merge on the hand-written PEFT fixture: the merged checkpoint gives
// the logits of base + adapter (float32, within mergeTol), has exactly the
// base's tensors and dtype, and loads as a plain model.
func TestMergeMatchesBasePlusAdapter(t *testing.T) {
	base, adapter := filepath.Join("..", "..", "model", "testdata", "qwen2"), filepath.Join("..", "..", "model", "testdata", "lora_peft")
	out := filepath.Join(t.TempDir(), "merged")
	stdout, stderr, code := runCLI(t, "", "merge", "--base", base, "--adapter", adapter, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "r=4") || !strings.Contains(stdout, "4 modules") {
		t.Errorf("output: %s", stdout)
	}
	dev := cpu.New()
	b := model.NewBatch([][]int32{{3, 14, 15, 9, 26, 5, 35}, {8, 96, 2}}, 0)
	ref, err := model.Load(base, dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.LoadLoRA(adapter); err != nil {
		t.Fatal(err)
	}
	want := logitsOfModel(t, ref, b)
	merged, err := model.Load(out, dev)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Adapter != nil || len(merged.Ignored) != 0 || merged.Config.DType != "float32" {
		t.Fatalf("merged checkpoint: adapter %v, ignored %v, dtype %s", merged.Adapter, merged.Ignored, merged.Config.DType)
	}
	got := logitsOfModel(t, merged, b)
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("max |merged − (base + adapter)| = %.3g over %d logits (tolerance %g)", worst, len(want), mergeTol)
	if !(worst <= mergeTol) {
		t.Fatalf("merged logits differ by %.3g", worst)
	}
	plain, _ := model.Load(base, dev)
	if slices.Equal(logitsOfModel(t, plain, b), got) {
		t.Fatal("the merge changed nothing")
	}
}

// Merging into a 16-bit base (the tiny model, BF16) keeps its dtype and
// copies the tokenizer files; the output may not overwrite an input.
func TestMergeKeepsDTypeAndTokenizer(t *testing.T) {
	dir := t.TempDir()
	tiny, err := resolveModel(builtinTiny)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(tiny, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	lc := model.DefaultLoRA()
	lc.R = 2
	a, err := m.AddLoRA(lc, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range a.Params() {
		v := make([]float32, p.Var.Val.Numel())
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.1)
		}
		setVar(m, p.Var, v)
	}
	adapter := filepath.Join(dir, "adapter")
	if err := a.Save(adapter); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "merged")
	if _, stderr, code := runCLI(t, "", "merge", "--base", builtinTiny, "--adapter", adapter, "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("merged model lacks %s", f)
		}
	}
	st, err := safetensors.OpenModel(out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, _ := st.Tensor("model.layers.0.self_attn.q_proj.weight")
	if q.DType != "BF16" {
		t.Errorf("merged weights stored as %s, the base's dtype is BF16", q.DType)
	}
	_, stderr, code := runCLI(t, "", "merge", "--base", out, "--adapter", adapter, "--out", out)
	if code == 0 || !strings.Contains(stderr, "input directory") {
		t.Errorf("merge into its own base: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "", "merge", "--base", builtinTiny, "--out", out); code == 0 || !strings.Contains(stderr, "--adapter") {
		t.Errorf("missing --adapter: exit %d, %s", code, stderr)
	}
}

func setVar(m *model.Model, v *autograd.Var, vals []float32) {
	src := m.Dev.Upload(vals, v.Val.DType, v.Val.Shape...)
	m.Dev.Copy(v.Val, src)
}

// The LoRA workflow end to end through the CLI: r1 sft with lora.r trains
// an adapter, r1 logits --adapter applies it on the base, and r1 merge
// folds it into a checkpoint whose logits are those of base + adapter up to
// the rounding of the merged weights to the base's BF16.
func TestLoRASFTThenMergeCLI(t *testing.T) {
	dir := t.TempDir()
	tiny, err := resolveModel(builtinTiny)
	if err != nil {
		t.Fatal(err)
	}
	var rows strings.Builder
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&rows, `{"prompt": "What is %d + %d?", "completion": " <answer>%d</answer>"}`+"\n", i, i+5, 2*i+5)
	}
	data := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(data, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	stdout, stderr, code := runCLI(t, "", "sft", "--model", builtinTiny, "--data", data, "--out", run, "--lr", "2e-2",
		"--set", "steps=4", "--set", "micro_batch=4", "--set", "lora.r=4", "--set", "lora.target_modules=all-linear")
	if code != 0 {
		t.Fatalf("sft: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "lora: r=4") || !strings.Contains(stdout, "r1 merge") {
		t.Errorf("sft output does not describe the adapter: %s", stdout)
	}
	merged := filepath.Join(dir, "merged")
	if _, stderr, code := runCLI(t, "", "merge", "--base", builtinTiny, "--adapter", run, "--out", merged); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	logits := func(args ...string) []float64 {
		out, stderr, code := runCLI(t, `{"ids": [5, 17, 33, 2, 9, 41]}`+"\n", append([]string{"logits", "--jsonl"}, args...)...)
		if code != 0 {
			t.Fatalf("logits %v: exit %d: %s", args, code, stderr)
		}
		var rec struct{ Logits [][]float64 }
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatal(err)
		}
		return slices.Concat(rec.Logits...)
	}
	base, adapted, folded := logits("--model", tiny), logits("--model", tiny, "--adapter", run), logits("--model", merged)
	maxDiff := func(a, b []float64) float64 {
		var d float64
		for i := range a {
			d = math.Max(d, math.Abs(a[i]-b[i]))
		}
		return d
	}
	moved, rounding := maxDiff(base, adapted), maxDiff(folded, adapted)
	t.Logf("adapter moves the logits by up to %.3g; the BF16 merged model is within %.3g of base + adapter", moved, rounding)
	if !(moved > 0.1) || !(rounding < moved/4) {
		t.Fatalf("adapter effect %.3g, merged-vs-adapter %.3g", moved, rounding)
	}
}
