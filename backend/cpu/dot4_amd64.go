package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func dot4SSE(a, b *float32, ldb, n int, out *[4]float32)

//go:noescape
func dot8AVX(a, b *float32, ldb, n int, scale float32, out *[8]float32)

// hasDot4 says dot4SSE can run (HADDPS is SSE3).
var hasDot4 = cpu.X86.HasSSE3

// dot4 sets out[r] = dot(a, b[r*ldb:][:len(a)]) for r = 0..3, bit for bit
// the Go dot of each row, four rows at once.
func dot4(a, b []float32, ldb int, out *[4]float32) {
	n := len(a)
	if !hasDot4 || n%4 != 0 || n == 0 {
		dot4Go(a, b, ldb, out)
		return
	}
	_ = b[3*ldb+n-1] // the assembly reads rows 0..3 of n elements
	dot4SSE(&a[0], &b[0], ldb, n, out)
}

// dot8 sets out[r] = scale·dot(a, b[r*ldb:][:len(a)]) for r = 0..7 (each
// product rounded once, as Go's scale*dot): paged attention's scores of
// eight keys, written where they go. Eight rows at once on the AVX levels.
func dot8(a, b []float32, ldb int, scale float32, out *[8]float32) {
	n := len(a)
	if simd == simdGo || n%4 != 0 || n == 0 {
		dot4(a, b, ldb, (*[4]float32)(out[:4]))
		dot4(a, b[4*ldb:], ldb, (*[4]float32)(out[4:]))
		for r := range out {
			out[r] *= scale
		}
		return
	}
	_ = b[7*ldb+n-1] // the assembly reads rows 0..7 of n elements
	dot8AVX(&a[0], &b[0], ldb, n, scale, out)
}

//go:noescape
func dot8x2AVX(a0, a1, b *float32, ldb, n int, scale float32, out0, out1 *[8]float32)

// dot8x2 is dot8 for two query rows over the same eight key rows: out0
// for a0, out1 for a1, the same bits as two dot8 calls.
func dot8x2(a0, a1, b []float32, ldb int, scale float32, out0, out1 *[8]float32) {
	n := len(a0)
	if simd == simdGo || n%4 != 0 || n == 0 {
		dot8(a0, b, ldb, scale, out0)
		dot8(a1, b, ldb, scale, out1)
		return
	}
	_ = a1[n-1]
	_ = b[7*ldb+n-1] // the assembly reads rows 0..7 of n elements
	dot8x2AVX(&a0[0], &a1[0], &b[0], ldb, n, scale, out0, out1)
}
