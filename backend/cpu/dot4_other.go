//go:build !amd64

package cpu

func dot4(a, b []float32, ldb int, out *[4]float32) { dot4Go(a, b, ldb, out) }

func dot8(a, b []float32, ldb int, out *[8]float32) {
	dot4Go(a, b, ldb, (*[4]float32)(out[:4]))
	dot4Go(a, b[4*ldb:], ldb, (*[4]float32)(out[4:]))
}
