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
// (nil: none), with the first key of the interval [first[i], i] of keys
// the query sees besides the row's shared prefix, and pre[i] with the
// length of that prefix if the query sees it (keys [0, pre[i])), or 0;
// first[i] = −1 when the query's keys are not of that form. The form holds
// with no mask, and for a query inside a segment when the row's segments
// are contiguous runs with increasing ids, optionally after one run of a
// negative id at key 0 (a prompt shared by the samples after it) — how
// packing lays samples out; a right-padded 0/1 mask is one run. A padding
// query (it sees every real key before it) or a mask of another shape
// gets −1: its scores are masked key by key (maskScores). So does a
// left-padded row (generation's layout, the padded RL batches): its first
// run starting past key 0, the span would be exponentiated and summed from
// another offset, which the vector kernels round differently, and those
// runs' numbers would move.
func keySpans(first, pre, ms []int32) {
	clear(pre)
	if ms == nil {
		clear(first)
		return
	}
	masked := func() {
		for j := range first {
			first[j] = -1
		}
	}
	if len(ms) > 0 && ms[0] == 0 {
		masked()
		return
	}
	var shared int32 // the shared prefix's length
	if len(ms) > 0 && ms[0] < 0 {
		for int(shared) < len(ms) && ms[shared] == ms[0] {
			shared++
		}
	}
	var last, start int32 // the current run's id and first key
	for i, id := range ms {
		if id == 0 {
			first[i] = -1
			continue
		}
		if i == 0 || ms[i-1] != id {
			if i > 0 && id <= last { // a segment in two runs, ids out of order, a second prefix
				masked()
				return
			}
			last, start = max(id, 0), int32(i)
		}
		first[i] = start
		if id > 0 {
			pre[i] = shared
		}
	}
}

// blockKeys returns the keys the GEMMs of a block of queries with spans
// first and pre cover: the shared prefix [0, pl) (pl = 0 when there is
// none or it joins the rest) and then [k0, i1), the first key any query
// of the block sees beyond it. Packed rows skip the keys of the samples
// before the block's, which no query of it sees.
func blockKeys(first, pre []int32) (pl, k0 int) {
	f, p := first[0], pre[0]
	for i := range first {
		f, p = min(f, first[i]), max(p, pre[i])
	}
	k0 = max(int(f), 0)
	if p > 0 {
		if k0 <= int(p) {
			return 0, 0
		}
		return int(p), k0
	}
	return 0, k0
}

// keyRange is a run of n keys starting at key whose scores sit in columns
// col… of a block's score rows.
type keyRange struct{ col, key, n int }

// blockRanges lists the key runs of a block of queries [i0, i1) from
// blockKeys: the shared prefix, if apart, then [k0, i1).
func blockRanges(rs *[2]keyRange, pl, k0, i1 int) []keyRange {
	if pl == 0 {
		rs[0] = keyRange{0, k0, i1 - k0}
		return rs[:1]
	}
	rs[0], rs[1] = keyRange{0, 0, pl}, keyRange{pl, k0, i1 - k0}
	return rs[:2]
}

// maskScores sets to −Inf the scores row[j] of query i's keys k0+j that
// the mask ms[off:] hides (see hidden), so that exp turns them into 0.
func maskScores(row []float32, ms []int32, off, i, k0 int) {
	negInf := float32(math.Inf(-1))
	qs := ms[off+i]
	for j, m := range ms[off+k0 : off+k0+len(row)] {
		if m == 0 || (qs != 0 && m != qs && m > 0) {
			row[j] = negInf
		}
	}
}

// softmaxRows turns the scores of query rows [i0,i1) of a batch row into
// probabilities in place, honouring causality and the mask ms (that row's
// t entries, or nil), and writes each row's log-sum-exp (−Inf for a query
// that sees no key). Row i is s[(i−i0)·ld:], whose first pl+i1−k0 entries
// are the scores of keys [0, pl) then [k0, i1) (blockKeys). A query whose
// keys are a prefix and an interval (first[i] ≥ 0) exponentiates those
// only and clears the rest: exponentials of masked (−Inf) scores are
// zeros, but slow ones (an underflow per element) besides wasted.
func softmaxRows(s []float32, ld, i0, i1, pl, k0 int, first, pre, ms []int32, lse []float32) {
	negInf := float32(math.Inf(-1))
	shift := pl - k0 // column of key j ≥ k0
	for i := i0; i < i1; i++ {
		row := s[(i-i0)*ld:][:i1+shift]
		if f := int(first[i]); f >= 0 {
			shared := row[:pre[i]]
			vis := row[f+shift : i+shift+1]
			mx := maxF32(vis)
			if len(shared) > 0 {
				mx = max(mx, maxF32(shared))
			}
			sum := expSubSum(vis, vis, mx)
			if len(shared) > 0 {
				sum += expSubSum(shared, shared, mx)
				scaleF32(shared, 1/sum)
			}
			clear(row[len(shared) : f+shift])
			clear(row[i+shift+1:])
			scaleF32(vis, 1/sum)
			lse[i] = mx + float32(math.Log(float64(sum)))
			continue
		}
		// Masked queries come only in blocks without a separate prefix
		// (pl = 0): column j is key k0+j.
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
		first, pre := make([]int32, t), make([]int32, t)
		var rb [2]keyRange
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			rm := rowMask(ms, bi, t)
			keySpans(first, pre, rm)
			koff := func(key int) int { return ((bi*t+key)*hkv + kh) * d }
			for g := 0; g < group; g++ {
				h := kh*group + g
				for i0 := 0; i0 < t; i0 += attnBlock {
					i1 := min(i0+attnBlock, t)
					pl, k0 := blockKeys(first[i0:i1], pre[i0:i1])
					rs := blockRanges(&rb, pl, k0, i1)
					qoff := ((bi*t+i0)*hq + h) * d
					// S (nb, keys) = scale·Q·Kᵀ over the block's key ranges
					for _, r := range rs {
						mm(false, true, i1-i0, r.n, d, scale, qs[qoff:], hq*d, ks[koff(r.key):], hkv*d, 0, s[r.col:], t)
					}
					softmaxRows(s, t, i0, i1, pl, k0, first, pre, rm, ls[(bi*hq+h)*t:][:t])
					// O (nb,D) = P·V, summed over the ranges
					for n, r := range rs {
						mm(false, false, i1-i0, d, r.n, 1, s[r.col:], t, vs[koff(r.key):], hkv*d, float32(min(n, 1)), os[qoff:], hq*d)
					}
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
		first, pre := make([]int32, t), make([]int32, t)
		var rb [2]keyRange
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			rm := rowMask(ms, bi, t)
			keySpans(first, pre, rm)
			koff := func(key int) int { return ((bi*t+key)*hkv + kh) * d }
			for g := 0; g < group; g++ {
				h := kh*group + g
				lse := ls[(bi*hq+h)*t:][:t]
				for i0 := 0; i0 < t; i0 += attnBlock {
					i1 := min(i0+attnBlock, t)
					nb := i1 - i0
					pl, k0 := blockKeys(first[i0:i1], pre[i0:i1])
					rs := blockRanges(&rb, pl, k0, i1)
					shift := pl - k0 // column of key j ≥ k0
					nk := i1 + shift // score columns
					qoff := ((bi*t+i0)*hq + h) * d
					// Recompute P from the saved log-sum-exp.
					for _, r := range rs {
						mm(false, true, nb, r.n, d, scale, qs[qoff:], hq*d, ks[koff(r.key):], hkv*d, 0, p[r.col:], t)
					}
					for i := i0; i < i1; i++ {
						row := p[(i-i0)*t:][:nk]
						l := lse[i]
						if math.IsInf(float64(l), -1) {
							clear(row)
							continue
						}
						vis := row[:i+shift+1]
						if f := int(first[i]); f >= 0 {
							shared := vis[:pre[i]]
							expSubSum(shared, shared, l)
							clear(vis[len(shared) : f+shift])
							vis = vis[f+shift:]
						} else {
							maskScores(vis, rm, 0, i, k0)
						}
						expSubSum(vis, vis, l)
						clear(row[i+shift+1:])
					}
					for _, r := range rs {
						// dV (n,D) += Pᵀ (n,nb) · dO (nb,D)
						mm(true, false, r.n, d, nb, 1, p[r.col:], t, dos[qoff:], hq*d, 1, dvs[koff(r.key):], hkv*d)
						// dP (nb,n) = dO (nb,D) · Vᵀ
						mm(false, true, nb, r.n, d, 1, dos[qoff:], hq*d, vs[koff(r.key):], hkv*d, 0, dp[r.col:], t)
					}
					for i := i0; i < i1; i++ {
						dor, or := dos[qoff+(i-i0)*hq*d:][:d], os[qoff+(i-i0)*hq*d:][:d]
						var delta float32
						for x := range dor {
							delta += dor[x] * or[x]
						}
						dsRowF32(dp[(i-i0)*t:][:nk], p[(i-i0)*t:][:nk], delta, scale)
					}
					for n, r := range rs {
						// dQ (nb,D) = dS (nb,n) · K (n,D), summed over the ranges; dK (n,D) += dSᵀ · Q (nb,D)
						mm(false, false, nb, d, r.n, 1, dp[r.col:], t, ks[koff(r.key):], hkv*d, float32(min(n, 1)), dqs[qoff:], hq*d)
						mm(true, false, r.n, d, nb, 1, dp[r.col:], t, qs[qoff:], hq*d, 1, dks[koff(r.key):], hkv*d)
					}
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
