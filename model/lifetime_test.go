package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/tensor"
)

// lossGrads runs LMLoss forward+backward twice on one tape (gradient
// accumulation) over a ragged batch whose targets skip the prompt, so the
// gather/scatter path of TokenLogProbs is used too, and returns the losses
// and every weight's gradient.
func lossGrads(t *testing.T, dev tensor.Backend, mt string) (losses []float64, grads [][]float32, m *Model, tp *autograd.Tape) {
	t.Helper()
	m = New(tinyConfig(t, mt), dev, 7)
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([][]int32, 3)
	for i := range rows {
		rows[i] = make([]int32, 9-2*i)
		for j := range rows[i] {
			rows[i][j] = int32(rng.IntN(64))
		}
	}
	b := NewBatch(rows, 0)
	target := NextTokenTargets(b)
	target[b.T] = -1 // a masked row start: not every row has a target
	tp = autograd.NewTape(dev)
	for pass := 0; pass < 2; pass++ {
		loss, _, err := m.LMLoss(tp, b, target, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		tp.Backward()
		tp.Reset()
		losses = append(losses, loss)
	}
	for _, p := range m.Params() {
		grads = append(grads, dev.Download(p.Var.Grad))
	}
	return losses, grads, m, tp
}

// Training through the checker frees every activation at Reset (live memory
// is the weights plus their gradients, as before the first step), records
// no misuse, and gives bit-identical losses and gradients: a tensor freed
// while still needed would have been poisoned to NaN.
func TestLMLossLifetimes(t *testing.T) {
	for _, mt := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(mt, func(t *testing.T) {
			wantL, wantG, _, _ := lossGrads(t, cpu.New(), mt)
			mc := memcheck.Wrap(cpu.New())
			gotL, gotG, m, tp := lossGrads(t, mc, mt)
			for i := range wantL {
				if gotL[i] != wantL[i] {
					t.Fatalf("pass %d loss %v through memcheck, %v without", i, gotL[i], wantL[i])
				}
			}
			for i := range wantG {
				for j := range wantG[i] {
					if math.Float32bits(gotG[i][j]) != math.Float32bits(wantG[i][j]) {
						t.Fatalf("%s grad[%d] = %v through memcheck, %v without", m.Params()[i].Name, j, gotG[i][j], wantG[i][j])
					}
				}
			}
			if errs := mc.Errors(); len(errs) > 0 {
				t.Fatalf("misuse recorded: %q", errs)
			}
			if tp.Owned() != 0 {
				t.Fatalf("tape owns %d tensors after Reset", tp.Owned())
			}
			var want int64
			for _, p := range m.Params() {
				want += p.Var.Val.Bytes() + p.Var.Grad.Bytes()
			}
			want += m.cos.Bytes() + m.sin.Bytes()
			if st := mc.Stats(); st.LiveBytes != want {
				t.Fatalf("live %d B after Reset, want %d (weights, gradients, RoPE tables); live sites:\n%q", st.LiveBytes, want, mc.LiveSites())
			}
		})
	}
}

// Decode steps with the paged cache leave nothing behind but the cache and
// the logits Forward hands back; freeing both returns to the baseline.
func TestForwardLifetimes(t *testing.T) {
	mc := memcheck.Wrap(cpu.New())
	m := New(tinyConfig(t, "qwen3"), mc, 3)
	m.ropeTables(1) // the model's own tables, kept across calls
	base := mc.Stats()
	mark := mc.Mark()
	cache := m.NewKVCache(4, 4, m.DType)
	prompt := []int32{5, 9, 2, 11, 40}
	st := &Step{MaxBlocks: 2, BlockTable: []int32{0, 1}, Rows: []int32{4}}
	for i, id := range prompt {
		st.IDs = append(st.IDs, id)
		st.Positions = append(st.Positions, int32(i))
		st.Slots = append(st.Slots, int32(i))
		st.SeqIdx = append(st.SeqIdx, 0)
	}
	for step := 0; step < 3; step++ {
		logits, err := m.Forward(st, cache)
		if err != nil {
			t.Fatal(err)
		}
		if !mc.AllFinite(logits) {
			t.Fatalf("step %d: non-finite logits (a temporary freed too early?)", step)
		}
		if got, want := mc.Stats().LiveBytes-base.LiveBytes, cache.Bytes()+logits.Bytes(); got != want {
			t.Fatalf("step %d: %d B live beyond the weights, want the cache and logits' %d:\n%q", step, got, want, mc.Since(mark))
		}
		mc.Free(logits)
		n := len(prompt) + step
		*st = Step{IDs: []int32{int32(step + 1)}, Positions: []int32{int32(n)}, Slots: []int32{int32(n)}, SeqIdx: []int32{0},
			BlockTable: []int32{0, 1}, MaxBlocks: 2, Rows: []int32{0}}
	}
	cache.Free(mc)
	if leaks := mc.Since(mark); len(leaks) > 0 {
		t.Fatalf("leaked: %q", leaks)
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
}
