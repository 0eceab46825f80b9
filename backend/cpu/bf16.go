package cpu

import (
	"math"

	"github.com/r1go/r1/tensor"
)

func bf16ToF32Go(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}

// f32ToBF16 rounds src into dst, to nearest even (tensor.F32ToBF16).
func f32ToBF16(dst []uint16, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = tensor.F32ToBF16(v)
	}
}
