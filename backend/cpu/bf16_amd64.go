package cpu

//go:noescape
func bf16ToF32AVX2(dst *float32, src *uint16, n int)

// bf16ToF32 widens src into dst (exact: a bfloat16 is an f32's top half).
func bf16ToF32(dst []float32, src []uint16) {
	src = src[:len(dst)]
	i := 0
	if simd != simdGo && len(dst) >= 16 {
		i = len(dst) &^ 15
		bf16ToF32AVX2(&dst[0], &src[0], i)
	}
	bf16ToF32Go(dst[i:], src[i:])
}
