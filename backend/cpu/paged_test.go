package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/tensor"
)

// pagedCase is a decode step over a paged KV cache: n tokens of nSeq
// sequences whose blocks lie scattered through the cache.
type pagedCase struct {
	be                         *Backend
	n, hq, hkv, d, bs          int
	q, kc, vc, table, idx, lns *tensor.Tensor
	qs, ks, vs                 []float32
	tab, sidx, slen            []int32
	maxBlocks                  int
}

func newPagedCase(rng *rand.Rand, lens []int, hq, hkv, d, bs int) *pagedCase {
	c := &pagedCase{be: New(), n: len(lens), hq: hq, hkv: hkv, d: d, bs: bs}
	for _, l := range lens {
		c.maxBlocks = max(c.maxBlocks, (l+bs-1)/bs)
	}
	c.maxBlocks = max(c.maxBlocks, 1)
	nBlocks := c.n*c.maxBlocks + 3
	perm := rng.Perm(nBlocks) // every sequence's blocks anywhere in the cache
	c.tab = make([]int32, c.n*c.maxBlocks)
	for i := range c.tab {
		c.tab[i] = int32(perm[i])
	}
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	c.qs, c.ks, c.vs = rnd(c.n*hq*d), rnd(nBlocks*bs*hkv*d), rnd(nBlocks*bs*hkv*d)
	c.sidx, c.slen = make([]int32, c.n), make([]int32, c.n)
	for t, l := range lens {
		c.sidx[t], c.slen[t] = int32(t), int32(l)
	}
	be := c.be
	c.q = be.Upload(c.qs, tensor.F32, c.n, hq, d)
	c.kc = be.Upload(c.ks, tensor.F32, nBlocks*bs, hkv, d)
	c.vc = be.Upload(c.vs, tensor.F32, nBlocks*bs, hkv, d)
	c.table = be.UploadInt32(c.tab, c.n, c.maxBlocks)
	c.idx = be.UploadInt32(c.sidx, c.n)
	c.lns = be.UploadInt32(c.slen, c.n)
	return c
}

func (c *pagedCase) run(scale float32) []float32 {
	out := c.be.Upload(make([]float32, c.n*c.hq*c.d), tensor.F32, c.n, c.hq, c.d)
	c.be.PagedAttention(out, c.q, c.kc, c.vc, c.table, c.idx, c.lns, c.bs, scale)
	return f32(out)
}

// TestPagedAttentionMatchesF64 checks decode attention over a paged cache
// against softmax(scale·q·kᵀ)·v in float64, the keys and values gathered
// through the block table: lengths inside, at and across block edges, one
// empty sequence (zero output), grouped query heads. Tolerance: 2e-6
// absolute on outputs of magnitude ~1 (float32 sums over ≤ 70 keys).
func TestPagedAttentionMatchesF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const hq, hkv, d, bs = 6, 2, 20, 4
	lens := []int{1, 3, 4, 5, 16, 17, 0, 70}
	c := newPagedCase(rng, lens, hq, hkv, d, bs)
	scale := float32(1 / math.Sqrt(d))
	got := c.run(scale)
	for tok, l := range lens {
		for h := 0; h < hq; h++ {
			kh := h / (hq / hkv)
			row := func(cache []float32, j int) []float32 {
				slot := int(c.tab[tok*c.maxBlocks+j/bs])*bs + j%bs
				return cache[(slot*hkv+kh)*d:][:d]
			}
			s := make([]float64, l)
			mx := math.Inf(-1)
			for j := range s {
				var dot float64
				for i, kv := range row(c.ks, j) {
					dot += float64(c.qs[(tok*hq+h)*d+i]) * float64(kv)
				}
				s[j] = float64(scale) * dot
				mx = math.Max(mx, s[j])
			}
			var z float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				z += s[j]
			}
			for i := 0; i < d; i++ {
				var want float64
				for j := range s {
					want += s[j] / z * float64(row(c.vs, j)[i])
				}
				g := got[(tok*hq+h)*d+i]
				if math.Abs(float64(g)-want) > 2e-6 {
					t.Fatalf("token %d (length %d) head %d [%d]: %v, want %v", tok, l, h, i, g, want)
				}
			}
		}
	}
}

// BenchmarkPagedAttention is one layer of a llama-112m batch-32 decode step
// (12/4 heads of 64) at 144 tokens of context, blocks of 16.
//
//	go test ./backend/cpu -run XXX -bench PagedAttention
func BenchmarkPagedAttention(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	lens := make([]int, 32)
	for i := range lens {
		lens[i] = 144
	}
	c := newPagedCase(rng, lens, 12, 4, 64, 16)
	for b.Loop() {
		c.run(0.125)
	}
}
