//go:build !amd64

package cpu

// bf16ToF32 widens src into dst (exact: a bfloat16 is an f32's top half).
func bf16ToF32(dst []float32, src []uint16) { bf16ToF32Go(dst, src) }
