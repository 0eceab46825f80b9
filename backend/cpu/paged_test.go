package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// run attends into an output full of NaNs: decoding passes uncleared
// storage (model.Forward's AllocOut), so every row, an empty sequence's
// included, must be written whole.
func (c *pagedCase) run(scale float32) []float32 {
	nan := make([]float32, c.n*c.hq*c.d)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	out := c.be.Upload(nan, tensor.F32, c.n, c.hq, c.d)
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
// (12/4 heads of 64, blocks of 16) at 144 tokens of context (the issue's
// decode benchmark) and at 1024 (a long RL rollout), over an F32 cache and
// a BF16 one.
//
//	go test ./backend/cpu -run XXX -bench PagedAttention
func BenchmarkPagedAttention(b *testing.B) {
	for _, ctx := range []int{144, 1024} {
		for _, dt := range []tensor.DType{tensor.F32, tensor.BF16} {
			b.Run(fmt.Sprintf("ctx=%d/%v", ctx, dt), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				lens := make([]int, 32)
				for i := range lens {
					lens[i] = ctx
				}
				c := newPagedCase(rng, lens, 12, 4, 64, 16)
				kc, vc := c.kc, c.vc
				if dt == tensor.BF16 {
					kc, vc = c.be.New(dt, kc.Shape...), c.be.New(dt, vc.Shape...)
					c.be.Copy(kc, c.kc)
					c.be.Copy(vc, c.vc)
				}
				out := c.be.New(tensor.F32, c.n, c.hq, c.d)
				for b.Loop() {
					c.be.PagedAttention(out, c.q, kc, vc, c.table, c.idx, c.lns, c.bs, 0.125)
				}
				b.ReportMetric(float64(kc.Bytes()+vc.Bytes())/1e6, "cacheMB")
			})
		}
	}
}

// BenchmarkPagedAttentionStreamed is BenchmarkPagedAttention with the
// cache read from memory, as a decode step reads it: a large model's
// weights pass through the last-level cache between two layers' attention,
// so each layer finds its keys and values evicted. The calls rotate
// through copies of the cache, 256 MB in all.
//
//	go test ./backend/cpu -run XXX -bench PagedAttentionStreamed
func BenchmarkPagedAttentionStreamed(b *testing.B) {
	for _, ctx := range []int{144, 1024} {
		b.Run(fmt.Sprintf("ctx=%d", ctx), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			lens := make([]int, 32)
			for i := range lens {
				lens[i] = ctx
			}
			c := newPagedCase(rng, lens, 12, 4, 64, 16)
			bytes := c.kc.Bytes() + c.vc.Bytes()
			copies := int(max(2, 256<<20/bytes))
			kcs, vcs := make([]*tensor.Tensor, copies), make([]*tensor.Tensor, copies)
			for i := range kcs {
				kcs[i], vcs[i] = c.be.New(tensor.F32, c.kc.Shape...), c.be.New(tensor.F32, c.vc.Shape...)
				c.be.Copy(kcs[i], c.kc)
				c.be.Copy(vcs[i], c.vc)
			}
			out := c.be.New(tensor.F32, c.n, c.hq, c.d)
			i := 0
			for b.Loop() {
				c.be.PagedAttention(out, c.q, kcs[i%copies], vcs[i%copies], c.table, c.idx, c.lns, c.bs, 0.125)
				i++
			}
			b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// TestPagedAttentionBF16 checks the BF16 cache: KVWrite rounds to nearest
// even, CopySlots moves the 16-bit rows, and attention over it is bit for
// bit attention over an F32 cache holding the rounded values, at every
// SIMD level (the widening kernel included).
func TestPagedAttentionBF16(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		const hq, hkv, d, bs = 6, 2, 24, 4
		lens := []int{1, 3, 4, 5, 16, 17, 0, 70}
		c := newPagedCase(rng, lens, hq, hkv, d, bs)
		be := c.be
		slots := c.kc.Shape[0]
		kb, vb := be.New(tensor.BF16, slots, hkv, d), be.New(tensor.BF16, slots, hkv, d)
		all := make([]int32, slots)
		for i := range all {
			all[i] = int32(i)
		}
		be.KVWrite(kb, vb, c.kc, c.vc, be.UploadInt32(all, slots))
		for i, v := range c.ks {
			if got, want := bf16(kb)[i], tensor.F32ToBF16(v); got != want {
				t.Fatalf("key value %d: %#x, want %#x", i, got, want)
			}
		}
		// The reference: the F32 case with every cache value rounded.
		round := func(xs []float32) {
			for i, v := range xs {
				xs[i] = tensor.BF16ToF32(tensor.F32ToBF16(v))
			}
		}
		round(f32(c.kc))
		round(f32(c.vc))
		want := c.run(0.2)
		out := be.New(tensor.F32, c.n, hq, d)
		be.PagedAttention(out, c.q, kb, vb, c.table, c.idx, c.lns, bs, 0.2)
		for i, g := range f32(out) {
			if math.Float32bits(g) != math.Float32bits(want[i]) {
				t.Fatalf("output %d: %v, want %v (the F32 cache of rounded values)", i, g, want[i])
			}
		}
		be.CopySlots(kb, be.UploadInt32([]int32{3, 9}, 2), be.UploadInt32([]int32{1, 2}, 2))
		for _, p := range [][2]int{{3, 1}, {9, 2}} {
			row := hkv * d
			if !slices.Equal(bf16(kb)[p[1]*row:][:row], bf16(kb)[p[0]*row:][:row]) {
				t.Fatalf("CopySlots: slot %d is not slot %d", p[1], p[0])
			}
		}
	})
}

// TestBF16ToF32 checks the widening kernel against the scalar conversion
// at every level, lengths around its 16-value steps.
func TestBF16ToF32(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 15, 16, 17, 33, 256} {
			src := make([]uint16, n)
			for i := range src {
				src[i] = uint16(i*7919 + 13)
			}
			dst := make([]float32, n+1)
			dst[n] = 42 // past the end: untouched
			bf16ToF32(dst[:n], src)
			for i, h := range src {
				if math.Float32bits(dst[i]) != uint32(h)<<16 {
					t.Fatalf("n=%d [%d]: %#x, want %#x", n, i, math.Float32bits(dst[i]), uint32(h)<<16)
				}
			}
			if dst[n] != 42 {
				t.Fatalf("n=%d: wrote past the end", n)
			}
		}
	})
}
