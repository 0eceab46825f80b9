// Package safetensors reads and writes Hugging Face safetensors files and
// checkpoints (single file or sharded with model.safetensors.index.json).
//
// A file is an 8-byte little-endian header length N, N bytes of JSON header
// mapping tensor names to {"dtype", "shape", "data_offsets"} (plus an optional
// "__metadata__" object of strings), then the data region. Offsets are
// relative to the start of the data region.
package safetensors

import (
	"fmt"
	"math"

	"github.com/r1go/r1/tensor"
)

// maxHeaderBytes caps the JSON header; the reference Rust implementation
// refuses anything larger, so a bigger length means a corrupt file.
const maxHeaderBytes = 100 << 20

// metadataKey is the reserved header key holding the string metadata.
const metadataKey = "__metadata__"

// dtypeBits gives the element width of every dtype the safetensors format
// knows, so files holding types r1 cannot convert still open and list.
var dtypeBits = map[string]int{
	"BOOL": 8, "U8": 8, "I8": 8,
	"F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
	"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
	"I16": 16, "U16": 16, "F16": 16, "BF16": 16,
	"I32": 32, "U32": 32, "F32": 32,
	"I64": 64, "U64": 64, "F64": 64, "C64": 64,
}

// Tensor is one named tensor. For tensors read from a File, Data points into
// the file's (possibly memory-mapped, read-only) bytes: it must not be
// written to and is valid only until the File is closed.
type Tensor struct {
	Name  string
	DType string // safetensors spelling: "F32", "BF16", "F16", "I64", ...
	Shape []int
	Data  []byte // little-endian, row-major
}

// FromFloat32 builds a tensor of dtype d from values, rounding to nearest
// even for the 16-bit types. It checks that shape holds len(values) elements.
func FromFloat32(name string, d tensor.DType, shape []int, values []float32) (Tensor, error) {
	n, err := numElements(shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if n != int64(len(values)) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: shape %v holds %d elements, got %d values", name, shape, n, len(values))
	}
	if _, err := tensor.ParseDType(d.String()); err != nil {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	return Tensor{Name: name, DType: d.String(), Shape: append([]int(nil), shape...), Data: tensor.EncodeF32(values, d)}, nil
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	n, err := numElements(t.Shape)
	if err != nil {
		return -1
	}
	return n
}

// Float32 decodes an F32, BF16 or F16 tensor into a new slice. Other dtypes
// (I64, F64, ...) return an error naming the tensor and its dtype.
func (t *Tensor) Float32() ([]float32, error) {
	n, err := numElements(t.Shape)
	if err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	if n > int64(math.MaxInt) {
		return nil, fmt.Errorf("safetensors: tensor %q: %d elements do not fit in memory", t.Name, n)
	}
	dst := make([]float32, n)
	if err := t.Float32Into(dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// Float32Into decodes an F32, BF16 or F16 tensor into dst, which must have
// exactly NumElements() elements; it lets callers reuse buffers.
func (t *Tensor) Float32Into(dst []float32) error {
	d, err := tensor.ParseDType(t.DType)
	if err != nil || d.String() != t.DType {
		return fmt.Errorf("safetensors: tensor %q: cannot convert dtype %q to float32 (want F32, BF16 or F16)", t.Name, t.DType)
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	if int64(len(dst)) != n {
		return fmt.Errorf("safetensors: tensor %q: destination has %d elements, shape %v needs %d", t.Name, len(dst), t.Shape, n)
	}
	if err := tensor.DecodeF32(dst, t.Data, d); err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	return nil
}

// numElements multiplies the dims, rejecting negatives and overflow so a
// hostile header cannot make us allocate or index out of range.
func numElements(shape []int) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: dimension %d is negative", shape, i)
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("shape %v: element count overflows int64", shape)
		}
		n *= int64(d)
	}
	return n, nil
}

// byteSize is the number of data bytes a tensor of this dtype and shape
// occupies.
func byteSize(dtype string, shape []int) (int64, error) {
	bits, ok := dtypeBits[dtype]
	if !ok {
		return 0, fmt.Errorf("unknown dtype %q", dtype)
	}
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/int64(bits) {
		return 0, fmt.Errorf("shape %v of %s: byte size overflows int64", shape, dtype)
	}
	b := n * int64(bits)
	if b%8 != 0 {
		return 0, fmt.Errorf("shape %v of %s (%d bits each) is not a whole number of bytes", shape, dtype, bits)
	}
	return b / 8, nil
}
