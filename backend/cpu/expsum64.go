package cpu

import "math"

// Host-side float64 softmax pieces for callers that work on rows they have
// downloaded (sample.Pick draws tokens from a step's logits): the results
// are bit for bit those of the plain scalar loops, so vectorising a caller
// changes nothing it computes — only how long it takes.

// ExpSum64 sets dst[i] = e^(float64(src[i])/t − m) for every i < len(src)
// and returns their sum, added in index order: exactly what the loop
//
//	for i, x := range src { e := math.Exp(float64(x)/t - m); dst[i] = e; sum += e }
//
// gives. The vector kernels evaluate math.Exp's own algorithm lane by lane
// (on amd64 the runtime's assembly with FMA; every level this package
// selects has FMA) and add the lanes one at a time; blocks whose exponent
// leaves the normal range (subnormal results, ±Inf, NaN) go through
// math.Exp itself.
func ExpSum64(dst []float64, src []float32, t, m float64) float64 {
	n := len(src)
	dst = dst[:n]
	var sum float64
	for i := 0; i < n; {
		var done int
		done, sum = expSum64Blocks(dst[i:], src[i:], t, m, sum)
		i += done
		// The block the kernel stopped at (or the tail, or everything on
		// the generic level), the scalar way.
		end := n
		if simd != simdGo {
			end = min(i+8, n)
		}
		for ; i < end; i++ {
			e := math.Exp(float64(src[i])/t - m)
			dst[i] = e
			sum += e
		}
	}
	return sum
}

// Div64 sets x[i] /= d (IEEE division, as the scalar loop).
func Div64(x []float64, d float64) {
	k := div64Blocks(x, d)
	for i := k; i < len(x); i++ {
		x[i] /= d
	}
}

// MaxF32 returns the largest element of a non-empty x. With a NaN in x the
// result is unspecified (a NaN or some element): callers shift by it and
// get NaN from the NaN element anyway.
func MaxF32(x []float32) float32 { return maxF32(x) }
