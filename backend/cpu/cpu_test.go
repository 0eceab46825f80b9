package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/tensor"
)

// expf must stay within 3 ulp-ish (relative 4e-7) of math.Exp over the
// whole float32 range the kernels see.
func TestExpf(t *testing.T) {
	worst := 0.0
	for x := float32(-103); x < 88.7; x += 0.0137 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		if want < 1e-37 { // subnormal results: absolute error
			if math.Abs(got-want) > 1e-44 {
				t.Fatalf("expf(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	if worst > 4e-7 {
		t.Fatalf("worst relative error %.3g", worst)
	}
	if !math.IsInf(float64(expf(100)), 1) || expf(-200) != 0 || expf(0) != 1 {
		t.Fatal("expf edge cases wrong")
	}
}

// The float32 GEMM-based attention must agree with the float64 reference
// kernel (itself gradient-checked in autograd) on GQA with left padding,
// and with packed rows whose mask holds segment ids: short and long
// samples, right padding, and segments that are not contiguous runs.
func TestAttentionF32MatchesF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ b, t, hq, hkv, d int }{{2, 7, 4, 2, 8}, {1, 33, 2, 1, 16}, {3, 5, 3, 3, 4}, {2, 2*attnBlock + 22, 4, 2, 8}} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			mask := make([]int32, c.b*c.t)
			for bi := 0; bi < c.b; bi++ {
				for j := 0; j < c.t; j++ {
					if j >= bi { // row bi has bi pad tokens on the left
						mask[bi*c.t+j] = 1
					}
				}
			}
			checkAttention(t, rng, c.b, c.t, c.hq, c.hkv, c.d, mask)
			// Packed rows: samples of 1..7 tokens, each its own segment,
			// and one padding token at the end.
			for bi := 0; bi < c.b; bi++ {
				seg, left := int32(1), 1+rng.IntN(7)
				for j := 0; j < c.t; j++ {
					if left == 0 {
						seg, left = seg+1, 1+rng.IntN(7)
					}
					mask[bi*c.t+j] = seg
					left--
				}
				mask[bi*c.t+c.t-1] = 0
			}
			checkAttention(t, rng, c.b, c.t, c.hq, c.hkv, c.d, mask)
			// Long samples (up to 100 tokens, across query blocks: the
			// kernels skip the keys before a block's first sample) and
			// right padding of up to 5 tokens.
			for bi := 0; bi < c.b; bi++ {
				seg, left := int32(1), 1+rng.IntN(100)
				pad := c.t - rng.IntN(min(6, c.t))
				for j := 0; j < c.t; j++ {
					if left == 0 {
						seg, left = seg+1, 1+rng.IntN(100)
					}
					mask[bi*c.t+j] = seg
					if j >= pad {
						mask[bi*c.t+j] = 0
					}
					left--
				}
			}
			checkAttention(t, rng, c.b, c.t, c.hq, c.hkv, c.d, mask)
			// A shared prefix (a prompt stored once, id −1) of 1..40
			// tokens, then samples of up to 30 tokens that each see it,
			// and right padding; one row prefix only.
			for bi := 0; bi < c.b; bi++ {
				lp := 1 + rng.IntN(min(40, c.t))
				seg, left := int32(1), 1+rng.IntN(30)
				pad := c.t - rng.IntN(min(6, c.t))
				for j := 0; j < c.t; j++ {
					switch {
					case j < lp:
						mask[bi*c.t+j] = -1
						continue
					case left == 0:
						seg, left = seg+1, 1+rng.IntN(30)
					}
					mask[bi*c.t+j] = seg
					if j >= pad && bi%2 == 0 {
						mask[bi*c.t+j] = 0
					}
					left--
				}
			}
			checkAttention(t, rng, c.b, c.t, c.hq, c.hkv, c.d, mask)
			// Prefixes the spans cannot describe (a second prefix, a
			// prefix after a sample): masked key by key, same rule.
			for bi := 0; bi < c.b; bi++ {
				for j := 0; j < c.t; j++ {
					mask[bi*c.t+j] = []int32{-1, 1, -2, 2}[(j/3)%4]
					if bi%2 == 1 {
						mask[bi*c.t+j] = []int32{1, -1, 2}[(j/2)%3]
					}
				}
			}
			checkAttention(t, rng, c.b, c.t, c.hq, c.hkv, c.d, mask)
			// Segments that are not contiguous runs of increasing ids
			// (interleaved, then decreasing): masked key by key.
			for bi := 0; bi < c.b; bi++ {
				for j := 0; j < c.t; j++ {
					mask[bi*c.t+j] = int32(1 + (j/2)%2)
					if bi%2 == 1 {
						mask[bi*c.t+j] = int32(c.t - j/3)
					}
				}
			}
			checkAttention(t, rng, c.b, c.t, c.hq, c.hkv, c.d, mask)
		})
	}
}

// checkAttention compares the float32 attention kernels, forward and
// backward, with the float64 reference on random inputs under mask.
func checkAttention(t *testing.T, rng *rand.Rand, b, tt, hq, hkv, d int, mask []int32) {
	t.Helper()
	be := New()
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	q, k, v, dout := rnd(b*tt*hq*d), rnd(b*tt*hkv*d), rnd(b*tt*hkv*d), rnd(b*tt*hq*d)
	run := func(dt tensor.DType) [][]float32 {
		up := func(x []float32, shape ...int) *tensor.Tensor { return be.Upload(x, dt, shape...) }
		qt, kt, vt := up(q, b, tt, hq, d), up(k, b, tt, hkv, d), up(v, b, tt, hkv, d)
		mt := be.UploadInt32(mask, b, tt)
		out, lse := be.New(dt, b, tt, hq, d), be.New(dt, b, hq, tt)
		scale := float32(1 / math.Sqrt(float64(d)))
		be.Attention(out, lse, qt, kt, vt, mt, scale)
		dq, dk, dv := be.New(dt, qt.Shape...), be.New(dt, kt.Shape...), be.New(dt, vt.Shape...)
		be.AttentionBackward(dq, dk, dv, up(dout, qt.Shape...), out, lse, qt, kt, vt, mt, scale)
		return [][]float32{be.Download(out), be.Download(dq), be.Download(dk), be.Download(dv)}
	}
	got, want := run(tensor.F32), run(tensor.F64)
	for n, name := range []string{"out", "dq", "dk", "dv"} {
		for i := range got[n] {
			if e := math.Abs(float64(got[n][i] - want[n][i])); e > 2e-5*math.Max(1, math.Abs(float64(want[n][i]))) {
				t.Fatalf("%s[%d]: f32 %v, f64 %v (mask %v)", name, i, got[n][i], want[n][i], mask)
			}
		}
	}
}

func BenchmarkExpf(b *testing.B) {
	var s float32
	for i := 0; i < b.N; i++ {
		s += expf(float32(i&1023) * -0.01)
	}
	_ = s
}
