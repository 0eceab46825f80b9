//go:build !amd64

package cpu

func dot4(a, b []float32, ldb int, out *[4]float32) { dot4Go(a, b, ldb, out) }

// dot8 sets out[r] = scale·dot(a, b[r*ldb:][:len(a)]) for r = 0..7.
func dot8(a, b []float32, ldb int, scale float32, out *[8]float32) {
	dot4Go(a, b, ldb, (*[4]float32)(out[:4]))
	dot4Go(a, b[4*ldb:], ldb, (*[4]float32)(out[4:]))
	for r := range out {
		out[r] *= scale
	}
}

// dot8x2 is dot8 for two query rows over the same eight key rows.
func dot8x2(a0, a1, b []float32, ldb int, scale float32, out0, out1 *[8]float32) {
	dot8(a0, b, ldb, scale, out0)
	dot8(a1, b, ldb, scale, out1)
}
