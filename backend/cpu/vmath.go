package cpu

// Slice-level float32 math for the hot loops of the float32 kernels. On
// amd64 these run in Go assembly (vmath_*_amd64.s: AVX-512 or AVX2+FMA,
// chosen at start-up); elsewhere, and as the reference the assembly is
// tested against, they run the pure-Go loops below. All of them compute
// e^x as expf does (≤ 2–3 ulp, +Inf above ~88.72, subnormals down to
// −103.9, NaN in → NaN out), so that softmax masking with −Inf keeps
// working: e^(−Inf) = 0.

// expSubSumGo sets dst[i] = e^(src[i]−m) and returns Σ dst.
func expSubSumGo(dst, src []float32, m float32) float32 {
	dst = dst[:len(src)]
	var s float32
	for i, x := range src {
		e := expf(x - m)
		dst[i] = e
		s += e
	}
	return s
}

// expSumDotGo returns Σ e^(x−m) and Σ e^(x−m)·(x−m) without storing the
// exponentials: the two sums logsumexp and entropy need.
func expSumDotGo(src []float32, m float32) (s, sz float32) {
	for _, x := range src {
		d := x - m
		e := expf(d)
		s += e
		sz += e * d
	}
	return s, sz
}

// maxGo returns the largest element of a non-empty x.
func maxGo(x []float32) float32 {
	m := x[0]
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// swigluGo sets o = silu(g)·u = g·u/(1+e^−g).
func swigluGo(o, g, u []float32) {
	o, u = o[:len(g)], u[:len(g)]
	for i, gi := range g {
		o[i] = gi * u[i] / (1 + expf(-gi))
	}
}

// swigluBackwardGo sets du = d·silu(g) and dg = d·u·σ(g)·(1+g·(1−σ(g))).
func swigluBackwardGo(dg, du, d, g, u []float32) {
	n := len(g)
	dg, du, d, u = dg[:n], du[:n], d[:n], u[:n]
	for i, gi := range g {
		sig := 1 / (1 + expf(-gi))
		ds := d[i] * sig
		du[i] = ds * gi
		dg[i] = ds * u[i] * (1 + gi*(1-sig))
	}
}

// lsmBackwardGo overwrites a row of logits x with e^(x−l)·(ng + nge·(x−l+h)):
// the log-softmax gradient −g·p − ge·p·(log p + H) with ng = −g, nge = −ge.
func lsmBackwardGo(row []float32, l, ng, nge, h float32) {
	for j, x := range row {
		logp := x - l
		p := expf(logp)
		if p == 0 {
			row[j] = 0 // a −Inf logit: no gradient (0·−Inf is NaN)
			continue
		}
		row[j] = p * (ng + nge*(logp+h))
	}
}

// scaleGo sets x *= s.
func scaleGo(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// axpyGo sets y += a·x. The vector versions fuse the multiply-add, so
// they round once where this rounds twice.
func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// addGo sets o = a + b (o may alias a or b).
func addGo(o, a, b []float32) {
	a, b = a[:len(o)], b[:len(o)]
	for i := range o {
		o[i] = a[i] + b[i]
	}
}

// levelNames are the vector-math levels, indexed by simdGo, simdAVX2,
// simdAVX512 (only the first exists off amd64).
var levelNames = [...]string{"generic", "avx2", "avx512"}

// SIMD names the vector-math level chosen at start-up: the best this CPU
// supports, or the one the environment variable R1_SIMD caps it to
// (generic, avx2 or avx512; R1_SIMD also picks the GEMM kernel unless
// R1_GEMM names one).
func SIMD() string { return levelNames[simd] }
