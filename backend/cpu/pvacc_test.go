package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pvAcc (and pvAcc2, two heads at once) gives, bit for bit, what one axpyF32 per key gives, at every SIMD
// level, for head sizes on and off the vector widths and any key count.
func TestPVAccMatchesAxpy(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, d := range []int{1, 8, 16, 24, 32, 48, 64, 80, 96, 100, 128, 192, 208, 256} {
			for _, n := range []int{0, 1, 2, 5, 16, 17} {
				stride := 2*d + 3 // rows of other kv heads in between
				v := make([]float32, max(0, (n-1)*stride+d))
				for i := range v {
					v[i] = float32(r.NormFloat64())
				}
				p := make([]float32, n)
				for i := range p {
					p[i] = float32(r.Float64())
				}
				want := make([]float32, d)
				for i := range want {
					want[i] = float32(r.NormFloat64())
				}
				got := append([]float32(nil), want...)
				for j := range p {
					axpyF32(want, p[j], v[j*stride:][:d])
				}
				pvAcc(got, p, v, stride)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("d %d n %d: out[%d] = %v, axpy sequence %v", d, n, i, got[i], want[i])
					}
				}
				// Two heads at once: the second head's weights pstride
				// further on, its output right after the first's.
				const pstride = 19
				p2 := make([]float32, pstride+n)
				for i := range p2 {
					p2[i] = float32(r.Float64())
				}
				want2 := make([]float32, 2*d)
				for i := range want2 {
					want2[i] = float32(r.NormFloat64())
				}
				got2 := append([]float32(nil), want2...)
				for j := 0; j < n; j++ {
					axpyF32(want2[:d], p2[j], v[j*stride:][:d])
					axpyF32(want2[d:], p2[pstride+j], v[j*stride:][:d])
				}
				pvAcc2(got2, p2, pstride, n, v, stride)
				for i := range got2 {
					if math.Float32bits(got2[i]) != math.Float32bits(want2[i]) {
						t.Fatalf("pvAcc2 d %d n %d: out[%d] = %v, axpy sequence %v", d, n, i, got2[i], want2[i])
					}
				}
			}
		}
	})
}

// A value block that does not hold n rows is refused, not read past.
func TestPVAccChecksBounds(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for too short value rows")
		}
	}()
	pvAcc(make([]float32, 32), make([]float32, 3), make([]float32, 2*40+31), 40)
}
