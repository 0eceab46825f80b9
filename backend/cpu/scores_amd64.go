package cpu

//go:noescape
func scoreRows8AVX512(q *float32, heads, d int, k *float32, ldk, chunks int, scale float32, dst *float32, ldd int)

//go:noescape
func scoreRows4AVX2(q *float32, heads, d int, k *float32, ldk, chunks int, scale float32, dst *float32, ldd int)

// scoreRowsSIMD computes scoreRows for the first keys in whole chunks of
// the level's kernel (eight keys at AVX-512, four at AVX2) and returns how
// many it did; scoreRows does the rest in Go. Head sizes that are not a
// multiple of the sixteen lanes take the Go path whole.
func scoreRowsSIMD(q []float32, heads, d int, k []float32, ldk, keys int, scale float32, dst []float32, ldd int) int {
	if d == 0 || d%scoreLanes != 0 {
		return 0
	}
	var chunk int
	switch simd {
	case simdAVX512:
		chunk = 8
	case simdAVX2:
		chunk = 4
	default:
		return 0
	}
	chunks := keys / chunk
	if chunks == 0 {
		return 0
	}
	if simd == simdAVX512 {
		scoreRows8AVX512(&q[0], heads, d, &k[0], ldk, chunks, scale, &dst[0], ldd)
	} else {
		scoreRows4AVX2(&q[0], heads, d, &k[0], ldk, chunks, scale, &dst[0], ldd)
	}
	return chunks * chunk
}
