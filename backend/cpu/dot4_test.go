package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dot4 is bit for bit four calls of dot, dot8 and dot8x2 (the assembly on
// amd64) eight and sixteen of scale*dot (dot8x2: a second query, a
// reversed, over the same eight rows): the paged attention scores, and so
// sampled tokens and their log-probs, must not change with them. At every
// SIMD level (dot8 uses the AVX kernel on both vector levels), rows of
// several lengths and strides, values over seven orders of magnitude,
// scales that round (1/sqrt(head_dim) for 3 and 80) and that do not.
func TestDotRowsMatchDot(t *testing.T) {
	for _, c := range []struct {
		name string
		rows int
		fn   func(a, b []float32, ldb int, scale float32, out []float32) bool // false: unscaled
	}{
		{"dot4", 4, func(a, b []float32, ldb int, _ float32, out []float32) bool {
			dot4(a, b, ldb, (*[4]float32)(out))
			return false
		}},
		{"dot8", 8, func(a, b []float32, ldb int, scale float32, out []float32) bool {
			dot8(a, b, ldb, scale, (*[8]float32)(out))
			return true
		}},
		{"dot8x2", 16, func(a, b []float32, ldb int, scale float32, out []float32) bool {
			dot8x2(a, reversed(a), b, ldb, scale, (*[8]float32)(out[:8]), (*[8]float32)(out[8:]))
			return true
		}},
	} {
		forEachLevel(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(31, 32))
			value := func() float32 { return float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))) }
			scales := []float32{1, 0.125, float32(1 / math.Sqrt(3)), float32(1 / math.Sqrt(80))}
			for _, n := range []int{4, 8, 12, 32, 64, 128, 256, 5, 1} {
				for _, ldb := range []int{n, n + 3, 4 * n} {
					for trial := 0; trial < 30; trial++ {
						keys := min(c.rows, 8)
						a, b := make([]float32, n), make([]float32, (keys-1)*ldb+n)
						for i := range a {
							a[i] = value()
						}
						for i := range b {
							b[i] = value()
						}
						scale := scales[trial%len(scales)]
						got := make([]float32, c.rows)
						if !c.fn(a, b, ldb, scale, got) {
							scale = 1
						}
						for r := range got {
							q := a
							if r >= 8 {
								q = reversed(a)
							}
							if want := scale * dot(q, b[r%8*ldb:][:n]); math.Float32bits(got[r]) != math.Float32bits(want) {
								t.Fatalf("%s n=%d ldb=%d scale=%v row %d: %v (%#x), want %v (%#x)", c.name, n, ldb, scale, r, got[r], math.Float32bits(got[r]), want, math.Float32bits(want))
							}
						}
					}
				}
			}
		})
	}
}

func reversed(a []float32) []float32 {
	r := make([]float32, len(a))
	for i, v := range a {
		r[len(a)-1-i] = v
	}
	return r
}

func BenchmarkDot4(b *testing.B) {
	const n, ldb = 64, 256
	x, y := make([]float32, n), make([]float32, 4*ldb)
	var out [4]float32
	b.Run("dot4", func(b *testing.B) {
		for b.Loop() {
			dot4(x, y, ldb, &out)
		}
	})
	b.Run("dot8/2", func(b *testing.B) { // eight rows, half the work counted
		y8 := make([]float32, 8*ldb)
		var out8 [8]float32
		for b.Loop() {
			dot8(x, y8, ldb, 1, &out8)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/4rows")
	})
	b.Run("4xdot", func(b *testing.B) {
		for b.Loop() {
			dot4Go(x, y, ldb, &out)
		}
	})
}
