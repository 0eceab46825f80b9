package cpu

import (
	"math"
	"runtime"
	"sync"

	"github.com/r1go/r1/backend/cpu/gemm"
)

// The float32 attention kernels run each (batch, head) as GEMMs: S =
// scale·Q·Kᵀ, P = masked softmax(S), O = P·V, and in the backward pass
// dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − Δ), dQ = dS·K, dK += dSᵀ·Q. The
// strided (B,T,H,D) layout is addressed through the GEMM's leading
// dimensions, so nothing is transposed or copied. Queries go in blocks of
// attnBlock rows: a block [i0,i1) only sees keys [0,i1), so the GEMMs skip
// most of the causally masked upper triangle (about 40% of the work at
// T=256) and the score scratch is attnBlock×T floats per worker. That
// scratch is CPU-only; the CUDA kernel is flash-style and never holds it.
// The generic kernels in attention.go stay as the float64 reference that
// these are tested against.

// attnBlock is the query-block height: small enough to skip most of the
// masked triangle, large enough that the GEMMs stay efficient.
const attnBlock = 64

// scorePool recycles the per-worker score blocks across calls: training
// calls attention twice per layer per step with the same shapes.
var scorePool sync.Pool

func getScores(n int) *[]float32 {
	if p, ok := scorePool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// keySpans fills first[i], for each query i of one batch row with mask ms
// (nil: none), with the first key the query sees when it sees exactly the
// keys [first[i], i], and with −1 otherwise. The interval holds with no
// mask, and for a query inside a segment when the row's segments are
// contiguous runs with increasing ids — how packing lays samples out; a
// right-padded 0/1 mask is one run. A padding query (it sees every real
// key before it) or a mask of another shape gets −1: its scores are masked
// key by key (maskScores). So does a left-padded row (generation's
// layout, GRPO's batches): its first run starting past key 0, the span
// would be exponentiated and summed from another offset, which the vector
// kernels round differently, and those runs' numbers would move.
func keySpans(first, ms []int32) {
	if ms == nil {
		clear(first)
		return
	}
	if len(ms) > 0 && ms[0] == 0 {
		for j := range first {
			first[j] = -1
		}
		return
	}
	var last, start int32 // the current run's id and first key
	for i, id := range ms {
		if id == 0 {
			first[i] = -1
			continue
		}
		if i == 0 || ms[i-1] != id {
			if id <= last { // a segment in two runs, or ids out of order
				for j := range first {
					first[j] = -1
				}
				return
			}
			last, start = id, int32(i)
		}
		first[i] = start
	}
}

// blockKeys is the first key any query of a block whose spans are first
// may see: the block's GEMMs start there. Packed rows skip the keys of
// the samples before the block's, which no query of it sees.
func blockKeys(first []int32) int {
	k0 := first[0]
	for _, f := range first {
		k0 = min(k0, f)
	}
	return max(int(k0), 0)
}

// maskScores sets to −Inf the scores row[j] of query i's keys k0+j that
// the mask ms[off:] hides (see hidden), so that exp turns them into 0.
func maskScores(row []float32, ms []int32, off, i, k0 int) {
	negInf := float32(math.Inf(-1))
	qs := ms[off+i]
	for j, m := range ms[off+k0 : off+k0+len(row)] {
		if m == 0 || (qs != 0 && m != qs) {
			row[j] = negInf
		}
	}
}

// softmaxRows turns the scores of query rows [i0,i1) of a batch row into
// probabilities in place, honouring causality and the mask ms (that row's
// t entries, or nil), and writes each row's log-sum-exp (−Inf for a query
// that sees no key). Row i is s[(i−i0)·ld:], whose first i1−k0 entries
// are the scores of keys [k0, i1). A query whose keys are an interval
// (first[i] ≥ 0) exponentiates that interval only and clears the rest:
// exponentials of masked (−Inf) scores are zeros, but slow ones (an
// underflow per element) besides wasted.
func softmaxRows(s []float32, ld, i0, i1, k0 int, first, ms []int32, lse []float32) {
	negInf := float32(math.Inf(-1))
	for i := i0; i < i1; i++ {
		row := s[(i-i0)*ld:][:i1-k0]
		if f := int(first[i]); f >= 0 {
			vis := row[f-k0 : i+1-k0]
			mx := maxF32(vis)
			sum := expSubSum(vis, vis, mx)
			clear(row[:f-k0])
			clear(row[i+1-k0:])
			scaleF32(vis, 1/sum)
			lse[i] = mx + float32(math.Log(float64(sum)))
			continue
		}
		vis := row[:i+1-k0]
		maskScores(vis, ms, 0, i, k0)
		mx := maxF32(vis)
		if mx == negInf { // no visible key
			clear(row)
			lse[i] = mx
			continue
		}
		// Masked scores are −Inf here, so their exponentials are 0.
		sum := expSubSum(vis, vis, mx)
		clear(row[i+1-k0:])
		scaleF32(vis, 1/sum)
		lse[i] = mx + float32(math.Log(float64(sum)))
	}
}

// rowMask is batch row bi's mask (nil when there is none).
func rowMask(ms []int32, bi, t int) []int32 {
	if ms == nil {
		return nil
	}
	return ms[bi*t : (bi+1)*t]
}

func attentionF32(os, ls, qs, ks, vs []float32, ms []int32, b, t, hq, hkv, d int, scale float32) {
	group := hq / hkv
	mm := gemmFor(b * hkv)
	parallel(b*hkv, 1, func(lo, hi int) {
		sp := getScores(min(attnBlock, t) * t)
		defer scorePool.Put(sp)
		s := *sp
		first := make([]int32, t)
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			rm := rowMask(ms, bi, t)
			keySpans(first, rm)
			for g := 0; g < group; g++ {
				h := kh*group + g
				for i0 := 0; i0 < t; i0 += attnBlock {
					i1 := min(i0+attnBlock, t)
					k0 := blockKeys(first[i0:i1])
					qoff := ((bi*t+i0)*hq + h) * d
					koff := ((bi*t+k0)*hkv + kh) * d
					// S (nb,i1−k0) = scale·Q·K[k0:i1]ᵀ; O = P·V[k0:i1]
					mm(false, true, i1-i0, i1-k0, d, scale, qs[qoff:], hq*d, ks[koff:], hkv*d, 0, s, t)
					softmaxRows(s, t, i0, i1, k0, first, rm, ls[(bi*hq+h)*t:][:t])
					mm(false, false, i1-i0, d, i1-k0, 1, s, t, vs[koff:], hkv*d, 0, os[qoff:], hq*d)
				}
			}
		}
	})
}

func attentionBackwardF32(dqs, dks, dvs, dos, os, ls, qs, ks, vs []float32, ms []int32, b, t, hq, hkv, d int, scale float32) {
	group := hq / hkv
	clear(dks)
	clear(dvs)
	mm := gemmFor(b * hkv)
	parallel(b*hkv, 1, func(lo, hi int) {
		pp, dpp := getScores(min(attnBlock, t)*t), getScores(min(attnBlock, t)*t)
		defer scorePool.Put(pp)
		defer scorePool.Put(dpp)
		p, dp := *pp, *dpp
		first := make([]int32, t)
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			rm := rowMask(ms, bi, t)
			keySpans(first, rm)
			for g := 0; g < group; g++ {
				h := kh*group + g
				lse := ls[(bi*hq+h)*t:][:t]
				for i0 := 0; i0 < t; i0 += attnBlock {
					i1 := min(i0+attnBlock, t)
					nb := i1 - i0
					k0 := blockKeys(first[i0:i1])
					nk := i1 - k0 // keys [k0, i1)
					qoff := ((bi*t+i0)*hq + h) * d
					koff := ((bi*t+k0)*hkv + kh) * d
					// Recompute P from the saved log-sum-exp.
					mm(false, true, nb, nk, d, scale, qs[qoff:], hq*d, ks[koff:], hkv*d, 0, p, t)
					for i := i0; i < i1; i++ {
						row := p[(i-i0)*t:][:nk]
						l := lse[i]
						if math.IsInf(float64(l), -1) {
							clear(row)
							continue
						}
						vis := row[:i+1-k0]
						if f := int(first[i]); f >= 0 {
							clear(vis[:f-k0])
							vis = vis[f-k0:]
						} else {
							maskScores(vis, rm, 0, i, k0)
						}
						expSubSum(vis, vis, l)
						clear(row[i+1-k0:])
					}
					// dV (nk,D) += Pᵀ (nk,nb) · dO (nb,D)
					mm(true, false, nk, d, nb, 1, p, t, dos[qoff:], hq*d, 1, dvs[koff:], hkv*d)
					// dP (nb,nk) = dO (nb,D) · Vᵀ
					mm(false, true, nb, nk, d, 1, dos[qoff:], hq*d, vs[koff:], hkv*d, 0, dp, t)
					for i := i0; i < i1; i++ {
						dor, or := dos[qoff+(i-i0)*hq*d:][:d], os[qoff+(i-i0)*hq*d:][:d]
						var delta float32
						for x := range dor {
							delta += dor[x] * or[x]
						}
						dsRowF32(dp[(i-i0)*t:][:nk], p[(i-i0)*t:][:nk], delta, scale)
					}
					// dQ (nb,D) = dS (nb,nk) · K (nk,D); dK (nk,D) += dSᵀ · Q (nb,D)
					mm(false, false, nb, d, nk, 1, dp, t, ks[koff:], hkv*d, 0, dqs[qoff:], hq*d)
					mm(true, false, nk, d, nb, 1, dp, t, qs[qoff:], hq*d, 1, dks[koff:], hkv*d)
				}
			}
		}
	})
}

// gemmFor picks the GEMM for work split into tasks outer tasks: when they
// already occupy every core, each product runs on its own goroutine instead
// of fanning out again.
func gemmFor(tasks int) func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if tasks >= runtime.GOMAXPROCS(0) {
		return gemm.SgemmSerial
	}
	return gemm.Sgemm
}
