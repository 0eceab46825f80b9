package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func dot4SSE(a, b *float32, ldb, n int, out *[4]float32)

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
