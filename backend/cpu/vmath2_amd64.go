package cpu

//go:noescape
func adamwAVX512(p, gr, m, v *float32, n int, c *adamConsts)

//go:noescape
func dsRowAVX512(dp, p *float32, n int, delta, scale float32)

//go:noescape
func sumSqAVX512(x *float32, n int) float32

//go:noescape
func mulScaleAVX512(o, x, w *float32, n int, r float32)

//go:noescape
func rmsBwdDotAVX512(acc, dy, x, w *float32, n int, r float32) float32

//go:noescape
func rmsBwdDxAVX512(dx, dy, x, w *float32, n int, r, dot float32)

//go:noescape
func adamwAVX2(p, gr, m, v *float32, n int, c *adamConsts)

//go:noescape
func dsRowAVX2(dp, p *float32, n int, delta, scale float32)

//go:noescape
func sumSqAVX2(x *float32, n int) float32

//go:noescape
func mulScaleAVX2(o, x, w *float32, n int, r float32)

//go:noescape
func rmsBwdDotAVX2(acc, dy, x, w *float32, n int, r float32) float32

//go:noescape
func rmsBwdDxAVX2(dx, dy, x, w *float32, n int, r, dot float32)

// vecLen returns how many leading elements of an n-element row the
// assembly handles (whole vectors), or 0 for the pure-Go level.
func vecLen(n int) int {
	switch simd {
	case simdAVX512:
		return n &^ 15
	case simdAVX2:
		return n &^ 7
	}
	return 0
}

// adamwF32: see adamwGo. Bit-for-bit equal to it at every level.
func adamwF32(p, g, m, v []float32, c *adamConsts) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	if k := vecLen(n); k > 0 {
		if simd == simdAVX512 {
			adamwAVX512(ptr(p), ptr(g), ptr(m), ptr(v), k, c)
		} else {
			adamwAVX2(ptr(p), ptr(g), ptr(m), ptr(v), k, c)
		}
		p, g, m, v = p[k:], g[k:], m[k:], v[k:]
	}
	adamwGo(p, g, m, v, c)
}

// dsRowF32: see dsRowGo. Bit-for-bit equal to it at every level.
func dsRowF32(dp, p []float32, delta, scale float32) {
	n := len(dp)
	p = p[:n]
	if k := vecLen(n); k > 0 {
		if simd == simdAVX512 {
			dsRowAVX512(ptr(dp), ptr(p), k, delta, scale)
		} else {
			dsRowAVX2(ptr(dp), ptr(p), k, delta, scale)
		}
		dp, p = dp[k:], p[k:]
	}
	dsRowGo(dp, p, delta, scale)
}

// sumSqF32: see sumSqGo (summed in vector lanes, so rounding differs).
func sumSqF32(x []float32) float32 {
	var s float32
	if k := vecLen(len(x)); k > 0 {
		if simd == simdAVX512 {
			s = sumSqAVX512(ptr(x), k)
		} else {
			s = sumSqAVX2(ptr(x), k)
		}
		x = x[k:]
	}
	return s + sumSqGo(x)
}

// mulScaleF32: see mulScaleGo. Bit-for-bit equal to it at every level.
func mulScaleF32(o, x, w []float32, r float32) {
	n := len(o)
	x, w = x[:n], w[:n]
	if k := vecLen(n); k > 0 {
		if simd == simdAVX512 {
			mulScaleAVX512(ptr(o), ptr(x), ptr(w), k, r)
		} else {
			mulScaleAVX2(ptr(o), ptr(x), ptr(w), k, r)
		}
		o, x, w = o[k:], x[k:], w[k:]
	}
	mulScaleGo(o, x, w, r)
}

// rmsBwdDotF32: see rmsBwdDotGo (the dot is summed in vector lanes).
func rmsBwdDotF32(acc, dy, x, w []float32, r float32) float32 {
	n := len(acc)
	dy, x, w = dy[:n], x[:n], w[:n]
	var dot float32
	if k := vecLen(n); k > 0 {
		if simd == simdAVX512 {
			dot = rmsBwdDotAVX512(ptr(acc), ptr(dy), ptr(x), ptr(w), k, r)
		} else {
			dot = rmsBwdDotAVX2(ptr(acc), ptr(dy), ptr(x), ptr(w), k, r)
		}
		acc, dy, x, w = acc[k:], dy[k:], x[k:], w[k:]
	}
	return dot + rmsBwdDotGo(acc, dy, x, w, r)
}

// rmsBwdDxF32: see rmsBwdDxGo. Bit-for-bit equal to it at every level.
func rmsBwdDxF32(dx, dy, x, w []float32, r, dot float32) {
	n := len(dx)
	dy, x, w = dy[:n], x[:n], w[:n]
	if k := vecLen(n); k > 0 {
		if simd == simdAVX512 {
			rmsBwdDxAVX512(ptr(dx), ptr(dy), ptr(x), ptr(w), k, r, dot)
		} else {
			rmsBwdDxAVX2(ptr(dx), ptr(dy), ptr(x), ptr(w), k, r, dot)
		}
		dx, dy, x, w = dx[k:], dy[k:], x[k:], w[k:]
	}
	rmsBwdDxGo(dx, dy, x, w, r, dot)
}
