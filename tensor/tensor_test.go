package tensor

import (
	"fmt"
	"strings"
	"testing"
)

// shaped is a tensor without a device: the shape helpers never look at
// Dev or Buf.
func shaped(dt DType, shape ...int) *Tensor { return &Tensor{Shape: shape, DType: dt} }

// panicMsg runs fn and returns what it panicked with ("" when it did not).
func panicMsg(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	fn()
	return ""
}

func TestShapeAccessors(t *testing.T) {
	for _, c := range []struct {
		dt               DType
		shape            []int
		numel, rows, col int
		bytes            int64
		str              string
	}{
		{F32, nil, 1, 1, 1, 4, "F32[]"},
		{F32, []int{}, 1, 1, 1, 4, "F32[]"},
		{BF16, []int{7}, 7, 1, 7, 14, "BF16[7]"},
		{F32, []int{2, 3}, 6, 2, 3, 24, "F32[2 3]"},
		{F16, []int{2, 3, 4}, 24, 6, 4, 48, "F16[2 3 4]"},
		{I32, []int{5, 1}, 5, 5, 1, 20, "I32[5 1]"},
		{F64, []int{1, 2, 1, 3}, 6, 2, 3, 48, "F64[1 2 1 3]"},
		// Empty tensors: rows still count the leading dimensions.
		{F32, []int{0}, 0, 1, 0, 0, "F32[0]"},
		{F32, []int{3, 0}, 0, 3, 0, 0, "F32[3 0]"},
		{BF16, []int{2, 4, 0}, 0, 8, 0, 0, "BF16[2 4 0]"},
		{F32, []int{0, 5}, 0, 0, 5, 0, "F32[0 5]"},
	} {
		x := shaped(c.dt, c.shape...)
		if got := x.Numel(); got != c.numel {
			t.Errorf("%v.Numel() = %d, want %d", c.shape, got, c.numel)
		}
		if got := Numel(c.shape); got != c.numel {
			t.Errorf("Numel(%v) = %d, want %d", c.shape, got, c.numel)
		}
		if got := x.Cols(); got != c.col {
			t.Errorf("%v.Cols() = %d, want %d", c.shape, got, c.col)
		}
		var rows int
		if msg := panicMsg(func() { rows = x.Rows() }); msg != "" {
			t.Errorf("%v.Rows() panicked: %s", c.shape, msg)
		} else if rows != c.rows {
			t.Errorf("%v.Rows() = %d, want %d", c.shape, rows, c.rows)
		}
		if got := x.Bytes(); got != c.bytes {
			t.Errorf("%v.Bytes() = %d, want %d", c.shape, got, c.bytes)
		}
		if got := x.String(); got != c.str {
			t.Errorf("String() = %q, want %q", got, c.str)
		}
	}
	// Bytes does not overflow int for large tensors.
	if got, want := shaped(F32, 1<<20, 1<<12).Bytes(), int64(1)<<34; got != want {
		t.Errorf("Bytes of 2^32 F32 = %d, want %d", got, want)
	}
}

func TestReshape(t *testing.T) {
	buf := []float32{1, 2, 3, 4, 5, 6}
	x := &Tensor{Shape: []int{2, 3}, DType: BF16, Buf: buf}
	shape := []int{3, 2}
	y := x.Reshape(shape...)
	if !SameShape(y.Shape, []int{3, 2}) || y.DType != BF16 || y.Dev != x.Dev {
		t.Fatalf("Reshape: %v", y)
	}
	if b, ok := y.Buf.([]float32); !ok || &b[0] != &buf[0] {
		t.Fatal("Reshape does not share the storage")
	}
	// The view owns its shape: changing the argument or x leaves it alone.
	shape[0] = 99
	x.Shape[0] = 98
	if !SameShape(y.Shape, []int{3, 2}) {
		t.Fatalf("Reshape aliases a shape slice: %v", y.Shape)
	}
	x.Shape[0] = 2
	if z := x.Reshape(6); !SameShape(z.Shape, []int{6}) {
		t.Errorf("Reshape(6) = %v", z.Shape)
	}
	if z := x.Reshape(1, 6, 1); z.Rows() != 6 || z.Cols() != 1 {
		t.Errorf("Reshape(1,6,1): rows %d cols %d", z.Rows(), z.Cols())
	}
	msg := panicMsg(func() { x.Reshape(4, 2) })
	if !strings.Contains(msg, "[2 3]") || !strings.Contains(msg, "[4 2]") {
		t.Errorf("Reshape to a different size: panic %q, want both shapes", msg)
	}
}

func TestSameShape(t *testing.T) {
	for _, c := range []struct {
		a, b []int
		want bool
	}{
		{nil, nil, true},
		{nil, []int{}, true},
		{[]int{2, 3}, []int{2, 3}, true},
		{[]int{2, 3}, []int{3, 2}, false},
		{[]int{6}, []int{2, 3}, false},
		{[]int{2, 3, 1}, []int{2, 3}, false},
		{[]int{1}, nil, false},
	} {
		if got := SameShape(c.a, c.b); got != c.want {
			t.Errorf("SameShape(%v, %v) = %v", c.a, c.b, got)
		}
	}
}

func TestMustSameShape(t *testing.T) {
	if msg := panicMsg(func() { MustSameShape("Add", shaped(F32, 2, 3), shaped(BF16, 2, 3)) }); msg != "" {
		t.Errorf("equal shapes (dtypes may differ) panicked: %s", msg)
	}
	msg := panicMsg(func() { MustSameShape("Add", shaped(F32, 2, 3), shaped(F32, 3, 2)) })
	if want := "Add: shape mismatch [2 3] vs [3 2]"; msg != want {
		t.Errorf("panic %q, want %q", msg, want)
	}
	if msg := panicMsg(func() { MustSameShape("Copy", shaped(F32, 6), shaped(F32, 2, 3)) }); msg == "" {
		t.Error("same numel, different shape: no panic")
	}
}

func TestMustSameNumel(t *testing.T) {
	for _, c := range []struct {
		shapes [][]int
		ok     bool
	}{
		{[][]int{{2, 3}}, true},
		{[][]int{{2, 3}, {6}, {3, 2}, {1, 6, 1}}, true},
		{[][]int{{0}, {3, 0}}, true},
		{[][]int{{2, 3}, {6}, {5}}, false},
		{[][]int{{2, 3}, {7}}, false},
	} {
		ts := make([]*Tensor, len(c.shapes))
		for i, s := range c.shapes {
			ts[i] = shaped(F32, s...)
		}
		msg := panicMsg(func() { MustSameNumel("Axpy", ts...) })
		if c.ok && msg != "" {
			t.Errorf("%v: panicked %q", c.shapes, msg)
		}
		if !c.ok && (!strings.HasPrefix(msg, "Axpy: ") || !strings.Contains(msg, fmt.Sprint(c.shapes))) {
			t.Errorf("%v: panic %q, want the op and every shape", c.shapes, msg)
		}
	}
}

func TestMatMulDims(t *testing.T) {
	for _, c := range []struct {
		c, a, b        []int
		transA, transB bool
		m, n, k        int
		ok             bool
	}{
		// c (M,N) = a (M,K) · b (K,N)
		{[]int{2, 4}, []int{2, 3}, []int{3, 4}, false, false, 2, 4, 3, true},
		// transB: b stored (N,K), the usual x·Wᵀ of a linear layer
		{[]int{2, 4}, []int{2, 3}, []int{4, 3}, false, true, 2, 4, 3, true},
		// transA: a stored (K,M), as in dW = xᵀ·dout
		{[]int{2, 4}, []int{3, 2}, []int{3, 4}, true, false, 2, 4, 3, true},
		{[]int{2, 4}, []int{3, 2}, []int{4, 3}, true, true, 2, 4, 3, true},
		// batched activations are matrices of Rows × Cols
		{[]int{2, 5, 8}, []int{2, 5, 16}, []int{8, 16}, false, true, 10, 8, 16, true},
		{[]int{16, 8}, []int{2, 5, 16}, []int{2, 5, 8}, true, false, 16, 8, 10, true},
		// vectors are one-row matrices
		{[]int{1, 1}, []int{3}, []int{3}, false, true, 1, 1, 3, true},
		// mismatches: inner dimension, c rows, c cols, wrong transpose
		{[]int{2, 4}, []int{2, 3}, []int{2, 4}, false, false, 0, 0, 0, false},
		{[]int{3, 4}, []int{2, 3}, []int{3, 4}, false, false, 0, 0, 0, false},
		{[]int{2, 5}, []int{2, 3}, []int{3, 4}, false, false, 0, 0, 0, false},
		{[]int{2, 4}, []int{2, 3}, []int{3, 4}, false, true, 0, 0, 0, false},
		{[]int{2, 4}, []int{2, 3}, []int{3, 4}, true, false, 0, 0, 0, false},
		{[]int{4, 2}, []int{2, 3}, []int{3, 4}, false, false, 0, 0, 0, false},
	} {
		m, n, k, err := MatMulDims(shaped(F32, c.c...), shaped(BF16, c.a...), shaped(BF16, c.b...), c.transA, c.transB)
		name := fmt.Sprintf("c%v a%v(T=%v) b%v(T=%v)", c.c, c.a, c.transA, c.b, c.transB)
		if !c.ok {
			if err == nil {
				t.Errorf("%s: no error (m=%d n=%d k=%d)", name, m, n, k)
			} else if !strings.Contains(err.Error(), name) {
				t.Errorf("%s: error %q does not name the shapes", name, err)
			}
			continue
		}
		if err != nil || m != c.m || n != c.n || k != c.k {
			t.Errorf("%s = %d, %d, %d, %v; want %d, %d, %d", name, m, n, k, err, c.m, c.n, c.k)
		}
	}
}
