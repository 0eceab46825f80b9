package tensor

import (
	"fmt"
	"slices"
	"strings"
)

// Tensor is an n-dimensional array that lives on one device. Go code outside
// a backend never touches its elements: it calls the device's kernels on
// whole tensors and moves data with Upload/Download.
type Tensor struct {
	Shape []int
	DType DType
	// Dev is the backend that owns the storage.
	Dev Backend
	// Buf is the backend's storage handle (the CPU backend uses a []float32
	// or []int32 slice; the CUDA backend a device pointer). Views share it.
	Buf any
}

// Numel is the number of elements.
func (t *Tensor) Numel() int { return Numel(t.Shape) }

// Numel multiplies a shape out.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Rows is the product of all dimensions but the last: the number of rows
// when the tensor is seen as a matrix (…, C). A scalar is one row; an empty
// last dimension still leaves the leading ones (a (3, 0) tensor has 3 rows).
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return Numel(t.Shape[:len(t.Shape)-1])
}

// Cols is the last dimension.
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// Bytes is the size of the storage.
func (t *Tensor) Bytes() int64 { return int64(t.Numel()) * int64(t.DType.Size()) }

// String prints shape and dtype, e.g. "F32[2 3 4]".
func (t *Tensor) String() string {
	parts := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		parts[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("%s[%s]", t.DType, strings.Join(parts, " "))
}

// Reshape returns a view with another shape of the same number of elements.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	if Numel(shape) != t.Numel() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: t.DType, Dev: t.Dev, Buf: t.Buf}
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool { return slices.Equal(a, b) }

// MustSameShape panics with both shapes when they differ; kernels use it to
// catch programming errors early.
func MustSameShape(op string, a, b *Tensor) {
	if !SameShape(a.Shape, b.Shape) {
		panic(fmt.Sprintf("%s: shape mismatch %v vs %v", op, a.Shape, b.Shape))
	}
}

// MustSameNumel panics, naming op and the shapes, unless every tensor has
// as many elements as the first: elementwise kernels index them all with
// one range.
func MustSameNumel(op string, ts ...*Tensor) {
	for _, t := range ts[1:] {
		if t.Numel() != ts[0].Numel() {
			shapes := make([][]int, len(ts))
			for i, t := range ts {
				shapes[i] = t.Shape
			}
			panic(fmt.Sprintf("%s: operands have different sizes: shapes %v", op, shapes))
		}
	}
}

// MatMulDims checks the shapes of MatMul c = op(a)·op(b), a, b and c seen as
// matrices, and returns the GEMM problem: c (M,N), op(a) (M,K), op(b) (K,N).
func MatMulDims(c, a, b *Tensor, transA, transB bool) (m, n, k int, err error) {
	ar, ac := a.Rows(), a.Cols()
	br, bc := b.Rows(), b.Cols()
	m, k = ar, ac
	if transA {
		m, k = ac, ar
	}
	kb, n := br, bc
	if transB {
		kb, n = bc, br
	}
	if k != kb || c.Rows() != m || c.Cols() != n {
		return 0, 0, 0, fmt.Errorf("MatMul shapes c%v a%v(T=%v) b%v(T=%v)", c.Shape, a.Shape, transA, b.Shape, transB)
	}
	return m, n, k, nil
}
