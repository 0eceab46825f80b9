package cpu

import (
	"fmt"
	"math"

	"github.com/r1go/r1/tensor"
)

// attnDims unpacks and checks the shapes of an attention call.
func attnDims(q, k, v, out, lse *tensor.Tensor) (b, t, hq, hkv, d int) {
	b, t, hq, d = q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	hkv = k.Shape[2]
	if len(k.Shape) != 4 || k.Shape[0] != b || k.Shape[1] != t || k.Shape[3] != d || !tensor.SameShape(k.Shape, v.Shape) ||
		hkv == 0 || hq%hkv != 0 || !tensor.SameShape(out.Shape, q.Shape) || lse.Numel() != b*hq*t {
		panic(fmt.Sprintf("cpu: Attention q%v k%v v%v out%v lse%v", q.Shape, k.Shape, v.Shape, out.Shape, lse.Shape))
	}
	return
}

// Attention is causal GQA with a padding mask; one worker per (batch, kv
// head) group so that the backward pass can accumulate dk/dv without races.
// Scores are computed two passes per query (max, then exp-sum), exactly like
// the flash-attention recurrence but with the row kept whole on the CPU.
func (*Backend) Attention(out, lse, q, k, v, mask *tensor.Tensor, scale float32) {
	b, t, hq, hkv, d := attnDims(q, k, v, out, lse)
	if isF64(out) {
		attention(f64(out), f64(lse), f64(q), f64(k), f64(v), i32(mask), b, t, hq, hkv, d, float64(scale))
		return
	}
	attentionF32(f32(out), f32(lse), f32(q), f32(k), f32(v), i32(mask), b, t, hq, hkv, d, scale)
}

// hidden reports whether the mask ms (B,T) hides key j from query i of the
// batch row starting at off. Mask values are segment ids: 0 is padding,
// never seen; a query sees only keys of its own segment, so several
// samples packed into one row do not attend to each other. A 0/1 padding
// mask is the one-segment case. A negative id marks a shared prefix, seen
// by every query after it: one copy of a prompt followed by the samples
// drawn from it. (A padding query, ms[i] = 0, sees every real key, as
// before segments existed; its output is never used.)
func hidden(ms []int32, off, i, j int) bool {
	if ms == nil {
		return false
	}
	k, qs := ms[off+j], ms[off+i]
	return k == 0 || (qs != 0 && k != qs && k > 0)
}

func attention[T float](os, ls, qs, ks, vs []T, ms []int32, b, t, hq, hkv, d int, scale T) {
	group := hq / hkv
	parallel(b*hkv, 1, func(lo, hi int) {
		scores := make([]T, t)
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			for g := 0; g < group; g++ {
				h := kh*group + g
				for i := 0; i < t; i++ {
					qrow := qs[((bi*t+i)*hq+h)*d:][:d]
					orow := os[((bi*t+i)*hq+h)*d:][:d]
					mx := T(math.Inf(-1))
					for j := 0; j <= i; j++ {
						if hidden(ms, bi*t, i, j) {
							continue
						}
						krow := ks[((bi*t+j)*hkv+kh)*d:][:d]
						var s T
						for x := range qrow {
							s += qrow[x] * krow[x]
						}
						s *= scale
						scores[j] = s
						if s > mx {
							mx = s
						}
					}
					clear(orow)
					if math.IsInf(float64(mx), -1) { // no visible key
						ls[(bi*hq+h)*t+i] = T(math.Inf(-1))
						continue
					}
					var sum T
					for j := 0; j <= i; j++ {
						if hidden(ms, bi*t, i, j) {
							continue
						}
						p := T(math.Exp(float64(scores[j] - mx)))
						sum += p
						vrow := vs[((bi*t+j)*hkv+kh)*d:][:d]
						for x := range orow {
							orow[x] += p * vrow[x]
						}
					}
					inv := 1 / sum
					for x := range orow {
						orow[x] *= inv
					}
					ls[(bi*hq+h)*t+i] = mx + T(math.Log(float64(sum)))
				}
			}
		}
	})
}

// AttentionBackward recomputes p_ij = exp(s_ij − lse_i) and applies
//
//	dv_j += Σ_i p_ij·dout_i
//	dS_ij = p_ij·(dout_i·v_j − dout_i·out_i)
//	dq_i = scale·Σ_j dS_ij·k_j,  dk_j += scale·Σ_i dS_ij·q_i.
func (*Backend) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, mask *tensor.Tensor, scale float32) {
	b, t, hq, hkv, d := attnDims(q, k, v, out, lse)
	if isF64(dq) {
		attentionBackward(f64(dq), f64(dk), f64(dv), f64(dout), f64(out), f64(lse), f64(q), f64(k), f64(v), i32(mask), b, t, hq, hkv, d, float64(scale))
		return
	}
	attentionBackwardF32(f32(dq), f32(dk), f32(dv), f32(dout), f32(out), f32(lse), f32(q), f32(k), f32(v), i32(mask), b, t, hq, hkv, d, scale)
}

func attentionBackward[T float](dqs, dks, dvs, dos, os, ls, qs, ks, vs []T, ms []int32, b, t, hq, hkv, d int, scale T) {
	group := hq / hkv
	clear(dqs)
	clear(dks)
	clear(dvs)
	parallel(b*hkv, 1, func(lo, hi int) {
		for bk := lo; bk < hi; bk++ {
			bi, kh := bk/hkv, bk%hkv
			for g := 0; g < group; g++ {
				h := kh*group + g
				for i := 0; i < t; i++ {
					l := ls[(bi*hq+h)*t+i]
					if math.IsInf(float64(l), -1) {
						continue
					}
					off := ((bi*t+i)*hq + h) * d
					qrow, dorow, orow, dqrow := qs[off:][:d], dos[off:][:d], os[off:][:d], dqs[off:][:d]
					var delta T
					for x := range dorow {
						delta += dorow[x] * orow[x]
					}
					for j := 0; j <= i; j++ {
						if hidden(ms, bi*t, i, j) {
							continue
						}
						koff := ((bi*t+j)*hkv + kh) * d
						krow, vrow := ks[koff:][:d], vs[koff:][:d]
						var s, dp T
						for x := range qrow {
							s += qrow[x] * krow[x]
							dp += dorow[x] * vrow[x]
						}
						p := T(math.Exp(float64(s*scale - l)))
						ds := p * (dp - delta) * scale
						dkrow, dvrow := dks[koff:][:d], dvs[koff:][:d]
						for x := range qrow {
							dvrow[x] += p * dorow[x]
							dqrow[x] += ds * krow[x]
							dkrow[x] += ds * qrow[x]
						}
					}
				}
			}
		}
	})
}
