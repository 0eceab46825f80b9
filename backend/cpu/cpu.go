// Package cpu is the reference compute backend: pure Go kernels, parallel
// over the machine's cores, with the GEMM in Go assembly (package gemm) and
// the float32 elementwise/row math (exp, softmax, SwiGLU, RMSNorm, AdamW,
// …) in AVX-512 or AVX2 assembly chosen at start-up (vmath*.go), falling
// back to pure Go on other CPUs and architectures.
// Compute is float32; BF16/F16 tensors are storage only (Copy converts).
// Every kernel also runs in float64 on F64 tensors: the gradient checks
// compare backward kernels with finite differences at that precision.
// The CUDA backend mirrors these kernels and is tested against them.
package cpu

import (
	"fmt"
	"math"
	"runtime"

	"github.com/r1go/r1/backend/cpu/gemm"
	"github.com/r1go/r1/internal/par"
	"github.com/r1go/r1/tensor"
)

// Backend implements tensor.Backend on the host.
type Backend struct {
	packs packedWeights // weights packed for inference (packed.go)
	pool  bufPool       // freed float32 storage for New (pool.go)
}

// New returns the CPU backend.
func New() *Backend { return &Backend{} }

var _ tensor.Backend = (*Backend)(nil)

func (*Backend) Name() string { return "cpu" }

// SegmentMasks implements tensor.SegmentMasker: the attention kernels take
// segment ids and shared prefixes (attention.go's hidden).
func (*Backend) SegmentMasks() bool { return true }

// ComputeDType is F32: the CPU kernels compute in float32.
func (*Backend) ComputeDType() tensor.DType { return tensor.F32 }

// f32 returns the float32 storage of t, panicking on other dtypes: kernels
// compute in float32 on the CPU.
func f32(t *tensor.Tensor) []float32 {
	if t == nil {
		return nil
	}
	s, ok := t.Buf.([]float32)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel needs an F32 tensor, got %v", t))
	}
	return s
}

// float is the element type of the generic kernels.
type float interface{ ~float32 | ~float64 }

// isF64 reports whether t holds float64 (the gradient-check precision).
func isF64(t *tensor.Tensor) bool { _, ok := t.Buf.([]float64); return ok }

func f64(t *tensor.Tensor) []float64 {
	if t == nil {
		return nil
	}
	s, ok := t.Buf.([]float64)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel needs an F64 tensor, got %v", t))
	}
	return s
}

func i32(t *tensor.Tensor) []int32 {
	if t == nil {
		return nil
	}
	s, ok := t.Buf.([]int32)
	if !ok {
		panic(fmt.Sprintf("cpu: kernel needs an I32 tensor, got %v", t))
	}
	return s
}

func (b *Backend) New(dt tensor.DType, shape ...int) *tensor.Tensor {
	return b.alloc(dt, true, shape...)
}

// alloc is New, or NewUninit with zeroed false: pooled float32 storage
// (poolMinElems or more) is then handed over as a freed tensor left it.
func (b *Backend) alloc(dt tensor.DType, zeroed bool, shape ...int) *tensor.Tensor {
	n := tensor.Numel(shape)
	t := &tensor.Tensor{Shape: append([]int(nil), shape...), DType: dt, Dev: b}
	switch dt {
	case tensor.F32:
		if n >= poolMinElems {
			t.Buf = b.pool.take(t, n, zeroed)
		} else {
			t.Buf = make([]float32, n)
		}
	case tensor.I32:
		t.Buf = make([]int32, n)
	case tensor.F64:
		t.Buf = make([]float64, n)
	default:
		t.Buf = make([]uint16, n)
	}
	return t
}

var _ tensor.UninitAllocator = (*Backend)(nil)

// NewUninit is New without clearing (tensor.UninitAllocator): pooled
// float32 storage (poolMinElems or more) comes as a freed tensor left it;
// smaller tensors, and other dtypes, are New's.
func (b *Backend) NewUninit(dt tensor.DType, shape ...int) *tensor.Tensor {
	return b.alloc(dt, false, shape...)
}

func (b *Backend) Upload(data []float32, dt tensor.DType, shape ...int) *tensor.Tensor {
	if tensor.Numel(shape) != len(data) {
		panic(fmt.Sprintf("cpu: Upload of %d values into shape %v", len(data), shape))
	}
	t := b.New(dt, shape...)
	switch dt {
	case tensor.F32:
		copy(t.Buf.([]float32), data)
	case tensor.F64:
		d := t.Buf.([]float64)
		for i, v := range data {
			d[i] = float64(v)
		}
	case tensor.BF16:
		u := t.Buf.([]uint16)
		for i, v := range data {
			u[i] = tensor.F32ToBF16(v)
		}
	case tensor.F16:
		u := t.Buf.([]uint16)
		for i, v := range data {
			u[i] = tensor.F32ToF16(v)
		}
	default:
		panic("cpu: Upload of float data as " + dt.String())
	}
	return t
}

func (b *Backend) UploadInt32(data []int32, shape ...int) *tensor.Tensor {
	if tensor.Numel(shape) != len(data) {
		panic(fmt.Sprintf("cpu: UploadInt32 of %d values into shape %v", len(data), shape))
	}
	t := b.New(tensor.I32, shape...)
	copy(t.Buf.([]int32), data)
	return t
}

func (b *Backend) Download(t *tensor.Tensor) []float32 {
	out := make([]float32, t.Numel())
	switch s := t.Buf.(type) {
	case []float32:
		copy(out, s)
	case []int32:
		for i, v := range s {
			out[i] = float32(v)
		}
	case []float64:
		for i, v := range s {
			out[i] = float32(v)
		}
	case []uint16:
		conv := tensor.BF16ToF32
		if t.DType == tensor.F16 {
			conv = tensor.F16ToF32
		}
		for i, v := range s {
			out[i] = conv(v)
		}
	}
	return out
}

func (b *Backend) DownloadInt32(t *tensor.Tensor) []int32 {
	return append([]int32(nil), i32(t)...)
}

func (b *Backend) Free(t *tensor.Tensor) {
	if s, ok := t.Buf.([]float32); ok {
		b.pool.put(t, s)
	}
	t.Buf = nil
}

func (b *Backend) SliceRows(t *tensor.Tensor, start, end int) *tensor.Tensor {
	rows := t.Shape[0]
	if start < 0 || end > rows || start > end {
		panic(fmt.Sprintf("cpu: SliceRows [%d,%d) of %v", start, end, t.Shape))
	}
	per := t.Numel() / rows
	shape := append([]int{end - start}, t.Shape[1:]...)
	v := &tensor.Tensor{Shape: shape, DType: t.DType, Dev: b}
	switch s := t.Buf.(type) {
	case []float32:
		v.Buf = s[start*per : end*per]
	case []int32:
		v.Buf = s[start*per : end*per]
	case []float64:
		v.Buf = s[start*per : end*per]
	case []uint16:
		v.Buf = s[start*per : end*per]
	}
	return v
}

// parallel runs fn over [0,n) split into one contiguous range per core.
// Small n runs inline: goroutines cost more than they save below ~grain.
func parallel(n, grain int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n/max(grain, 1) {
		workers = n / max(grain, 1)
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	par.Do((n+chunk-1)/chunk, func(i int) {
		fn(i*chunk, min((i+1)*chunk, n))
	})
}

func (b *Backend) Copy(dst, src *tensor.Tensor) {
	if dst.Numel() != src.Numel() {
		panic(fmt.Sprintf("cpu: Copy %v <- %v", dst, src))
	}
	if dst.DType == src.DType {
		switch d := dst.Buf.(type) {
		case []float32:
			copy(d, src.Buf.([]float32))
		case []int32:
			copy(d, src.Buf.([]int32))
		case []float64:
			copy(d, src.Buf.([]float64))
		case []uint16:
			copy(d, src.Buf.([]uint16))
		}
		return
	}
	if dst.DType == tensor.F64 || src.DType == tensor.F64 {
		panic(fmt.Sprintf("cpu: Copy between %v and %v: F64 tensors only copy to F64", dst, src))
	}
	vals := b.Download(src)
	switch dst.DType {
	case tensor.F32:
		copy(dst.Buf.([]float32), vals)
	case tensor.BF16, tensor.F16:
		conv := tensor.F32ToBF16
		if dst.DType == tensor.F16 {
			conv = tensor.F32ToF16
		}
		u := dst.Buf.([]uint16)
		for i, v := range vals {
			u[i] = conv(v)
		}
	case tensor.I32:
		d := dst.Buf.([]int32)
		for i, v := range vals {
			d[i] = int32(v)
		}
	}
}

func (*Backend) Fill(t *tensor.Tensor, v float32) {
	switch s := t.Buf.(type) {
	case []int32:
		for i := range s {
			s[i] = int32(v)
		}
	case []float64:
		for i := range s {
			s[i] = float64(v)
		}
	default:
		x := f32(t)
		for i := range x {
			x[i] = v
		}
	}
}

func (*Backend) Scale(t *tensor.Tensor, s float32) {
	if isF64(t) {
		scale(f64(t), float64(s))
		return
	}
	x := f32(t)
	parallel(len(x), 1<<15, func(lo, hi int) { scaleF32(x[lo:hi], s) })
}

func scale[T float](x []T, s T) {
	parallel(len(x), 1<<15, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i] *= s
		}
	})
}

func (*Backend) Axpy(y *tensor.Tensor, a float32, x *tensor.Tensor) {
	tensor.MustSameShape("Axpy", y, x)
	if isF64(y) {
		axpy(f64(y), float64(a), f64(x))
		return
	}
	ys, xs := f32(y), f32(x)
	parallel(len(ys), 1<<15, func(lo, hi int) { axpyF32(ys[lo:hi], a, xs[lo:hi]) })
}

func axpy[T float](ys []T, a T, xs []T) {
	parallel(len(ys), 1<<15, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] += a * xs[i]
		}
	})
}

func (*Backend) Add(out, a, b *tensor.Tensor) {
	tensor.MustSameShape("Add", out, a)
	tensor.MustSameShape("Add", out, b)
	if isF64(out) {
		add(f64(out), f64(a), f64(b))
		return
	}
	os, as, bs := f32(out), f32(a), f32(b)
	parallel(len(os), 1<<15, func(lo, hi int) { addF32(os[lo:hi], as[lo:hi], bs[lo:hi]) })
}

func add[T float](o, as, bs []T) {
	parallel(len(o), 1<<15, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = as[i] + bs[i]
		}
	})
}

func (*Backend) Mul(out, a, b *tensor.Tensor) {
	tensor.MustSameShape("Mul", out, a)
	tensor.MustSameShape("Mul", out, b)
	if isF64(out) {
		mul(f64(out), f64(a), f64(b))
		return
	}
	mul(f32(out), f32(a), f32(b))
}

func mul[T float](o, as, bs []T) {
	parallel(len(o), 1<<15, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = as[i] * bs[i]
		}
	})
}

func (*Backend) SumSquares(t *tensor.Tensor) float64 {
	var s float64
	if isF64(t) {
		for _, v := range f64(t) {
			s += v * v
		}
		return s
	}
	// Float32 vector lanes over blocks short enough to stay accurate, the
	// total in float64.
	// The blocks' sums are independent, so the cores share them; the total
	// adds them in block order, the same result however they were split.
	x := f32(t)
	blocks := make([]float32, (len(x)+lseBlock-1)/lseBlock)
	parallel(len(blocks), 64, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			blocks[b] = sumSqF32(x[b*lseBlock : min((b+1)*lseBlock, len(x))])
		}
	})
	for _, b := range blocks {
		s += float64(b)
	}
	return s
}

func (*Backend) AllFinite(t *tensor.Tensor) bool {
	for _, v := range f32(t) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// MatMul: c (M,N) = alpha·op(a)(M,K)·op(b)(K,N) + beta·c.
func (be *Backend) MatMul(c, a, b *tensor.Tensor, transA, transB bool, alpha, beta float32) {
	m, n, k, err := tensor.MatMulDims(c, a, b, transA, transB)
	if err != nil {
		panic("cpu: " + err.Error())
	}
	ac, bc := a.Cols(), b.Cols() // leading dimensions
	if isF64(c) {
		dgemmNaive(transA, transB, m, n, k, float64(alpha), f64(a), ac, f64(b), bc, float64(beta), f64(c), n)
		return
	}
	if !transA && transB {
		if pb := be.packed(b); pb != nil {
			gemm.SgemmPacked(m, alpha, f32(a), ac, pb, beta, f32(c), n)
			return
		}
	}
	gemm.Sgemm(transA, transB, m, n, k, alpha, f32(a), ac, f32(b), bc, beta, f32(c), n)
}

// dgemmNaive is the float64 GEMM of the gradient checks: simple and exact
// enough, not fast.
func dgemmNaive(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	parallel(m, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					var av, bv float64
					if transA {
						av = a[p*lda+i]
					} else {
						av = a[i*lda+p]
					}
					if transB {
						bv = b[j*ldb+p]
					} else {
						bv = b[p*ldb+j]
					}
					s += av * bv
				}
				if beta == 0 {
					c[i*ldc+j] = alpha * s
				} else {
					c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
				}
			}
		}
	})
}

// AddBias: out (N,C) += bias (C).
func (*Backend) AddBias(out, bias *tensor.Tensor) {
	if out.Cols() != bias.Numel() {
		panic(fmt.Sprintf("cpu: AddBias %v + %v", out.Shape, bias.Shape))
	}
	if isF64(out) {
		addBias(f64(out), f64(bias))
		return
	}
	os, bs := f32(out), f32(bias)
	c := len(bs)
	parallel(len(os)/c, max(1<<15/c, 1), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := os[r*c : (r+1)*c]
			addF32(row, row, bs)
		}
	})
}

func addBias(o, bs []float64) {
	c := len(bs)
	for r := 0; r < len(o); r += c {
		row := o[r : r+c]
		for j := range row {
			row[j] += bs[j]
		}
	}
}

// SumRowsAcc: dbias (C) += Σ_n dout (N,C).
func (*Backend) SumRowsAcc(dbias, dout *tensor.Tensor) {
	if isF64(dbias) {
		sumRowsAcc(f64(dbias), f64(dout))
		return
	}
	db, d := f32(dbias), f32(dout)
	for r := 0; r < len(d); r += len(db) {
		addF32(db, db, d[r:r+len(db)])
	}
}

func sumRowsAcc(db, d []float64) {
	c := len(db)
	for r := 0; r < len(d); r += c {
		row := d[r : r+c]
		for j := range row {
			db[j] += row[j]
		}
	}
}
