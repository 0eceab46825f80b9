//go:build !amd64

package cpu

func dot4(a, b []float32, ldb int, out *[4]float32) { dot4Go(a, b, ldb, out) }
