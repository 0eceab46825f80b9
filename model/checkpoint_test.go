package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/internal/memcheck"
)

// gradsOf runs steps training passes of the LM loss on b (gradients
// accumulate across them) and returns the losses and every trained
// weight's gradient.
func gradsOf(t *testing.T, m *Model, params []autograd.Param, b Batch, steps int) (losses []float64, grads [][]float32) {
	t.Helper()
	for _, p := range params {
		p.Var.ZeroGrad()
	}
	target := NextTokenTargets(b)
	for range steps {
		tp := m.NewTape()
		loss, _, err := m.LMLoss(tp, b, target, 1)
		if err != nil {
			t.Fatal(err)
		}
		tp.Backward()
		tp.Reset()
		losses = append(losses, loss)
	}
	for _, p := range params {
		grads = append(grads, m.Dev.Download(p.Var.Grad))
	}
	return losses, grads
}

// packedBatch is two rows: one of two samples packed (segment ids 1 and
// 2, positions restarting), one of a sample and padding.
func packedBatch() Batch {
	return Batch{B: 2, T: 6,
		IDs:       []int32{3, 14, 15, 9, 26, 5, 8, 42, 7, 11, 0, 0},
		Mask:      []int32{1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 0, 0},
		Positions: []int32{0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 0}}
}

// Gradient checkpointing recomputes the same kernels on the same values:
// losses and gradients are bit-identical with and without it, for every
// architecture, padded and packed batches, and a LoRA adapter with
// dropout (whose masks the recomputation must draw again, not anew, and
// whose draw count must end where it would without checkpointing).
func TestGradientCheckpointingBitIdentical(t *testing.T) {
	type setup struct {
		arch  string
		lora  bool
		batch Batch
	}
	var cases []setup
	for _, mt := range []string{"llama", "qwen2", "qwen3"} {
		cases = append(cases, setup{mt, false, mixedPadding()}, setup{mt, false, packedBatch()})
	}
	cases = append(cases, setup{"qwen2", true, mixedPadding()}, setup{"qwen3", true, packedBatch()})
	for _, c := range cases {
		run := func(ckpt bool) ([]float64, [][]float32, uint64) {
			mc := memcheck.Wrap(dev)
			m := New(tinyConfig(t, c.arch), mc, 7)
			params := m.Params()
			var a *Adapter
			if c.lora {
				lc := loraConfig(4, 8, AllLinear)
				lc.Dropout = 0.3
				var err error
				if a, err = m.AddLoRA(lc, 5); err != nil {
					t.Fatal(err)
				}
				randomizeAdapter(a, rand.New(rand.NewPCG(1, 2)), 0.5)
				params = a.Params()
			}
			m.GradientCheckpointing = ckpt
			losses, grads := gradsOf(t, m, params, c.batch, 2)
			if errs := mc.Errors(); len(errs) > 0 {
				t.Fatalf("%s: misuse recorded: %q", c.arch, errs)
			}
			var draws uint64
			if a != nil {
				draws = a.DropoutDraws()
			}
			return losses, grads, draws
		}
		wantL, wantG, wantD := run(false)
		gotL, gotG, gotD := run(true)
		for i := range wantL {
			if math.Float64bits(gotL[i]) != math.Float64bits(wantL[i]) {
				t.Fatalf("%s lora=%v: loss %d = %v with checkpointing, %v without", c.arch, c.lora, i, gotL[i], wantL[i])
			}
		}
		for i := range wantG {
			for j := range wantG[i] {
				if math.Float32bits(gotG[i][j]) != math.Float32bits(wantG[i][j]) {
					t.Fatalf("%s lora=%v: gradient %d[%d] = %v with checkpointing, %v without", c.arch, c.lora, i, j, gotG[i][j], wantG[i][j])
				}
			}
		}
		if gotD != wantD {
			t.Fatalf("%s lora=%v: %d dropout masks drawn with checkpointing, %d without", c.arch, c.lora, gotD, wantD)
		}
	}
}
