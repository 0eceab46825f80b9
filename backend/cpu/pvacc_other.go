//go:build !amd64

package cpu

// pvAccSIMD: no vector kernel off amd64.
func pvAccSIMD(out, p, v []float32, stride int) bool { return false }

// pvAcc2SIMD: no vector kernel off amd64.
func pvAcc2SIMD(out, p []float32, pstride int, v []float32, n, stride int) bool { return false }
