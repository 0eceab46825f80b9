// Package tensor defines device-resident tensors, their element types and
// the Backend interface that every compute device implements.
package tensor

import (
	"fmt"
	"math"
)

// DType is a tensor element type.
type DType uint8

const (
	F32  DType = iota // IEEE-754 binary32
	BF16              // bfloat16: the top 16 bits of an f32
	F16               // IEEE-754 binary16
	I32               // int32: token ids, positions and masks
	F64               // float64: the CPU backend's gradient-check precision
)

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case F32, I32:
		return 4
	case F64:
		return 8
	}
	return 2
}

// String is the safetensors spelling of the type ("F32", "BF16", "F16").
func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case BF16:
		return "BF16"
	case F16:
		return "F16"
	case I32:
		return "I32"
	case F64:
		return "F64"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// ParseDType accepts safetensors names (F32, BF16, F16) and HF config names
// (float32, bfloat16, float16).
func ParseDType(s string) (DType, error) {
	switch s {
	case "F32", "float32", "fp32":
		return F32, nil
	case "BF16", "bfloat16", "bf16":
		return BF16, nil
	case "F16", "float16", "fp16", "half":
		return F16, nil
	}
	return 0, fmt.Errorf("unsupported dtype %q (want F32, BF16 or F16)", s)
}

// F32ToBF16 rounds to nearest, ties to even; NaN stays a (quiet) NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep sign, force a mantissa bit
		return uint16(b>>16) | 0x40
	}
	// Adding 0x7fff plus the lowest kept bit rounds half to even.
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BF16ToF32 is exact.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToF16 rounds to nearest, ties to even, with subnormals, overflow to
// infinity and NaN preserved.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp == 0 && mant == 0:
		return sign
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 { // subnormal in f16 (or underflow to zero)
		if e < -10 {
			return sign
		}
		m := mant | 0x800000 // implicit 1
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & ((1 << shift) - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the right result (up to Inf)
	}
	return sign | uint16(r)
}

// F16ToF32 is exact.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: normalise.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// DecodeF32 converts little-endian raw bytes of dtype d into dst
// (len(dst) elements).
func DecodeF32(dst []float32, raw []byte, d DType) error {
	n := len(dst)
	if len(raw) != n*d.Size() {
		return fmt.Errorf("%d bytes of %s do not hold %d elements", len(raw), d, n)
	}
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
	default:
		return fmt.Errorf("unsupported dtype %s", d)
	}
	return nil
}

// EncodeF32 converts src to little-endian raw bytes of dtype d, rounding to
// nearest even for the 16-bit types.
func EncodeF32(src []float32, d DType) []byte {
	out := make([]byte, len(src)*d.Size())
	switch d {
	case F32:
		for i, v := range src {
			b := math.Float32bits(v)
			out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
		}
	case BF16:
		for i, v := range src {
			h := F32ToBF16(v)
			out[2*i], out[2*i+1] = byte(h), byte(h>>8)
		}
	case F16:
		for i, v := range src {
			h := F32ToF16(v)
			out[2*i], out[2*i+1] = byte(h), byte(h>>8)
		}
	}
	return out
}
