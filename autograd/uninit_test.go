package autograd

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/tensor"
)

// Linear and LoRALinear write their outputs whole: on storage the backend
// hands back uncleared (tensor.UninitAllocator) full of NaNs from a freed
// tensor, they give the bits of a backend that clears.
func TestLinearOverUninitStorage(t *testing.T) {
	const n, in, out, r = 40, 256, 300, 4 // the output, 12,000 floats, is pooled uncleared
	dev := cpu.New()
	rng := rand.New(rand.NewPCG(5, 6))
	up := func(shape ...int) *tensor.Tensor {
		vals := make([]float32, tensor.Numel(shape))
		for i := range vals {
			vals[i] = float32(rng.NormFloat64())
		}
		return dev.Upload(vals, tensor.F32, shape...)
	}
	x, w, bias, a, b := up(n, in), up(out, in), up(out), up(r, in), up(out, r)
	run := func(tp *Tape) (lin, lora []float32) {
		xv := &Var{Val: x}
		y := tp.Linear(xv, &Var{Val: w}, &Var{Val: bias})
		z := tp.LoRALinear(xv, &Var{Val: w}, nil, xv, &Var{Val: a}, &Var{Val: b}, 0.5)
		return dev.Download(y.Val), dev.Download(z.Val)
	}
	wantLin, wantLoRA := run(NewTape(clearing{dev}))
	for range 3 { // poison the pool's buffers of the outputs' class
		p := dev.NewUninit(tensor.F32, n, out)
		for i := range p.Buf.([]float32) {
			p.Buf.([]float32)[i] = float32(math.NaN())
		}
		dev.Free(p)
	}
	gotLin, gotLoRA := run(NewTape(dev))
	for i := range wantLin {
		if math.Float32bits(gotLin[i]) != math.Float32bits(wantLin[i]) || math.Float32bits(gotLoRA[i]) != math.Float32bits(wantLoRA[i]) {
			t.Fatalf("[%d]: Linear %v LoRALinear %v over uncleared storage, %v %v over cleared", i, gotLin[i], gotLoRA[i], wantLin[i], wantLoRA[i])
		}
	}
}

// clearing hides the CPU backend's NewUninit: every allocation is New's.
type clearing struct{ tensor.Backend }
