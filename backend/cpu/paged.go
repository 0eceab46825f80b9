package cpu

import (
	"fmt"
	"math"

	"github.com/r1go/r1/tensor"
)

// KVWrite: kcache, vcache (S,Hkv,D)[slots[n]] = k, v (N,Hkv,D)[n].
func (*Backend) KVWrite(kcache, vcache, k, v, slots *tensor.Tensor) {
	kc, vc, ks, vs, sl := f32(kcache), f32(vcache), f32(k), f32(v), i32(slots)
	row := k.Numel() / max(1, len(sl))
	capacity := len(kc) / max(1, row)
	for n, s := range sl {
		if s < 0 || int(s) >= capacity {
			panic(fmt.Sprintf("cpu: KVWrite slot %d outside the cache [0,%d)", s, capacity))
		}
		copy(kc[int(s)*row:][:row], ks[n*row:][:row])
		copy(vc[int(s)*row:][:row], vs[n*row:][:row])
	}
}

// CopySlots: cache[dst[i]] = cache[src[i]] for rows of (S, …).
func (*Backend) CopySlots(cache, src, dst *tensor.Tensor) {
	c, s, d := f32(cache), i32(src), i32(dst)
	row := cache.Numel() / cache.Shape[0]
	for i := range s {
		copy(c[int(d[i])*row:][:row], c[int(s[i])*row:][:row])
	}
}

// PagedAttention: see tensor.Backend. One worker per token; within a token
// each query head runs a two-pass softmax over its visible keys.
func (*Backend) PagedAttention(out, q, kcache, vcache, blockTable, seqIdx, seqLens *tensor.Tensor, blockSize int, scale float32) {
	os, qs, kc, vc := f32(out), f32(q), f32(kcache), f32(vcache)
	bt, si, sl := i32(blockTable), i32(seqIdx), i32(seqLens)
	n, hq, d := q.Shape[0], q.Shape[1], q.Shape[2]
	hkv := kcache.Shape[1]
	maxBlocks := blockTable.Cols()
	group := hq / hkv
	parallel(n, 1, func(lo, hi int) {
		scores := make([]float32, 0, 256)
		for t := lo; t < hi; t++ {
			s, l := int(si[t]), int(sl[t])
			if l > maxBlocks*blockSize {
				panic(fmt.Sprintf("cpu: PagedAttention: sequence length %d exceeds %d blocks of %d", l, maxBlocks, blockSize))
			}
			table := bt[s*maxBlocks : (s+1)*maxBlocks]
			if cap(scores) < l {
				scores = make([]float32, l)
			}
			scores = scores[:l]
			for h := 0; h < hq; h++ {
				kh := h / group
				qrow := qs[(t*hq+h)*d:][:d]
				orow := os[(t*hq+h)*d:][:d]
				mx := float32(math.Inf(-1))
				for j := 0; j < l; j++ {
					slot := int(table[j/blockSize])*blockSize + j%blockSize
					krow := kc[(slot*hkv+kh)*d:][:d]
					var dot float32
					for x := range qrow {
						dot += qrow[x] * krow[x]
					}
					dot *= scale
					scores[j] = dot
					mx = max(mx, dot)
				}
				clear(orow)
				if l == 0 {
					continue
				}
				var sum float32
				for j := 0; j < l; j++ {
					p := expf(scores[j] - mx)
					sum += p
					slot := int(table[j/blockSize])*blockSize + j%blockSize
					vrow := vc[(slot*hkv+kh)*d:][:d]
					for x := range orow {
						orow[x] += p * vrow[x]
					}
				}
				inv := 1 / sum
				for x := range orow {
					orow[x] *= inv
				}
			}
		}
	})
}
