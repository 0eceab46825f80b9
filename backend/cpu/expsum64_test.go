package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpSum64IsTheScalarLoop checks ExpSum64 and Div64 against the loops
// they replace, bit for bit, at every SIMD level: logit rows of several
// spreads (one reaching the subnormal results and the underflow to 0),
// rows holding −Inf, +Inf and NaN, lengths that leave a tail, and the
// temperatures sampling uses.
func TestExpSum64IsTheScalarLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	row := func(n int, scale float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	type tc struct {
		name string
		x    []float32
	}
	cases := []tc{
		{"small", row(37, 3)},
		{"vocab", row(32000, 4)},
		{"wide", row(1003, 200)},  // e^x down to subnormals and 0
		{"huge", row(515, 1e30)},  // x/t − m overflows the exponent range both ways
		{"tiny", row(261, 1e-30)}, // every e^x rounds to 1
		{"short", row(3, 1)},
	}
	special := row(300, 2)
	special[5], special[77], special[200] = float32(math.Inf(-1)), float32(math.NaN()), float32(math.Inf(1))
	cases = append(cases, tc{"special", special})
	negInf := row(64, 2)
	for i := range negInf {
		if i%3 != 0 {
			negInf[i] = float32(math.Inf(-1))
		}
	}
	cases = append(cases, tc{"masked", negInf})
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	}
	forEachLevel(t, func(t *testing.T) {
		for _, c := range cases {
			for _, temp := range []float64{1, 0.6, 0.7, 1.3} {
				m := math.Inf(-1)
				for _, x := range c.x {
					if v := float64(x) / temp; v > m && !math.IsInf(v, 1) {
						m = v
					}
				}
				want := make([]float64, len(c.x))
				var wantSum float64
				for i, x := range c.x {
					e := math.Exp(float64(x)/temp - m)
					want[i] = e
					wantSum += e
				}
				got := make([]float64, len(c.x)+5) // longer than src: only len(src) is written
				for i := range got {
					got[i] = -7
				}
				sum := ExpSum64(got, c.x, temp, m)
				if !same(sum, wantSum) {
					t.Fatalf("%s T=%g: sum %v (%#x), want %v (%#x)", c.name, temp, sum, math.Float64bits(sum), wantSum, math.Float64bits(wantSum))
				}
				for i := range want {
					if !same(got[i], want[i]) {
						t.Fatalf("%s T=%g: e[%d] = %v (%#x), want %v (%#x) for x=%v", c.name, temp, i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]), c.x[i])
					}
				}
				for _, v := range got[len(c.x):] {
					if v != -7 {
						t.Fatalf("%s: wrote past len(src)", c.name)
					}
				}
				div := append([]float64(nil), want...)
				Div64(div, sum)
				for i := range want {
					if q := want[i] / sum; !same(div[i], q) {
						t.Fatalf("%s: Div64[%d] = %v, want %v", c.name, i, div[i], q)
					}
				}
			}
		}
	})
}
