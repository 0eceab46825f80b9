package cpu

import "math"

// Row kernels of the optimizer, RMSNorm and the attention backward pass.
// The assembly versions (vmath2_*_amd64.s, both written from the template
// in gen_vmath2.go) handle whole vectors and the wrappers finish the tail
// with these Go loops, which are also the reference in the tests.

// adamConsts are the per-step scalars of AdamW, passed to the assembly by
// pointer in this order.
type adamConsts struct {
	beta1, omb1, beta2, omb2, sqrtBC2, eps, decay, stepSize float32
}

// adamwGo is PyTorch's AdamW element update: m, v moments, then
// p ← p·decay − stepSize·m/(√v/√bc2 + eps).
func adamwGo(p, g, m, v []float32, c *adamConsts) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	for i := range p {
		gi := g[i]
		m[i] = c.beta1*m[i] + c.omb1*gi
		v[i] = c.beta2*v[i] + c.omb2*gi*gi
		denom := sqrt32(v[i])/c.sqrtBC2 + c.eps
		p[i] = p[i]*c.decay - c.stepSize*m[i]/denom
	}
}

// dsRowGo sets dp = p·(dp − delta)·scale: a row of the softmax backward.
func dsRowGo(dp, p []float32, delta, scale float32) {
	p = p[:len(dp)]
	for j := range dp {
		dp[j] = p[j] * (dp[j] - delta) * scale
	}
}

// sumSqGo returns Σ x² in float32.
func sumSqGo(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v * v
	}
	return s
}

// mulScaleGo sets o = x·r·w (the RMSNorm output row).
func mulScaleGo(o, x, w []float32, r float32) {
	x, w = x[:len(o)], w[:len(o)]
	for j := range o {
		o[j] = x[j] * r * w[j]
	}
}

// rmsBwdDotGo adds dy·x̂ to acc (x̂ = x·r) and returns Σ dy·w·x̂.
func rmsBwdDotGo(acc, dy, x, w []float32, r float32) float32 {
	n := len(acc)
	dy, x, w = dy[:n], x[:n], w[:n]
	var dot float32
	for j := range acc {
		xh := x[j] * r
		dot += dy[j] * w[j] * xh
		acc[j] += dy[j] * xh
	}
	return dot
}

// rmsBwdDxGo sets dx = r·(dy·w − x·r·dot).
func rmsBwdDxGo(dx, dy, x, w []float32, r, dot float32) {
	n := len(dx)
	dy, x, w = dy[:n], x[:n], w[:n]
	for j := range dx {
		dx[j] = r * (dy[j]*w[j] - x[j]*r*dot)
	}
}

// sqrt32 is the correctly rounded float32 square root (what VSQRTPS gives).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
