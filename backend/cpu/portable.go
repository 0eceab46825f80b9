package cpu

import "github.com/r1go/r1/backend/cpu/gemm"

// UsePortable switches every kernel of the CPU backend (GEMM and vector
// math) to its pure-Go version until the returned function restores the
// previous selection. Results are then the same bit for bit on every
// machine, whatever its SIMD level: the parity tests that compare a
// training run with golden digests rely on it. Not safe to call while
// kernels run.
func UsePortable() (restore func()) {
	prevSIMD, prevGemm := simd, gemm.Impl()
	simd = simdGo
	if err := gemm.SetImpl("generic"); err != nil {
		panic(err) // the generic kernel exists everywhere
	}
	return func() {
		simd = prevSIMD
		if err := gemm.SetImpl(prevGemm); err != nil {
			panic(err)
		}
	}
}
