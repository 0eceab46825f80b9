package cpu

//go:noescape
func pvAccAVX512(out, p, v *float32, n, stride, d int)

//go:noescape
func pvAccAVX2(out, p, v *float32, n, stride, d int)

// pvAccSIMD runs pvAcc's vector kernel for this CPU's level and head size
// and reports whether there was one. The kernels keep out in registers
// across the keys (one call per block instead of one axpy per key, which
// cost more in calls than in arithmetic at head_dim 32) and round exactly
// as len(p) axpyF32 calls do.
func pvAccSIMD(out, p, v []float32, stride int) bool {
	d, n := len(out), len(p)
	switch {
	case simd == simdAVX512 && d%16 == 0:
		pvAccAVX512(ptr(out), ptr(p), ptr(v), n, stride, d)
	case simd == simdAVX2 && d%8 == 0:
		pvAccAVX2(ptr(out), ptr(p), ptr(v), n, stride, d)
	default:
		return false
	}
	return true
}

//go:noescape
func pvAcc2AVX512(out, p *float32, pstride int, v *float32, n, stride, d int)

//go:noescape
func pvAcc2AVX2(out, p *float32, pstride int, v *float32, n, stride, d int)

// pvAcc2SIMD is pvAccSIMD for two heads at once: out[0:d] with the
// weights p[0:n], out[d:2d] with p[pstride:pstride+n], both over the same
// value rows; each output rounds as pvAcc's. It reports whether there was
// a kernel for this level and head size.
func pvAcc2SIMD(out, p []float32, pstride int, v []float32, n, stride int) bool {
	d := len(out) / 2
	switch {
	case simd == simdAVX512 && d%16 == 0:
		pvAcc2AVX512(ptr(out), ptr(p), pstride, ptr(v), n, stride, d)
	case simd == simdAVX2 && d%8 == 0:
		pvAcc2AVX2(ptr(out), ptr(p), pstride, ptr(v), n, stride, d)
	default:
		return false
	}
	return true
}
