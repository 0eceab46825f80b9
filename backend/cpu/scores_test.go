package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// scoreRows is bit for bit scale·dotScore for every key and head at every
// SIMD level — the kernels' chunks, the Go remainder and head sizes the
// kernels leave to Go alike — so decoding samples the same tokens on every
// machine; it writes nothing else of dst. Values span seven orders of
// magnitude, scales round (1/sqrt(3), 1/sqrt(80)) or not (1, 0.125).
func TestScoreRowsMatchDotScore(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(41, 42))
		value := func() float32 { return float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))) }
		scales := []float32{1, 0.125, float32(1 / math.Sqrt(3)), float32(1 / math.Sqrt(80))}
		for _, d := range []int{16, 32, 64, 128, 20, 8, 1} {
			for _, heads := range []int{1, 2, 3} {
				for _, keys := range []int{1, 3, 4, 7, 8, 9, 12, 16, 17, 23} {
					ldk, ldd := d+rng.IntN(3)*16, keys+rng.IntN(5)
					q, k := make([]float32, heads*d), make([]float32, (keys-1)*ldk+d)
					for i := range q {
						q[i] = value()
					}
					for i := range k {
						k[i] = value()
					}
					scale := scales[rng.IntN(len(scales))]
					const sentinel = 42
					dst := make([]float32, heads*ldd)
					for i := range dst {
						dst[i] = sentinel
					}
					scoreRows(q, heads, d, k, ldk, keys, scale, dst, ldd)
					for h := 0; h < heads; h++ {
						for r := 0; r < ldd; r++ {
							got := dst[h*ldd+r]
							want := float32(sentinel)
							if r < keys {
								want = scale * dotScore(q[h*d:][:d], k[r*ldk:][:d])
							}
							if math.Float32bits(got) != math.Float32bits(want) {
								t.Fatalf("d=%d heads=%d keys=%d scale=%v: head %d key %d: %v (%#x), want %v (%#x)",
									d, heads, keys, scale, h, r, got, math.Float32bits(got), want, math.Float32bits(want))
							}
						}
					}
				}
			}
		}
	})
}

// dotScore sums in its documented order: against a float64 dot within
// float32 rounding (2e-6 relative to Σ|a·b|, 64 terms), and exactly on a
// case where the order shows (float32 spacing 8 at 1e8).
func TestDotScoreOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	a, b := make([]float32, 64), make([]float32, 64)
	var exact, mag float64
	for i := range a {
		a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		exact += float64(a[i]) * float64(b[i])
		mag += math.Abs(float64(a[i]) * float64(b[i]))
	}
	if got := float64(dotScore(a, b)); math.Abs(got-exact) > 2e-6*mag {
		t.Fatalf("dotScore %v, float64 dot %v", got, exact)
	}
	a, b = make([]float32, 32), make([]float32, 32)
	for i := range a {
		a[i], b[i] = 1, 1
	}
	a[0] = 1e8
	// Lane 0: 1e8 + 1 = 1e8; lanes 1–15: 2 each. Halving: lane 0 takes
	// 2 (absorbed), then 4 (a tie, to even: absorbed), then 8 and 16:
	// 1e8 + 24. In element order every 1 would be absorbed (1e8); the
	// exact sum is 1e8 + 31.
	want := float32(1e8) + 24
	if got := dotScore(a, b); got != want {
		t.Fatalf("dotScore = %v, want %v", got, want)
	}
}
