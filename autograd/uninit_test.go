package autograd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/tensor"
)

// The ops that take uncleared storage for their outputs (newOutVar) write
// them whole: on storage the backend hands back full of NaNs from freed
// tensors (tensor.UninitAllocator), they give the bits of a backend that
// clears. Every output here is large enough to be pooled (32 KiB and up),
// at 1,100 rows (the blocked products) and at 40 (a decode step's few rows:
// the small-m products, 40–48 KB outputs).
func TestOutputsOverUninitStorage(t *testing.T) {
	for _, n := range []int{1100, 40} {
		outputsOverUninitStorage(t, n)
	}
}

func outputsOverUninitStorage(t *testing.T, n int) {
	const in, out, r, heads, d = 256, 300, 4, 4, 64
	dev := cpu.New()
	rng := rand.New(rand.NewPCG(5, 6))
	up := func(shape ...int) *tensor.Tensor {
		vals := make([]float32, tensor.Numel(shape))
		for i := range vals {
			vals[i] = float32(rng.NormFloat64())
		}
		return dev.Upload(vals, tensor.F32, shape...)
	}
	x, w, bias, a, b, x2, nw, mask := up(n, in), up(out, in), up(out), up(r, in), up(out, r), up(n, in), up(in), up(n, in)
	xr, cos, sin := up(1, n, heads, d), up(n, d/2), up(n, d/2)
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(i)
	}
	ps := dev.UploadInt32(pos, 1, n)
	run := func(tp *Tape) [][]float32 {
		xv := &Var{Val: x}
		outs := []*Var{
			tp.Linear(xv, &Var{Val: w}, &Var{Val: bias}),
			tp.LoRALinear(xv, &Var{Val: w}, nil, xv, &Var{Val: a}, &Var{Val: b}, 0.5),
			tp.RMSNorm(xv, &Var{Val: nw}, 1e-6),
			tp.RoPE(&Var{Val: xr}, cos, sin, ps),
			tp.SwiGLU(xv, &Var{Val: x2}),
			tp.Add(xv, &Var{Val: x2}),
			tp.MulConst(xv, mask),
		}
		var vals [][]float32
		for _, o := range outs {
			vals = append(vals, dev.Download(o.Val))
		}
		return vals
	}
	want := run(NewTape(clearing{dev}))
	// Poison the pool: buffers of every output's class, all held at once
	// (else each would take the last one freed), filled with NaNs, freed.
	var poison []*tensor.Tensor
	for _, shape := range [][]int{{n, out}, {n, out}, {n, in}, {n, in}, {n, in}, {n, in}, {n, in}, {1, n, heads, d}} {
		p := dev.NewUninit(tensor.F32, shape...)
		for i := range p.Buf.([]float32) {
			p.Buf.([]float32)[i] = float32(math.NaN())
		}
		poison = append(poison, p)
	}
	for _, p := range poison {
		dev.Free(p)
	}
	got := run(NewTape(dev))
	names := []string{"Linear", "LoRALinear", "RMSNorm", "RoPE", "SwiGLU", "Add", "MulConst"}
	for o := range want {
		for i := range want[o] {
			if math.Float32bits(got[o][i]) != math.Float32bits(want[o][i]) {
				t.Fatalf("%d rows, %s [%d]: %v over uncleared storage, %v over cleared", n, names[o], i, got[o][i], want[o][i])
			}
		}
	}
}

// clearing hides the CPU backend's NewUninit: every allocation is New's.
type clearing struct{ tensor.Backend }
