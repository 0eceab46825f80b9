package cpu

import "unsafe"

//go:noescape
func expSum64AVX512(dst *float64, src *float32, n int, t, m, sum float64) (done int, s float64)

//go:noescape
func expSum64AVX2(dst *float64, src *float32, n int, t, m, sum float64) (done int, s float64)

//go:noescape
func div64AVX512(x *float64, n int, d float64)

//go:noescape
func div64AVX2(x *float64, n int, d float64)

// expSum64Blocks runs ExpSum64's kernel over whole blocks of src from the
// start, stopping at the first block it cannot take; it returns how many
// elements it did and the running sum.
func expSum64Blocks(dst []float64, src []float32, t, m, sum float64) (int, float64) {
	switch simd {
	case simdAVX512:
		if k := len(src) &^ 7; k > 0 {
			return expSum64AVX512(unsafe.SliceData(dst), unsafe.SliceData(src), k, t, m, sum)
		}
	case simdAVX2:
		if k := len(src) &^ 3; k > 0 {
			return expSum64AVX2(unsafe.SliceData(dst), unsafe.SliceData(src), k, t, m, sum)
		}
	}
	return 0, sum
}

// div64Blocks divides the whole blocks of x and returns how many it did.
func div64Blocks(x []float64, d float64) int {
	switch simd {
	case simdAVX512:
		if k := len(x) &^ 7; k > 0 {
			div64AVX512(unsafe.SliceData(x), k, d)
			return k
		}
	case simdAVX2:
		if k := len(x) &^ 3; k > 0 {
			div64AVX2(unsafe.SliceData(x), k, d)
			return k
		}
	}
	return 0
}
