package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/tensor"
)

// BenchmarkAttentionF32 runs the forward and backward attention of one
// layer of the tiny 10M training benchmark (B=8, T=256, 8/4 heads, D=32):
// without a mask (pretraining's full rows) and with the segment mask of
// packed SFT rows (samples of 20–120 tokens, the last row's end padded).
func BenchmarkAttentionF32(b *testing.B) {
	const bs, t = 8, 256
	rng := rand.New(rand.NewPCG(3, 4))
	packed := make([]int32, bs*t)
	for bi := 0; bi < bs; bi++ {
		seg, left := int32(1), 20+rng.IntN(101)
		for j := 0; j < t; j++ {
			if left == 0 {
				seg, left = seg+1, 20+rng.IntN(101)
			}
			packed[bi*t+j] = seg
			left--
		}
	}
	for j := t - 40; j < t; j++ {
		packed[(bs-1)*t+j] = 0
	}
	b.Run("nomask", func(b *testing.B) { benchAttention(b, bs, t, nil) })
	b.Run("packed", func(b *testing.B) { benchAttention(b, bs, t, packed) })
	// GRPO's shared layout (grpo.LayoutShared): per row a 90-token prompt
	// seen by every sample (id −1), then 16 samples of 20–120 tokens.
	const sbs, st = 2, 1024
	shared := make([]int32, sbs*st)
	for bi := 0; bi < sbs; bi++ {
		seg, left := int32(-1), 90
		for j := 0; j < st; j++ {
			if left == 0 {
				seg, left = max(seg, 0)+1, 20+rng.IntN(101)
			}
			shared[bi*st+j] = seg
			left--
		}
	}
	b.Run("shared", func(b *testing.B) { benchAttention(b, sbs, st, shared) })
}

func benchAttention(b *testing.B, bs, t int, mask []int32) {
	const hq, hkv, d = 8, 4, 32
	be := New()
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(shape ...int) *tensor.Tensor {
		v := make([]float32, tensor.Numel(shape))
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return be.Upload(v, tensor.F32, shape...)
	}
	q, k, v, dout := rnd(bs, t, hq, d), rnd(bs, t, hkv, d), rnd(bs, t, hkv, d), rnd(bs, t, hq, d)
	out, lse := be.New(tensor.F32, bs, t, hq, d), be.New(tensor.F32, bs, hq, t)
	dq, dk, dv := be.New(tensor.F32, q.Shape...), be.New(tensor.F32, k.Shape...), be.New(tensor.F32, v.Shape...)
	var m *tensor.Tensor
	if mask != nil {
		m = be.UploadInt32(mask, bs, t)
	}
	c0 := cpuTime()
	for b.Loop() {
		be.Attention(out, lse, q, k, v, m, 0.17)
		be.AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, m, 0.17)
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}
