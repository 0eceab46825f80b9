package autograd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/tensor"
)

// block records a pre-norm attention + MLP block with a shared norm weight,
// a residual Add of a Var with itself and a gather/scatter: every path by
// which a gradient buffer can be taken over, added to or thrown away.
func block(tp *Tape, dev tensor.Backend, ws []*Var, x *Var) *Var {
	const b, tt, hq, hkv, d = 1, 3, 2, 1, 2
	wn, wq, wk, bq, wo, gate, down := ws[0], ws[1], ws[2], ws[3], ws[4], ws[5], ws[6]
	mask := tp.Own(dev.UploadInt32([]int32{0, 1, 1}, b, tt))
	hn := tp.RMSNorm(x, wn, 1e-6)
	q := tp.Reshape(tp.Linear(hn, wq, bq), b, tt, hq, d)
	k := tp.Reshape(tp.Linear(hn, wk, nil), b, tt, hkv, d)
	a := tp.Reshape(tp.Attention(q, k, k, mask, 0.7), b, tt, hq*d)
	x2 := tp.Add(x, tp.Linear(a, wo, nil))
	h2 := tp.RMSNorm(x2, wn, 1e-6)
	m := tp.SwiGLU(tp.Linear(h2, gate, nil), tp.Linear(h2, gate, nil))
	y := tp.Add(x2, tp.Linear(m, down, nil))
	y = tp.Add(y, y)
	idx := tp.Own(dev.UploadInt32([]int32{2, 0}, 2))
	return tp.ScatterRows(tp.GatherRows(tp.Reshape(y, tt, 4), idx), idx, tt)
}

// runBlock does two forward/backward passes (gradients accumulate into the
// weights) and returns the weights' gradients and the output values read
// after the second Backward.
func runBlock(t *testing.T, dev tensor.Backend) (grads [][]float32, out []float32, tp *Tape) {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	mk := func(scale float64, shape ...int) *Var {
		vals := make([]float32, tensor.Numel(shape))
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * scale)
		}
		return Trainable(dev.Upload(vals, tensor.F32, shape...))
	}
	x := mk(1, 1, 3, 4)
	ws := []*Var{mk(1, 4), mk(0.5, 4, 4), mk(0.5, 2, 4), mk(0.5, 4), mk(0.5, 4, 4), mk(0.5, 6, 4), mk(0.5, 4, 6)}
	tp = NewTape(dev)
	mc, _ := dev.(*memcheck.Backend)
	for pass := 0; pass < 2; pass++ {
		y := block(tp, dev, ws, x)
		var fwd memcheck.Stats
		if mc != nil {
			fwd = mc.Stats()
		}
		seed := make([]float32, y.Val.Numel())
		for i := range seed {
			seed[i] = float32(rng.NormFloat64())
		}
		tp.SetGrad(y, seed)
		tp.Backward()
		// Once the weights have their gradient buffers (pass 2), Backward
		// must leave nothing behind: intermediate gradients and kernel
		// temporaries are freed as it goes.
		if st := mc; st != nil && pass == 1 {
			if got := st.Stats(); got.Live != fwd.Live || got.LiveBytes != fwd.LiveBytes {
				t.Fatalf("after Backward %d tensors / %d B live, after the forward pass %d / %d:\n%q",
					got.Live, got.LiveBytes, fwd.Live, fwd.LiveBytes, st.LiveSites())
			}
		}
		out = dev.Download(y.Val) // values outlive Backward
		tp.Reset()
	}
	for _, w := range append(ws, x) {
		grads = append(grads, dev.Download(w.Grad))
	}
	return grads, out, tp
}

// Through the checker, the tape must free everything it made and nothing
// else, without misuse, and the gradients must be bit-identical to an
// unchecked run: a buffer freed too early would be poisoned to NaN.
func TestTapeFreesWhatItOwns(t *testing.T) {
	want, wantOut, _ := runBlock(t, cpu.New())
	mc := memcheck.Wrap(cpu.New())
	got, gotOut, tp := runBlock(t, mc)
	for i := range want {
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Fatalf("weight %d grad[%d] = %v through memcheck, %v without", i, j, got[i][j], want[i][j])
			}
		}
	}
	for j := range wantOut {
		if math.Float32bits(gotOut[j]) != math.Float32bits(wantOut[j]) {
			t.Fatalf("output[%d] = %v through memcheck, %v without", j, gotOut[j], wantOut[j])
		}
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
	if n := tp.Owned(); n != 0 {
		t.Fatalf("tape still owns %d tensors after Reset", n)
	}
	// What is left: 8 weights and their 8 gradients, caller-owned.
	if st := mc.Stats(); st.Live != 16 {
		t.Fatalf("%d tensors live after Reset, want 16 (8 weights + 8 gradients):\n%q", st.Live, mc.LiveSites())
	}
}

func TestUseAfterResetIsPoisoned(t *testing.T) {
	mc := memcheck.Wrap(cpu.New())
	tp := NewTape(mc)
	w := Trainable(mc.Upload([]float32{1, 2, 3, 4}, tensor.F32, 2, 2))
	x := Const(mc.Upload([]float32{1, 1}, tensor.F32, 1, 2))
	y := tp.Linear(x, w, nil)
	view := tp.Reshape(y, 2)
	if !mc.AllFinite(view.Val) {
		t.Fatal("fresh value not finite")
	}
	tp.Reset()
	if mc.AllFinite(y.Val) || mc.AllFinite(view.Val) {
		t.Fatal("a Var read after Reset is still finite: the tape did not free it")
	}
	if !mc.AllFinite(w.Val) || !mc.AllFinite(x.Val) {
		t.Fatal("Reset freed a tensor the caller passed in")
	}
}

func TestDetach(t *testing.T) {
	mc := memcheck.Wrap(cpu.New())
	tp := NewTape(mc)
	tp.NoGrad = true
	w := Trainable(mc.Upload([]float32{1, 2, 3, 4}, tensor.F32, 2, 2))
	x := Const(mc.Upload([]float32{1, 1}, tensor.F32, 1, 2))
	y := tp.Linear(x, w, nil)
	for name, v := range map[string]*Var{"view": tp.Reshape(y, 2), "param": w, "other tape": NewTape(mc).Linear(x, w, nil)} {
		if _, err := tp.Detach(v); err == nil {
			t.Errorf("Detach of a %s: no error", name)
		}
	}
	out, err := tp.Detach(y)
	if err != nil {
		t.Fatal(err)
	}
	tp.Reset()
	if got := mc.Download(out); got[0] != 3 || got[1] != 7 {
		t.Fatalf("detached value %v after Reset, want [3 7]", got)
	}
	mc.Free(out)
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
}
