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

// maskScores sets to −Inf the scores of query i's keys that the mask
// ms[off:] hides (ms nil: none; see hidden), so that exp turns them into 0.
func maskScores(row []float32, ms []int32, off, i int) {
	if ms == nil {
		return
	}
	negInf := float32(math.Inf(-1))
	qs := ms[off+i]
	for j, m := range ms[off : off+len(row)] {
		if m == 0 || (qs != 0 && m != qs) {
			row[j] = negInf
		}
	}
}

// softmaxRows turns the scores of query rows [i0,i1) of batch row bi into
// probabilities in place, honouring causality and the padding mask, and
// writes each row's log-sum-exp (−Inf for a query that sees no key). Row i
// is s[(i−i0)·ld:], of which the first i1 entries are used.
func softmaxRows(s []float32, ld, i0, i1, t int, ms []int32, bi int, lse []float32) {
	negInf := float32(math.Inf(-1))
	for i := i0; i < i1; i++ {
		row := s[(i-i0)*ld:][:i1]
		vis := row[:i+1]
		maskScores(vis, ms, bi*t, i)
		mx := maxF32(vis)
		if mx == negInf { // no visible key
			clear(row)
			lse[i] = mx
			continue
		}
		// Masked scores are −Inf here, so their exponentials are 0.
		sum := expSubSum(vis, vis, mx)
		clear(row[i+1:])
		scaleF32(vis, 1/sum)
		lse[i] = mx + float32(math.Log(float64(sum)))
	}
}

func attentionF32(os, ls, qs, ks, vs []float32, ms []int32, b, t, hq, hkv, d int, scale float32) {
	group := hq / hkv
	mm := gemmFor(b * hkv)
	parallel(b*hkv, 1, func(lo, hi int) {
		sp := getScores(min(attnBlock, t) * t)
		defer scorePool.Put(sp)
		s := *sp
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			koff := (bi*t*hkv + kh) * d
			for g := 0; g < group; g++ {
				h := kh*group + g
				for i0 := 0; i0 < t; i0 += attnBlock {
					i1 := min(i0+attnBlock, t)
					qoff := ((bi*t+i0)*hq + h) * d
					mm(false, true, i1-i0, i1, d, scale, qs[qoff:], hq*d, ks[koff:], hkv*d, 0, s, t)
					softmaxRows(s, t, i0, i1, t, ms, bi, ls[(bi*hq+h)*t:][:t])
					mm(false, false, i1-i0, d, i1, 1, s, t, vs[koff:], hkv*d, 0, os[qoff:], hq*d)
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
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			koff := (bi*t*hkv + kh) * d
			for g := 0; g < group; g++ {
				h := kh*group + g
				lse := ls[(bi*hq+h)*t:][:t]
				for i0 := 0; i0 < t; i0 += attnBlock {
					i1 := min(i0+attnBlock, t)
					nb := i1 - i0
					qoff := ((bi*t+i0)*hq + h) * d
					// Recompute P from the saved log-sum-exp.
					mm(false, true, nb, i1, d, scale, qs[qoff:], hq*d, ks[koff:], hkv*d, 0, p, t)
					for i := i0; i < i1; i++ {
						row := p[(i-i0)*t:][:i1]
						l := lse[i]
						if math.IsInf(float64(l), -1) {
							clear(row)
							continue
						}
						maskScores(row[:i+1], ms, bi*t, i)
						expSubSum(row[:i+1], row[:i+1], l)
						clear(row[i+1:])
					}
					// dV (i1,D) += Pᵀ (i1,nb) · dO (nb,D)
					mm(true, false, i1, d, nb, 1, p, t, dos[qoff:], hq*d, 1, dvs[koff:], hkv*d)
					// dP (nb,i1) = dO (nb,D) · Vᵀ
					mm(false, true, nb, i1, d, 1, dos[qoff:], hq*d, vs[koff:], hkv*d, 0, dp, t)
					for i := i0; i < i1; i++ {
						dor, or := dos[qoff+(i-i0)*hq*d:][:d], os[qoff+(i-i0)*hq*d:][:d]
						var delta float32
						for x := range dor {
							delta += dor[x] * or[x]
						}
						dsRowF32(dp[(i-i0)*t:][:i1], p[(i-i0)*t:][:i1], delta, scale)
					}
					// dQ (nb,D) = dS (nb,i1) · K (i1,D); dK (i1,D) += dSᵀ · Q (nb,D)
					mm(false, false, nb, d, i1, 1, dp, t, ks[koff:], hkv*d, 0, dqs[qoff:], hq*d)
					mm(true, false, i1, d, nb, 1, dp, t, qs[qoff:], hq*d, 1, dks[koff:], hkv*d)
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
