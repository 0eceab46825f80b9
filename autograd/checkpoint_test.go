package autograd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/tensor"
)

// layer is a pre-norm attention + MLP block (1,3,4) → (1,3,4) with a
// shared norm weight and a residual: a decoder layer in miniature.
func layer(tp *Tape, mask *tensor.Tensor, ws []*Var, x *Var) *Var {
	const b, tt, hq, hkv, d = 1, 3, 2, 1, 2
	wn, wq, wk, bq, wo, gate, down := ws[0], ws[1], ws[2], ws[3], ws[4], ws[5], ws[6]
	hn := tp.RMSNorm(x, wn, 1e-6)
	q := tp.Reshape(tp.Linear(hn, wq, bq), b, tt, hq, d)
	k := tp.Reshape(tp.Linear(hn, wk, nil), b, tt, hkv, d)
	a := tp.Reshape(tp.Attention(q, k, k, mask, 0.7), b, tt, hq*d)
	x2 := tp.Add(x, tp.Linear(a, wo, nil))
	h2 := tp.RMSNorm(x2, wn, 1e-6)
	m := tp.SwiGLU(tp.Linear(h2, gate, nil), tp.Linear(h2, gate, nil))
	return tp.Add(x2, tp.Linear(m, down, nil))
}

// stack embeds ids (3) from table (5,4) and runs three layers on them
// (the first with its own weights, the other two sharing theirs), each
// through Checkpoint when ckpt is set, then a residual of the result with
// itself: a decoder in miniature. (The segments' input is a value the
// tape made, as a decoder layer's is: a caller's Var would get the sum of
// a segment's contributions added to its gradient at once, which rounds
// differently when it already holds a gradient.)
func stack(tp *Tape, mask, ids *tensor.Tensor, ws [][]*Var, table *Var, ckpt bool) *Var {
	x := tp.Reshape(tp.Embedding(table, ids), 1, 3, 4)
	for i := 0; i < 3; i++ {
		w := ws[min(i, 1)]
		if ckpt {
			x = tp.Checkpoint(x, func(tp *Tape, x *Var) *Var { return layer(tp, mask, w, x) })
		} else {
			x = layer(tp, mask, w, x)
		}
	}
	return tp.Add(x, x)
}

// TestCheckpointBitIdentical: with and without checkpointing, through the
// memory checker (a buffer freed too early is poisoned to NaN), the
// outputs and every gradient (weights and input) are bit-identical, the
// forward pass keeps fewer tensors alive, and Backward + Reset leave only
// the caller's weights and gradients.
func TestCheckpointBitIdentical(t *testing.T) {
	type result struct {
		out, grads [][]float32
		fwdLive    int
	}
	run := func(ckpt, frozen bool) result {
		mc := memcheck.Wrap(cpu.New())
		rng := rand.New(rand.NewPCG(31, 32))
		mk := func(scale float64, shape ...int) *Var {
			vals := make([]float32, tensor.Numel(shape))
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * scale)
			}
			return Trainable(mc.Upload(vals, tensor.F32, shape...))
		}
		x := mk(1, 5, 4) // the embedding table
		if frozen {      // an input that needs no gradient (frozen embeddings)
			x.RequiresGrad = false
		}
		var ws [][]*Var
		var all []*Var
		for range 2 {
			w := []*Var{mk(1, 4), mk(0.5, 4, 4), mk(0.5, 2, 4), mk(0.5, 4), mk(0.5, 4, 4), mk(0.5, 6, 4), mk(0.5, 4, 6)}
			ws = append(ws, w)
			all = append(all, w...)
		}
		tp := NewTape(mc)
		var r result
		for pass := 0; pass < 2; pass++ { // the second pass accumulates
			mask := tp.Own(mc.UploadInt32([]int32{0, 1, 1}, 1, 3))
			ids := tp.Own(mc.UploadInt32([]int32{4, 0, 4}, 3))
			live := mc.Stats().Live
			y := stack(tp, mask, ids, ws, x, ckpt)
			r.fwdLive = mc.Stats().Live - live
			seed := make([]float32, y.Val.Numel())
			for i := range seed {
				seed[i] = float32(rng.NormFloat64())
			}
			tp.SetGrad(y, seed)
			tp.Backward()
			r.out = append(r.out, mc.Download(y.Val))
			tp.Reset()
		}
		if n := tp.Owned(); n != 0 {
			t.Fatalf("ckpt=%v: tape still owns %d tensors after Reset", ckpt, n)
		}
		if errs := mc.Errors(); len(errs) > 0 {
			t.Fatalf("ckpt=%v: misuse recorded: %q", ckpt, errs)
		}
		want := 2 * len(all) // weights and their gradients
		if !frozen {
			all = append(all, x)
			want += 2
		} else {
			want++
		}
		for _, w := range all {
			r.grads = append(r.grads, mc.Download(w.Grad))
		}
		if st := mc.Stats(); st.Live != want {
			t.Fatalf("ckpt=%v: %d tensors live after Reset, want %d:\n%q", ckpt, st.Live, want, mc.LiveSites())
		}
		return r
	}
	for _, frozen := range []bool{false, true} {
		want, got := run(false, frozen), run(true, frozen)
		for _, c := range []struct {
			what      string
			want, got [][]float32
		}{{"output", want.out, got.out}, {"gradient", want.grads, got.grads}} {
			for i := range c.want {
				for j := range c.want[i] {
					if math.Float32bits(c.got[i][j]) != math.Float32bits(c.want[i][j]) {
						t.Fatalf("frozen input %v: %s %d[%d] = %v with checkpointing, %v without", frozen, c.what, i, j, c.got[i][j], c.want[i][j])
					}
				}
			}
		}
		// Without: every op's output and saved tensors; with: the
		// embedding, the three layer outputs and the final sum.
		if got.fwdLive != 5 || want.fwdLive <= 3*got.fwdLive {
			t.Errorf("frozen input %v: forward pass left %d tensors alive with checkpointing (want 5), %d without", frozen, got.fwdLive, want.fwdLive)
		}
	}
}

// TestGradCheckpoint checks the gradients through checkpointed segments
// against finite differences (float64, the tolerance of gradcheck_test.go).
func TestGradCheckpoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	x := randVar(rng, 1, 5, 4)
	var ws [][]*Var
	var inputs = []*Var{x}
	for range 2 {
		w := []*Var{randVar(rng, 1, 4), randVar(rng, 0.5, 4, 4), randVar(rng, 0.5, 2, 4), randVar(rng, 0.5, 4),
			randVar(rng, 0.5, 4, 4), randVar(rng, 0.5, 6, 4), randVar(rng, 0.5, 4, 6)}
		ws = append(ws, w)
		inputs = append(inputs, w...)
	}
	mask, ids := dev.UploadInt32([]int32{0, 1, 1}, 1, 3), dev.UploadInt32([]int32{4, 0, 4}, 3)
	gradCheck(t, inputs, func(tp *Tape) []*Var {
		return []*Var{stack(tp, mask, ids, ws, x, true)}
	})
}

// A segment that returns a view or its input is refused.
func TestCheckpointRefusesViews(t *testing.T) {
	tp := NewTape(dev)
	x := Trainable(dev.Upload([]float32{1, 2}, tensor.F32, 1, 2))
	for name, fn := range map[string]func(*Tape, *Var) *Var{
		"input": func(_ *Tape, x *Var) *Var { return x },
		"view":  func(tp *Tape, x *Var) *Var { return tp.Reshape(tp.Add(x, x), 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("a segment returning its %s did not panic", name)
				}
			}()
			tp.Checkpoint(x, fn)
		}()
	}
	tp.Reset()
}
