package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int, sd float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * sd)
	}
	return v
}

// closeF32 reports whether got is within rel·scale of want, scale being
// the magnitude the result was computed from (rounding is relative to it).
func closeF32(got, want float32, rel, scale float64) bool {
	return math.Abs(float64(got)-float64(want)) <= rel*scale
}

// The elementwise assembly keeps the Go loops' operation order, so it must
// agree with them to within an ulp or two (exactly, unless the compiler
// fuses the Go multiply-adds).
func TestRowKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths {
			x, w, dy := randSlice(rng, n, 1), randSlice(rng, n, 1), randSlice(rng, n, 1)
			r, dot := float32(0.7), float32(-0.3)

			got, want := make([]float32, n), make([]float32, n)
			mulScaleF32(got, x, w, r)
			mulScaleGo(want, x, w, r)
			for i := range got {
				if !closeF32(got[i], want[i], 2.5e-7, math.Abs(float64(want[i]))) {
					t.Fatalf("mulScale n=%d [%d]: %v, want %v", n, i, got[i], want[i])
				}
			}
			rmsBwdDxF32(got, dy, x, w, r, dot)
			rmsBwdDxGo(want, dy, x, w, r, dot)
			for i := range got {
				sc := math.Abs(float64(r)) * (math.Abs(float64(dy[i]*w[i])) + math.Abs(float64(x[i]*r*dot)))
				if !closeF32(got[i], want[i], 4e-7, sc) {
					t.Fatalf("rmsBwdDx n=%d [%d]: %v, want %v", n, i, got[i], want[i])
				}
			}
			p := randSlice(rng, n, 1)
			copy(got, dy)
			copy(want, dy)
			dsRowF32(got, p, 0.25, 0.125)
			dsRowGo(want, p, 0.25, 0.125)
			for i := range got {
				if !closeF32(got[i], want[i], 2.5e-7, math.Abs(float64(want[i]))) {
					t.Fatalf("dsRow n=%d [%d]: %v, want %v", n, i, got[i], want[i])
				}
			}

			var abs float64
			for i := range x {
				abs += float64(x[i]) * float64(x[i])
			}
			if s := sumSqF32(x); !closeF32(s, float32(abs), 1e-6, abs) {
				t.Fatalf("sumSq n=%d: %v, want %v", n, s, abs)
			}
			acc0 := randSlice(rng, n, 1)
			accG, accW := append([]float32(nil), acc0...), append([]float32(nil), acc0...)
			dg := rmsBwdDotF32(accG, dy, x, w, r)
			dw := rmsBwdDotGo(accW, dy, x, w, r)
			abs = 0
			for i := range x {
				abs += math.Abs(float64(dy[i] * w[i] * x[i] * r))
			}
			if !closeF32(dg, dw, 1e-6, abs) {
				t.Fatalf("rmsBwdDot n=%d: %v, want %v", n, dg, dw)
			}
			for i := range accG {
				if !closeF32(accG[i], accW[i], 2.5e-7, math.Abs(float64(acc0[i]))+math.Abs(float64(dy[i]*x[i]*r))) {
					t.Fatalf("rmsBwdDot acc n=%d [%d]: %v, want %v", n, i, accG[i], accW[i])
				}
			}

			// scale, axpy, add (axpy fuses its multiply-add: half an ulp
			// more freedom).
			copy(got, x)
			copy(want, x)
			scaleF32(got, -1.5)
			scaleGo(want, -1.5)
			axpyF32(got, 0.3, w)
			axpyGo(want, 0.3, w)
			addF32(got, got, dy)
			addGo(want, want, dy)
			for i := range got {
				sc := math.Abs(float64(1.5*x[i])) + math.Abs(float64(0.3*w[i])) + math.Abs(float64(dy[i]))
				if !closeF32(got[i], want[i], 3e-7, sc) {
					t.Fatalf("scale/axpy/add n=%d [%d]: %v, want %v", n, i, got[i], want[i])
				}
			}
		}
	})
}

// AdamW against a float64 evaluation of the same update.
func TestAdamWF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	c := &adamConsts{beta1: 0.9, omb1: 0.1, beta2: 0.95, omb2: 1 - float32(0.95), sqrtBC2: 0.3, eps: 1e-8, decay: 1 - 3e-5, stepSize: 3e-3}
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths {
			p, g := randSlice(rng, n, 1), randSlice(rng, n, 0.01)
			m, v := randSlice(rng, n, 0.01), randSlice(rng, n, 1e-4)
			for i := range v {
				v[i] = v[i] * v[i]
			}
			if n > 0 {
				g[0] = 0 // zero gradient and moments: denominator is eps
				m[0], v[0] = 0, 0
			}
			p0, m0, v0 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adamwF32(p, g, m, v, c)
			for i := range p {
				gi := float64(g[i])
				wm := float64(c.beta1)*float64(m0[i]) + float64(c.omb1)*gi
				wv := float64(c.beta2)*float64(v0[i]) + float64(c.omb2)*gi*gi
				upd := float64(c.stepSize) * wm / (math.Sqrt(wv)/float64(c.sqrtBC2) + float64(c.eps))
				wp := float64(p0[i])*float64(c.decay) - upd
				msc := math.Abs(float64(c.beta1)*float64(m0[i])) + math.Abs(float64(c.omb1)*gi)
				if !closeF32(m[i], float32(wm), 3e-7, msc) || !closeF32(v[i], float32(wv), 3e-7, math.Abs(wv)) {
					t.Fatalf("n=%d [%d]: m, v = %v, %v, want %v, %v", n, i, m[i], v[i], wm, wv)
				}
				if !closeF32(p[i], float32(wp), 1, 2e-6*math.Abs(upd)+1.2e-7*math.Abs(wp)) {
					t.Fatalf("n=%d [%d]: p = %v, want %v", n, i, p[i], wp)
				}
			}
		}
	})
}
