package cpu

import (
	"fmt"

	"github.com/r1go/r1/tensor"
)

// KVWrite: kcache, vcache (S,Hkv,D)[slots[n]] = k, v (N,Hkv,D)[n]. The
// caches are F32, or BF16 (rounded to nearest even: half the memory, and
// half the bytes every decode step reads).
func (*Backend) KVWrite(kcache, vcache, k, v, slots *tensor.Tensor) {
	ks, vs, sl := f32(k), f32(v), i32(slots)
	row := k.Numel() / max(1, len(sl))
	capacity := kcache.Numel() / max(1, row)
	for _, s := range sl {
		if s < 0 || int(s) >= capacity {
			panic(fmt.Sprintf("cpu: KVWrite slot %d outside the cache [0,%d)", s, capacity))
		}
	}
	switch kc := kcache.Buf.(type) {
	case []float32:
		vc := f32(vcache)
		for n, s := range sl {
			copy(kc[int(s)*row:][:row], ks[n*row:][:row])
			copy(vc[int(s)*row:][:row], vs[n*row:][:row])
		}
	case []uint16:
		vc := bf16(vcache)
		for n, s := range sl {
			f32ToBF16(kc[int(s)*row:][:row], ks[n*row:][:row])
			f32ToBF16(vc[int(s)*row:][:row], vs[n*row:][:row])
		}
	default:
		panic(fmt.Sprintf("cpu: KVWrite into %v: the cache must be F32 or BF16", kcache))
	}
}

// CopySlots: cache[dst[i]] = cache[src[i]] for rows of (S, …).
func (*Backend) CopySlots(cache, src, dst *tensor.Tensor) {
	s, d := i32(src), i32(dst)
	row := cache.Numel() / cache.Shape[0]
	switch c := cache.Buf.(type) {
	case []float32:
		for i := range s {
			copy(c[int(d[i])*row:][:row], c[int(s[i])*row:][:row])
		}
	case []uint16:
		for i := range s {
			copy(c[int(d[i])*row:][:row], c[int(s[i])*row:][:row])
		}
	default:
		panic(fmt.Sprintf("cpu: CopySlots in %v: the cache must be F32 or BF16", cache))
	}
}

// bf16 is a BF16 tensor's storage.
func bf16(t *tensor.Tensor) []uint16 {
	s, ok := t.Buf.([]uint16)
	if !ok || t.DType != tensor.BF16 {
		panic(fmt.Sprintf("cpu: kernel needs a BF16 tensor, got %v", t))
	}
	return s
}

// kvBlock returns cache block blk (elems values: its slots, every kv head
// of a slot side by side) as float32: the F32 cache's own storage, or the
// BF16 cache's block widened into buf (exactly: kernels then compute on the
// rounded values as they would on an F32 cache holding them).
func kvBlock(cache *tensor.Tensor, blk, elems int, buf []float32) []float32 {
	switch c := cache.Buf.(type) {
	case []float32:
		return c[blk*elems:][:elems]
	case []uint16:
		bf16ToF32(buf[:elems], c[blk*elems:][:elems])
		return buf[:elems]
	}
	panic(fmt.Sprintf("cpu: PagedAttention over %v: the cache must be F32 or BF16", cache))
}

// PagedAttention: see tensor.Backend. One worker per token; the keys and
// values are walked block by block (a block's slots are contiguous, every
// kv head of a slot side by side), each block once for all heads, and the
// query heads that share a kv head are handled together so every key and
// value row is read once per token. A BF16 cache's blocks are widened one
// at a time into a scratch block that stays in L1.
func (*Backend) PagedAttention(out, q, kcache, vcache, blockTable, seqIdx, seqLens *tensor.Tensor, blockSize int, scale float32) {
	os, qs := f32(out), f32(q)
	if kcache.DType != vcache.DType {
		panic(fmt.Sprintf("cpu: PagedAttention: keys %v and values %v differ in dtype", kcache, vcache))
	}
	bt, si, sl := i32(blockTable), i32(seqIdx), i32(seqLens)
	n, hq, d := q.Shape[0], q.Shape[1], q.Shape[2]
	hkv := kcache.Shape[1]
	maxBlocks := blockTable.Cols()
	group := hq / hkv
	for t := 0; t < n; t++ {
		if l := int(sl[t]); l > maxBlocks*blockSize {
			panic(fmt.Sprintf("cpu: PagedAttention: sequence length %d exceeds %d blocks of %d", l, maxBlocks, blockSize))
		}
	}
	blockElems := blockSize * hkv * d
	parallel(n, 1, func(lo, hi int) {
		var scores []float32 // (hq, L)
		var scratch []float32
		if kcache.DType != tensor.F32 {
			scratch = make([]float32, blockElems)
		}
		for t := lo; t < hi; t++ {
			s, l := int(si[t]), int(sl[t])
			table := bt[s*maxBlocks : (s+1)*maxBlocks]
			ot := os[t*hq*d:][:hq*d]
			clear(ot)
			if l == 0 {
				continue
			}
			if cap(scores) < hq*l {
				scores = make([]float32, hq*l)
			}
			scores = scores[:hq*l]
			qt := qs[t*hq*d:][:hq*d]
			// Scores: S[h][j] = scale · q_h · k_j, h in kv head kh's group,
			// in the score order (scores.go) whatever the SIMD level.
			for j0 := 0; j0 < l; j0 += blockSize {
				kc := kvBlock(kcache, int(table[j0/blockSize]), blockElems, scratch)
				keys := min(blockSize, l-j0)
				for kh := 0; kh < hkv; kh++ {
					h := kh * group
					scoreRows(qt[h*d:(h+group)*d], group, d, kc[kh*d:], hkv*d, keys, scale, scores[h*l+j0:], l)
				}
			}
			// Softmax per head, then out = Σ_j p_j v_j (j in order).
			for h := 0; h < hq; h++ {
				row := scores[h*l : (h+1)*l]
				sum := expSubSum(row, row, maxF32(row))
				scaleF32(row, 1/sum)
			}
			for j0 := 0; j0 < l; j0 += blockSize {
				vc := kvBlock(vcache, int(table[j0/blockSize]), blockElems, scratch)
				keys := min(blockSize, l-j0)
				for kh := 0; kh < hkv; kh++ {
					vrows := vc[kh*d:] // the block's value rows, hkv·d apart
					h := kh * group
					for ; h+2 <= (kh+1)*group; h += 2 { // two heads per value row read
						pvAcc2(ot[h*d:(h+2)*d], scores[h*l+j0:], l, keys, vrows, hkv*d)
					}
					if h < (kh+1)*group {
						pvAcc(ot[h*d:(h+1)*d], scores[h*l+j0:][:keys], vrows, hkv*d)
					}
				}
			}
		}
	})
}

// pvAcc adds Σ_j p[j]·v[j·stride:][:len(out)] to out, j in order: the PV
// sum of paged attention over one KV block, through the vector kernel
// where there is one (pvAccSIMD), else one axpyF32 per key; both round
// the same.
func pvAcc(out, p, v []float32, stride int) {
	d, n := len(out), len(p)
	if n == 0 || d == 0 {
		return
	}
	if stride < d || len(v) < (n-1)*stride+d {
		panic("cpu: pvAcc: value rows out of range")
	}
	if pvAccSIMD(out, p, v, stride) {
		return
	}
	for j, pj := range p {
		axpyF32(out, pj, v[j*stride:][:d])
	}
}

// pvAcc2 is pvAcc for two heads over the same value rows: out[0:d] with
// the weights p[0:n], out[d:2d] with p[pstride:][:n] (d = len(out)/2);
// the same bits as two pvAcc calls.
func pvAcc2(out, p []float32, pstride, n int, v []float32, stride int) {
	d := len(out) / 2
	if n == 0 || d == 0 {
		return
	}
	if stride < d || len(v) < (n-1)*stride+d || len(p) < pstride+n || pstride < n {
		panic("cpu: pvAcc2: weights or value rows out of range")
	}
	if pvAcc2SIMD(out, p, pstride, v, n, stride) {
		return
	}
	pvAcc(out[:d], p[:n], v, stride)
	pvAcc(out[d:2*d], p[pstride:][:n], v, stride)
}
