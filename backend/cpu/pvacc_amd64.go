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
