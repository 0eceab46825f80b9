package cpu

import (
	"math"

	"github.com/r1go/r1/backend/cpu/gemm"
)

// The float32 attention kernels run each (batch, head) as GEMMs over a T×T
// score block per worker: S = scale·Q·Kᵀ, P = masked softmax(S), O = P·V,
// and in the backward pass dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − Δ),
// dQ = dS·K, dK += dSᵀ·Q. The strided (B,T,H,D) layout is addressed through
// the GEMM's leading dimensions, so nothing is transposed or copied. The T×T
// block (T² floats per worker) is CPU-only scratch; the CUDA kernel is
// flash-style and never holds it. The generic kernels in attention.go stay
// as the float64 reference that these are tested against.

// softmaxRows turns scores s (T,T) into probabilities in place for query
// rows of batch row bi, honouring causality and the padding mask, and
// writes each row's log-sum-exp (−Inf for a query that sees no key).
func softmaxRows(s []float32, t int, ms []int32, bi int, lse []float32) {
	for i := 0; i < t; i++ {
		row := s[i*t : (i+1)*t]
		mx := float32(math.Inf(-1))
		for j := 0; j <= i; j++ {
			if ms != nil && ms[bi*t+j] == 0 {
				continue
			}
			mx = max(mx, row[j])
		}
		if math.IsInf(float64(mx), -1) {
			clear(row)
			lse[i] = mx
			continue
		}
		var sum float32
		for j := 0; j <= i; j++ {
			if ms != nil && ms[bi*t+j] == 0 {
				row[j] = 0
				continue
			}
			p := expf(row[j] - mx)
			row[j] = p
			sum += p
		}
		clear(row[i+1:])
		inv := 1 / sum
		for j := 0; j <= i; j++ {
			row[j] *= inv
		}
		lse[i] = mx + float32(math.Log(float64(sum)))
	}
}

func attentionF32(os, ls, qs, ks, vs []float32, ms []int32, b, t, hq, hkv, d int, scale float32) {
	group := hq / hkv
	parallel(b*hkv, 1, func(lo, hi int) {
		s := make([]float32, t*t)
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			koff := (bi*t*hkv + kh) * d
			for g := 0; g < group; g++ {
				h := kh*group + g
				qoff := (bi*t*hq + h) * d
				gemm.Sgemm(false, true, t, t, d, scale, qs[qoff:], hq*d, ks[koff:], hkv*d, 0, s, t)
				softmaxRows(s, t, ms, bi, ls[(bi*hq+h)*t:][:t])
				gemm.Sgemm(false, false, t, d, t, 1, s, t, vs[koff:], hkv*d, 0, os[qoff:], hq*d)
			}
		}
	})
}

func attentionBackwardF32(dqs, dks, dvs, dos, os, ls, qs, ks, vs []float32, ms []int32, b, t, hq, hkv, d int, scale float32) {
	group := hq / hkv
	clear(dks)
	clear(dvs)
	parallel(b*hkv, 1, func(lo, hi int) {
		p := make([]float32, t*t)
		dp := make([]float32, t*t)
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			koff := (bi*t*hkv + kh) * d
			for g := 0; g < group; g++ {
				h := kh*group + g
				qoff := (bi*t*hq + h) * d
				lse := ls[(bi*hq+h)*t:][:t]
				// Recompute P from the saved log-sum-exp.
				gemm.Sgemm(false, true, t, t, d, scale, qs[qoff:], hq*d, ks[koff:], hkv*d, 0, p, t)
				for i := 0; i < t; i++ {
					row := p[i*t : (i+1)*t]
					l := lse[i]
					if math.IsInf(float64(l), -1) {
						clear(row)
						continue
					}
					for j := 0; j <= i; j++ {
						if ms != nil && ms[bi*t+j] == 0 {
							row[j] = 0
						} else {
							row[j] = expf(row[j] - l)
						}
					}
					clear(row[i+1:])
				}
				// dV (T,D) += Pᵀ (T,T) · dO (T,D)
				gemm.Sgemm(true, false, t, d, t, 1, p, t, dos[qoff:], hq*d, 1, dvs[koff:], hkv*d)
				// dP (T,T) = dO (T,D) · Vᵀ
				gemm.Sgemm(false, true, t, t, d, 1, dos[qoff:], hq*d, vs[koff:], hkv*d, 0, dp, t)
				for i := 0; i < t; i++ {
					dor, or := dos[qoff+i*hq*d:][:d], os[qoff+i*hq*d:][:d]
					var delta float32
					for x := range dor {
						delta += dor[x] * or[x]
					}
					pr, dpr := p[i*t:(i+1)*t], dp[i*t:(i+1)*t]
					for j := range pr {
						dpr[j] = pr[j] * (dpr[j] - delta) * scale
					}
				}
				// dQ (T,D) = dS (T,T) · K (T,D); dK (T,D) += dSᵀ · Q
				gemm.Sgemm(false, false, t, d, t, 1, dp, t, ks[koff:], hkv*d, 0, dqs[qoff:], hq*d)
				gemm.Sgemm(true, false, t, d, t, 1, dp, t, qs[qoff:], hq*d, 1, dks[koff:], hkv*d)
			}
		}
	})
}
