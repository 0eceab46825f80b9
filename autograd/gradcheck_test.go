package autograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/tensor"
)

// The gradient checks run every op in float64 on the CPU backend and compare
// the backward kernels with central finite differences of the scalar
// L = Σ_k <r_k, out_k> for fixed random r_k. With h = 1e-6 the truncation
// error is O(h²)≈1e-12 and rounding O(eps/h)≈1e-10, so a tolerance of 1e-6
// (relative to max(1, |g|)) only passes for a correct backward pass.
const (
	fdStep = 1e-6
	fdTol  = 1e-6
)

var dev = cpu.New()

func randVar(rng *rand.Rand, scale float64, shape ...int) *Var {
	vals := make([]float32, tensor.Numel(shape))
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * scale)
	}
	return Trainable(dev.Upload(vals, tensor.F64, shape...))
}

// gradCheck compares analytic and numeric gradients of every input.
func gradCheck(t *testing.T, inputs []*Var, f func(tp *Tape) []*Var) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 9))
	tp := NewTape(dev)
	tp.DType = tensor.F64
	outs := f(tp)
	seeds := make([][]float32, len(outs))
	for k, o := range outs {
		seeds[k] = make([]float32, o.Val.Numel())
		for i := range seeds[k] {
			seeds[k][i] = float32(rng.NormFloat64())
		}
		tp.SetGrad(o, seeds[k])
	}
	tp.Backward()
	loss := func() float64 {
		tp := NewTape(dev)
		tp.DType = tensor.F64
		tp.NoGrad = true
		var l float64
		for k, o := range f(tp) {
			for i, v := range o.Val.Buf.([]float64) {
				l += float64(seeds[k][i]) * v
			}
		}
		return l
	}
	for n, in := range inputs {
		if in.Grad == nil {
			t.Fatalf("input %d got no gradient", n)
		}
		vals := in.Val.Buf.([]float64)
		grad := in.Grad.Buf.([]float64)
		for i := range vals {
			orig := vals[i]
			vals[i] = orig + fdStep
			lp := loss()
			vals[i] = orig - fdStep
			lm := loss()
			vals[i] = orig
			num := (lp - lm) / (2 * fdStep)
			if d := math.Abs(num - grad[i]); d > fdTol*math.Max(1, math.Abs(num)) {
				t.Fatalf("input %d%v element %d: analytic %.10g, numeric %.10g (diff %.3g)", n, in.Val.Shape, i, grad[i], num, d)
			}
		}
	}
}

func TestGradEmbedding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	table := randVar(rng, 1, 7, 5)
	ids := dev.UploadInt32([]int32{3, 0, 3, 6, 1}, 5) // repeated id: gradients add
	gradCheck(t, []*Var{table}, func(tp *Tape) []*Var { return []*Var{tp.Embedding(table, ids)} })
}

func TestGradLinear(t *testing.T) {
	for _, bias := range []bool{false, true} {
		t.Run(fmt.Sprint("bias=", bias), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, 2))
			x := randVar(rng, 1, 2, 3, 4) // (B,T,In)
			w := randVar(rng, 1, 5, 4)    // (Out,In)
			var b *Var
			in := []*Var{x, w}
			if bias {
				b = randVar(rng, 1, 5)
				in = append(in, b)
			}
			gradCheck(t, in, func(tp *Tape) []*Var { return []*Var{tp.Linear(x, w, b)} })
		})
	}
}

func TestGradRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := randVar(rng, 1, 6, 8)
	w := randVar(rng, 1, 8)
	gradCheck(t, []*Var{x, w}, func(tp *Tape) []*Var { return []*Var{tp.RMSNorm(x, w, 1e-6)} })
}

func TestGradRoPE(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	x := randVar(rng, 1, 2, 3, 2, 6) // (B,T,H,D)
	cosv, sinv := make([]float32, 5*3), make([]float32, 5*3)
	for p := 0; p < 5; p++ {
		for i := 0; i < 3; i++ {
			a := float64(p) * math.Pow(10000, -float64(2*i)/6)
			cosv[p*3+i], sinv[p*3+i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
	}
	cos, sin := dev.Upload(cosv, tensor.F64, 5, 3), dev.Upload(sinv, tensor.F64, 5, 3)
	pos := dev.UploadInt32([]int32{0, 1, 2, 0, 0, 4}, 2, 3)
	gradCheck(t, []*Var{x}, func(tp *Tape) []*Var { return []*Var{tp.RoPE(x, cos, sin, pos)} })
}

func TestGradAttention(t *testing.T) {
	cases := []struct {
		name     string
		hq, hkv  int
		mask     []int32
		scaleMul float64
	}{
		{"MHA", 2, 2, nil, 1},
		{"GQA", 4, 2, nil, 1},
		{"GQA left-padded", 4, 1, []int32{1, 1, 1, 1, 0, 0, 1, 1}, 1},
		{"MQA padded sharp", 2, 1, []int32{0, 1, 1, 1, 0, 1, 1, 1}, 3},
		// Segment ids: two packed samples per row, right padding.
		{"GQA packed segments", 4, 2, []int32{1, 1, 2, 2, 1, 2, 2, 0}, 1},
		// A shared prefix (−1) seen by the samples after it.
		{"GQA shared prefix", 4, 2, []int32{-1, 1, 1, 2, -1, -1, 1, 2}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 5))
			const b, tt, d = 2, 4, 3
			q := randVar(rng, 1, b, tt, c.hq, d)
			k := randVar(rng, 1, b, tt, c.hkv, d)
			v := randVar(rng, 1, b, tt, c.hkv, d)
			var mask *tensor.Tensor
			if c.mask != nil {
				mask = dev.UploadInt32(c.mask, b, tt)
			}
			scale := float32(c.scaleMul / math.Sqrt(d))
			gradCheck(t, []*Var{q, k, v}, func(tp *Tape) []*Var { return []*Var{tp.Attention(q, k, v, mask, scale)} })
		})
	}
}

func TestGradSwiGLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	g := randVar(rng, 2, 3, 7)
	u := randVar(rng, 1, 3, 7)
	gradCheck(t, []*Var{g, u}, func(tp *Tape) []*Var { return []*Var{tp.SwiGLU(g, u)} })
}

func TestGradAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	a := randVar(rng, 1, 3, 4)
	b := randVar(rng, 1, 3, 4)
	gradCheck(t, []*Var{a, b}, func(tp *Tape) []*Var { return []*Var{tp.Add(a, b), tp.Add(a, a)} })
}

func TestGradTokenLogProbs(t *testing.T) {
	// chunkElems = 2·V forces several chunks (and a ragged last one).
	for _, chunk := range []int{0, 2 * 11} {
		t.Run(fmt.Sprint("chunk=", chunk), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 9))
			h := randVar(rng, 1, 5, 4)  // (N,C)
			w := randVar(rng, 1, 11, 4) // (V,C)
			target := dev.UploadInt32([]int32{3, -1, 10, 0, 3}, 5)
			gradCheck(t, []*Var{h, w}, func(tp *Tape) []*Var {
				lp, ent := tp.TokenLogProbs(h, w, target, chunk)
				return []*Var{lp, ent}
			})
		})
	}
}

func TestTokenLogProbsValues(t *testing.T) {
	// logp must equal log_softmax(h·wᵀ)[target] computed directly.
	rng := rand.New(rand.NewPCG(10, 10))
	h := randVar(rng, 1, 3, 4)
	w := randVar(rng, 1, 6, 4)
	target := []int32{5, 0, 2}
	tp := NewTape(dev)
	tp.DType = tensor.F64
	lp, ent := tp.TokenLogProbs(h, w, dev.UploadInt32(target, 3), 6)
	hs, ws := h.Val.Buf.([]float64), w.Val.Buf.([]float64)
	for n := 0; n < 3; n++ {
		z := make([]float64, 6)
		var m float64 = math.Inf(-1)
		for v := range z {
			for c := 0; c < 4; c++ {
				z[v] += hs[n*4+c] * ws[v*4+c]
			}
			m = math.Max(m, z[v])
		}
		var s float64
		for _, x := range z {
			s += math.Exp(x - m)
		}
		lse := m + math.Log(s)
		var hEnt float64
		for _, x := range z {
			p := math.Exp(x - lse)
			hEnt -= p * (x - lse)
		}
		if got, want := lp.Val.Buf.([]float64)[n], z[target[n]]-lse; math.Abs(got-want) > 1e-12 {
			t.Errorf("row %d logp %v want %v", n, got, want)
		}
		if got := ent.Val.Buf.([]float64)[n]; math.Abs(got-hEnt) > 1e-12 {
			t.Errorf("row %d entropy %v want %v", n, got, hEnt)
		}
	}
}

func TestGradComposedBlock(t *testing.T) {
	// A whole pre-norm attention + MLP block with shared weights: checks
	// that accumulation through reshapes, residuals and reuse is right.
	rng := rand.New(rand.NewPCG(11, 11))
	const b, tt, c, hq, hkv, d = 1, 3, 4, 2, 1, 2
	x := randVar(rng, 1, b, tt, c)
	wn := randVar(rng, 1, c)
	wq := randVar(rng, 0.5, hq*d, c)
	wk := randVar(rng, 0.5, hkv*d, c)
	bq := randVar(rng, 0.5, hq*d)
	wo := randVar(rng, 0.5, c, hq*d)
	gate := randVar(rng, 0.5, 6, c)
	down := randVar(rng, 0.5, c, 6)
	mask := dev.UploadInt32([]int32{0, 1, 1}, b, tt)
	gradCheck(t, []*Var{x, wn, wq, wk, bq, wo, gate, down}, func(tp *Tape) []*Var {
		hn := tp.RMSNorm(x, wn, 1e-6)
		q := tp.Reshape(tp.Linear(hn, wq, bq), b, tt, hq, d)
		k := tp.Reshape(tp.Linear(hn, wk, nil), b, tt, hkv, d)
		a := tp.Reshape(tp.Attention(q, k, k, mask, 0.7), b, tt, hq*d)
		x2 := tp.Add(x, tp.Linear(a, wo, nil))
		h2 := tp.RMSNorm(x2, wn, 1e-6) // shared norm weight
		m := tp.SwiGLU(tp.Linear(h2, gate, nil), tp.Linear(h2, gate, nil))
		return []*Var{tp.Add(x2, tp.Linear(m, down, nil))}
	})
}

func TestGradGatherScatterRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	x := randVar(rng, 1, 5, 3)
	idx := dev.UploadInt32([]int32{4, 0, 2}, 3)
	gradCheck(t, []*Var{x}, func(tp *Tape) []*Var {
		g := tp.GatherRows(x, idx) // (3,3)
		return []*Var{g, tp.ScatterRows(tp.SwiGLU(g, g), idx, 6)}
	})
}

// LoRALinear: every input's gradient, with the adapter seeing x itself
// (the two gradient paths into x add up) and a dropped-out copy of it.
func TestGradLoRALinear(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bias, dropout bool
	}{{"plain", false, false}, {"bias", true, false}, {"dropout", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, 22))
			x := randVar(rng, 1, 2, 3, 6) // (B,T,In)
			w := randVar(rng, 1, 5, 6)    // (Out,In)
			a := randVar(rng, 1, 3, 6)    // (r,In)
			b := randVar(rng, 1, 5, 3)    // (Out,r)
			in := []*Var{x, w, a, b}
			var bias *Var
			if tc.bias {
				bias = randVar(rng, 1, 5)
				in = append(in, bias)
			}
			var mask *tensor.Tensor
			if tc.dropout {
				m := make([]float32, 2*3*6)
				for i := range m {
					if rng.IntN(3) > 0 {
						m[i] = 1.5 // 1/(1−p) for p = 1/3
					}
				}
				mask = dev.Upload(m, tensor.F64, 2, 3, 6)
			}
			gradCheck(t, in, func(tp *Tape) []*Var {
				xd := x
				if mask != nil {
					xd = tp.MulConst(x, mask)
				}
				return []*Var{tp.LoRALinear(x, w, bias, xd, a, b, 0.75)}
			})
		})
	}
}

// A frozen base (W and bias without RequiresGrad) gets no gradient buffer:
// the memory LoRA saves.
func TestLoRALinearFrozenBase(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	x := randVar(rng, 1, 4, 6)
	x.RequiresGrad = false
	w, bias := randVar(rng, 1, 5, 6), randVar(rng, 1, 5)
	w.RequiresGrad, bias.RequiresGrad = false, false
	a, b := randVar(rng, 1, 2, 6), randVar(rng, 1, 5, 2)
	tp := NewTape(dev)
	tp.DType = tensor.F64
	y := tp.LoRALinear(x, w, bias, x, a, b, 2)
	tp.SetGrad(y, make([]float32, y.Val.Numel()))
	tp.Backward()
	if w.Grad != nil || bias.Grad != nil || x.Grad != nil {
		t.Fatalf("frozen inputs got gradient buffers: W %v bias %v x %v", w.Grad != nil, bias.Grad != nil, x.Grad != nil)
	}
	if a.Grad == nil || b.Grad == nil {
		t.Fatalf("adapter got no gradient: A %v B %v", a.Grad != nil, b.Grad != nil)
	}
	tp.Reset()
}
