package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// simdLevels lists the vector-math levels this machine can run, the
// pure-Go one first.
func simdLevels() []int {
	var ls []int
	for l := simdGo; l <= simd; l++ {
		ls = append(ls, l)
	}
	return ls
}

// forEachLevel runs fn once per level with simd set to it.
func forEachLevel(t *testing.T, fn func(t *testing.T)) {
	saved := simd
	defer func() { simd = saved }()
	for _, l := range simdLevels() {
		simd = l
		t.Run(fmt.Sprintf("simd%d", l), fn)
	}
}

// vmathLengths exercise the 8/16/32-wide bodies and every tail shape.
var vmathLengths = []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 100, 1000}

// checkExp compares e^x in float32 with math.Exp: relative 4e-7 (about 3
// ulp) for normal results, absolute 1e-44 (a few subnormal steps) below
// them, and exact +Inf, 0 and NaN.
func checkExp(x, got float32) error {
	want := math.Exp(float64(x))
	switch {
	case x != x:
		if got == got {
			return fmt.Errorf("exp(NaN) = %v, want NaN", got)
		}
		return nil
	case want > math.MaxFloat32:
		if !math.IsInf(float64(got), 1) {
			return fmt.Errorf("exp(%v) = %v, want +Inf", x, got)
		}
		return nil
	case want < 0x1p-126: // subnormal results
		if math.Abs(float64(got)-want) > 1e-44 {
			return fmt.Errorf("exp(%v) = %v, want %v", x, got, want)
		}
		return nil
	}
	if r := math.Abs(float64(got)-want) / want; r > 4e-7 {
		return fmt.Errorf("exp(%v) = %v, want %v (relative error %.3g)", x, got, want, r)
	}
	return nil
}

func TestExpSubSumRange(t *testing.T) {
	var xs []float32
	for x := float32(-110); x < 95; x += 0.00731 {
		xs = append(xs, x)
	}
	inf := float32(math.Inf(1))
	special := []float32{0, -0.0, 1, -1, 88.72, 88.7228, 88.7229, 89, 1e30, inf, -inf, float32(math.NaN()),
		-87.33, -87.34, -103.27, -103.28, -103.9, -104, -1e30, 1e-30, -1e-30, 0.3465, -0.3466}
	xs = append(xs, special...)
	forEachLevel(t, func(t *testing.T) {
		dst := make([]float32, len(xs))
		s := expSubSum(dst, xs, 0)
		for i, x := range xs {
			if err := checkExp(x, dst[i]); err != nil {
				t.Fatal(err)
			}
		}
		if !math.IsNaN(float64(s)) { // the NaN input makes the sum NaN
			t.Fatalf("sum over a row holding NaN = %v, want NaN", s)
		}
	})
}

func TestExpSubSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths {
			for _, m := range []float32{0, 3.5, -2.25} {
				src := make([]float32, n)
				for i := range src {
					src[i] = float32(rng.NormFloat64() * 4)
				}
				if n > 3 {
					src[n/2] = float32(math.Inf(-1)) // a masked score
				}
				dst := make([]float32, n)
				s := expSubSum(dst, src, m)
				var want float64
				for i, x := range src {
					if err := checkExp(x-m, dst[i]); err != nil {
						t.Fatalf("n=%d i=%d: %v", n, i, err)
					}
					want += math.Exp(float64(x - m))
				}
				if math.Abs(float64(s)-want) > 1e-6*want {
					t.Fatalf("n=%d m=%v: sum %v, want %v", n, m, s, want)
				}
			}
		}
	})
}

func TestExpSumDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 3)
			}
			m := float32(2)
			s, sz := expSumDot(src, m)
			var ws, wsz, abs float64
			for _, x := range src {
				d := float64(x - m)
				e := math.Exp(d)
				ws += e
				wsz += e * d
				abs += math.Abs(e * d)
			}
			if math.Abs(float64(s)-ws) > 1e-6*ws || math.Abs(float64(sz)-wsz) > 1e-6*abs {
				t.Fatalf("n=%d: (%v, %v), want (%v, %v)", n, s, sz, ws, wsz)
			}
		}
	})
}

func TestMaxF32(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths[1:] {
			for pos := range min(n, 40) {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(-rng.Float64() * 10)
				}
				x[0] = float32(math.Inf(-1))
				x[pos] = 0.5
				if got := maxF32(x); got != 0.5 {
					t.Fatalf("n=%d, max at %d: got %v", n, pos, got)
				}
			}
		}
	})
}

func TestSwiGLUVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths {
			g, u, d := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range g {
				g[i] = float32(rng.NormFloat64() * 6)
				u[i] = float32(rng.NormFloat64())
				d[i] = float32(rng.NormFloat64())
			}
			if n > 2 {
				g[0], g[1] = -120, 120 // e^−g overflows / vanishes
			}
			o, dg, du := make([]float32, n), make([]float32, n), make([]float32, n)
			swigluF32(o, g, u)
			swigluBackwardF32(dg, du, d, g, u)
			for i := range g {
				gi, ui, di := float64(g[i]), float64(u[i]), float64(d[i])
				sig := 1 / (1 + math.Exp(-gi))
				wo := gi * sig * ui
				wdu := di * gi * sig
				wdg := di * ui * sig * (1 + gi*(1-sig))
				scale := math.Abs(gi*ui) + 1e-30
				if math.Abs(float64(o[i])-wo) > 1e-6*scale {
					t.Fatalf("n=%d: silu(%v)·%v = %v, want %v", n, gi, ui, o[i], wo)
				}
				if math.Abs(float64(du[i])-wdu) > 1e-6*math.Abs(di*gi) {
					t.Fatalf("n=%d: du(g=%v) = %v, want %v", n, gi, du[i], wdu)
				}
				if math.Abs(float64(dg[i])-wdg) > 1e-6*math.Abs(di*ui)*(1+math.Abs(gi)) {
					t.Fatalf("n=%d: dg(g=%v) = %v, want %v", n, gi, dg[i], wdg)
				}
			}
		}
	})
}

func TestLSMBackwardVec(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	forEachLevel(t, func(t *testing.T) {
		for _, n := range vmathLengths {
			for _, c := range []struct{ g, ge float32 }{{1, 0}, {0.5, 0.25}, {0, 0}} {
				row := make([]float32, n)
				for i := range row {
					row[i] = float32(rng.NormFloat64() * 3)
				}
				in := append([]float32(nil), row...)
				l, h := float32(5.5), float32(2.25)
				lsmBackwardF32(row, l, -c.g, -c.ge, h)
				for j, x := range in {
					logp := float64(x - l)
					p := math.Exp(logp)
					want := -float64(c.g)*p - float64(c.ge)*p*(logp+float64(h))
					tol := 1e-6 * p * (float64(c.g) + float64(c.ge)*(math.Abs(logp)+float64(h)))
					if math.Abs(float64(row[j])-want) > tol {
						t.Fatalf("n=%d %+v j=%d: %v, want %v", n, c, j, row[j], want)
					}
				}
			}
		}
	})
}

func BenchmarkExpSlice(b *testing.B) {
	const n = 8192
	src, dst := make([]float32, n), make([]float32, n)
	for i := range src {
		src[i] = float32(i%1000) * -0.013
	}
	saved := simd
	defer func() { simd = saved }()
	for _, l := range simdLevels() {
		simd = l
		b.Run(fmt.Sprintf("simd%d", l), func(b *testing.B) {
			b.SetBytes(4 * n)
			for b.Loop() {
				expSubSum(dst, src, 0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/elem")
		})
	}
}
