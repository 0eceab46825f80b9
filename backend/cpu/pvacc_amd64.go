package cpu

//go:noescape
func pvAccAVX512(out, p, v *float32, n, stride, d int)

//go:noescape
func pvAccAVX2(out, p, v *float32, n, stride, d int)

// pvAcc adds Σ_j p[j]·v[j·stride:][:len(out)] to out, j in order: the PV
// sum of paged attention over one KV block. The vector kernels keep out
// in registers across the keys (one call per block instead of one axpy
// per key, which cost more in calls than in arithmetic at head_dim 32)
// and round exactly as len(p) axpyF32 calls do.
func pvAcc(out, p, v []float32, stride int) {
	d, n := len(out), len(p)
	if n == 0 || d == 0 {
		return
	}
	if stride < d || len(v) < (n-1)*stride+d {
		panic("cpu: pvAcc: value rows out of range")
	}
	switch {
	case simd == simdAVX512 && d%16 == 0:
		pvAccAVX512(ptr(out), ptr(p), ptr(v), n, stride, d)
	case simd == simdAVX2 && d%8 == 0:
		pvAccAVX2(ptr(out), ptr(p), ptr(v), n, stride, d)
	default:
		pvAccGo(out, p, v, stride)
	}
}
