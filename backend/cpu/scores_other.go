//go:build !amd64

package cpu

// scoreRowsSIMD has no kernel here: scoreRows computes every key.
func scoreRowsSIMD(q []float32, heads, d int, k []float32, ldk, keys int, scale float32, dst []float32, ldd int) int {
	return 0
}
