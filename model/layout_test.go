package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
)

// LayoutShared gives every completion token the log-prob, and the weights
// the gradient, that LayoutPadded gives (float32, relative 2e-5): each
// sample sees its prompt once stored, at the positions it has alone. The
// samples are those of two prompts (one of a single token, no shared
// prefix) in mixed order, completions of 1 to 70 tokens, so rows cross
// the attention's query blocks. The layout stores each prompt once.
func TestSharedLayoutEqualsPadded(t *testing.T) {
	dev := cpu.New()
	cfg, err := ParseConfig([]byte(`{"model_type": "qwen2", "vocab_size": 50, "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"tie_word_embeddings": false, "initializer_range": 0.2, "max_position_embeddings": 256}`))
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, dev, 4)
	prompts := [][]int32{{3, 9, 14, 2, 7, 21, 33, 4, 4, 18}, {5}, {12, 40, 1}}
	var ids [][]int32
	var promptLen []int
	for i, n := range []int{7, 1, 70, 3, 12, 40, 2, 25} {
		p := prompts[i%3]
		s := append([]int32(nil), p...)
		for j := range n {
			s = append(s, int32((i*7+j*3)%50))
		}
		ids, promptLen = append(ids, s), append(promptLen, len(p))
	}
	// run returns each completion's log-probs and the gradients of
	// Σ_i Σ_t (i+1)·logp_it.
	run := func(b Batch, target []int32, pos [][]int) ([][]float64, [][]float32) {
		tp := autograd.NewTape(dev)
		logp, _, err := m.TokenLogProbs(tp, b, target)
		if err != nil {
			t.Fatal(err)
		}
		lp := dev.Download(logp.Val)
		grad := make([]float32, len(lp))
		out := make([][]float64, len(pos))
		for i, ps := range pos {
			for _, at := range ps {
				out[i] = append(out[i], float64(lp[at]))
				grad[at] = float32(i + 1)
			}
		}
		tp.SetGrad(logp, grad)
		tp.Backward()
		tp.Reset()
		var grads [][]float32
		for _, p := range m.Params() {
			grads = append(grads, dev.Download(p.Var.Grad))
			dev.Scale(p.Var.Grad, 0)
		}
		return out, grads
	}
	b, target, pos := LayoutShared(ids, promptLen)
	// Rows: prompt 0 (9 shared tokens), prompt 1 (none: one row per
	// sample, 3 of them), prompt 2 (2 shared tokens).
	if b.B != 5 {
		t.Fatalf("%d rows, want 5", b.B)
	}
	sharedLP, sharedG := run(b, target, pos)
	paddedLP, paddedG := run(LayoutPadded(ids, promptLen))
	for i := range ids {
		if len(sharedLP[i]) != len(ids[i])-promptLen[i] || len(paddedLP[i]) != len(sharedLP[i]) {
			t.Fatalf("sample %d: %d and %d log-probs for %d completion tokens", i, len(sharedLP[i]), len(paddedLP[i]), len(ids[i])-promptLen[i])
		}
		for j, want := range paddedLP[i] {
			if got := sharedLP[i][j]; math.Abs(got-want) > 2e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("sample %d token %d: log-prob %.7g shared, %.7g padded", i, j, got, want)
			}
		}
	}
	var worst, scale float64
	for i := range paddedG {
		for j := range paddedG[i] {
			worst = math.Max(worst, math.Abs(float64(sharedG[i][j]-paddedG[i][j])))
			scale = math.Max(scale, math.Abs(float64(paddedG[i][j])))
		}
	}
	if scale == 0 || worst > 2e-5*scale {
		t.Errorf("gradients differ by %.3g (max |g| %.3g)", worst, scale)
	}
	// The check can fail: with the prefix hidden from the samples (its
	// mask made a segment of its own), their log-probs move.
	for i := range b.Mask {
		if b.Mask[i] < 0 {
			b.Mask[i] = 99
		}
	}
	hiddenLP, _ := run(b, target, pos)
	if math.Abs(hiddenLP[0][0]-paddedLP[0][0]) < 1e-4 {
		t.Fatalf("hiding the prompt did not change the log-prob (%.7g): the comparison is blind", hiddenLP[0][0])
	}
}

// The padded layout's targets: the next token at every completion
// position; a sequence without a prompt has no target for its first
// token (nothing predicts it). The shared layout gives the same targets
// to the same tokens, and stores the prompt but its last token once.
func TestLayoutTargets(t *testing.T) {
	ids := [][]int32{{1, 2, 3, 4}, {5, 6, 7}, {1, 2, 9}}
	promptLen := []int{2, 0, 2}
	b, tg, pos := LayoutPadded(ids, promptLen)
	// Rows [1 2 3 4], [_ 5 6 7] and [_ 1 2 9].
	want := []int32{-1, 3, 4, -1, -1, 6, 7, -1, -1, -1, 9, -1}
	if b.T != 4 || fmt.Sprint(tg) != fmt.Sprint(want) || fmt.Sprint(pos) != "[[1 2] [5 6] [10]]" {
		t.Fatalf("padded: T %d targets %v positions %v, want %v", b.T, tg, pos, want)
	}
	b, tg, pos = LayoutShared(ids, promptLen)
	// Rows [1 | 2 3 4 | 2 9] (prompt {1, 2} shared) and [5 6 7].
	if b.B != 2 || b.T != 6 || fmt.Sprint(b.IDs) != "[1 2 3 4 2 9 5 6 7 0 0 0]" || fmt.Sprint(b.Mask) != "[-1 1 1 1 2 2 1 1 1 0 0 0]" ||
		fmt.Sprint(b.Positions) != "[0 1 2 3 1 2 0 1 2 0 0 0]" || fmt.Sprint(pos) != "[[1 2] [6 7] [4]]" {
		t.Fatalf("shared: %+v positions %v", b, pos)
	}
	for i, s := range ids {
		for j, at := range pos[i] {
			if next := s[len(s)-len(pos[i])+j]; tg[at] != next {
				t.Fatalf("sequence %d token %d: target %d, want %d", i, j, tg[at], next)
			}
		}
	}
}
