// cuBLASLt bindings. The struct layouts and enum values below were taken
// from cublasLt.h and checked by compile-time size assertions, but no call
// here has run against a real libcublasLt yet (no GPU where this was
// written); TestGPUGemm in device_cuda_test.go is the check.

package cuda

import (
	"fmt"
	"unsafe"
)

// cudaDataType is a cudaDataType_t (library_types.h).
type cudaDataType int32

// The element types r1 stores on the GPU.
const (
	dataF32  cudaDataType = 0  // CUDA_R_32F
	dataF16  cudaDataType = 2  // CUDA_R_16F
	dataBF16 cudaDataType = 14 // CUDA_R_16BF
)

func (t cudaDataType) size() int {
	if t == dataF32 {
		return 4
	}
	return 2
}

// Values from cublasLt.h / cublas_api.h.
const (
	cublasCompute32F       = 68 // CUBLAS_COMPUTE_32F: fp32 accumulation whatever the inputs
	cublasOpN              = 0  // CUBLAS_OP_N
	cublasOpT              = 1  // CUBLAS_OP_T
	ltDescTransA           = 3  // CUBLASLT_MATMUL_DESC_TRANSA, int32_t
	ltDescTransB           = 4  // CUBLASLT_MATMUL_DESC_TRANSB, int32_t
	ltPrefMaxWorkspaceSize = 1  // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t
	ltPrefMinAlignA        = 5  // CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, uint32_t, default 256; B, C, D follow as 6, 7, 8
	// ltWorkspaceBytes is what NVIDIA recommends for Hopper (32 MiB); it
	// lets the heuristic pick split-K and stream-K kernels.
	ltWorkspaceBytes = 32 << 20
)

// ltHeuristicResult mirrors cublasLtMatmulHeuristicResult_t:
//
//	typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;       // 64 bytes
//	typedef struct {
//	    cublasLtMatmulAlgo_t algo; size_t workspaceSize;            // 64 + 8
//	    cublasStatus_t state; float wavesCount; int reserved[4];    // 4 + 4 + 16
//	} cublasLtMatmulHeuristicResult_t;                              // 96 bytes
type ltHeuristicResult struct {
	algo          [8]uint64
	workspaceSize uint64
	state         int32
	wavesCount    float32
	reserved      [4]int32
}

// A compile-time check that the Go struct has the C size.
var _ [96]byte = [unsafe.Sizeof(ltHeuristicResult{})]byte{}

// cublasLt holds the cuBLASLt entry points.
type cublasLt struct {
	path string

	cublasLtCreate, cublasLtDestroy, cublasLtGetVersion, cublasLtGetStatusName          uintptr
	cublasLtMatmulDescCreate, cublasLtMatmulDescDestroy, cublasLtMatmulDescSetAttribute uintptr
	cublasLtMatrixLayoutCreate, cublasLtMatrixLayoutDestroy                             uintptr
	cublasLtMatmulPreferenceCreate, cublasLtMatmulPreferenceDestroy                     uintptr
	cublasLtMatmulPreferenceSetAttribute, cublasLtMatmulAlgoGetHeuristic                uintptr
	cublasLtMatmul                                                                      uintptr
}

func loadCublasLt(env searchEnv) (*cublasLt, error) {
	if platformError != nil {
		return nil, platformError
	}
	h, path, err := env.load(specLt, dlopen)
	if err != nil {
		return nil, err
	}
	l := &cublasLt{path: path}
	s := func(dst *uintptr, name string) symbol { return symbol{dst: dst, names: []string{name}} }
	syms := []symbol{
		s(&l.cublasLtCreate, "cublasLtCreate"), s(&l.cublasLtDestroy, "cublasLtDestroy"),
		s(&l.cublasLtGetVersion, "cublasLtGetVersion"),
		s(&l.cublasLtMatmulDescCreate, "cublasLtMatmulDescCreate"), s(&l.cublasLtMatmulDescDestroy, "cublasLtMatmulDescDestroy"),
		s(&l.cublasLtMatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute"),
		s(&l.cublasLtMatrixLayoutCreate, "cublasLtMatrixLayoutCreate"), s(&l.cublasLtMatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy"),
		s(&l.cublasLtMatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate"),
		s(&l.cublasLtMatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy"),
		s(&l.cublasLtMatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute"),
		s(&l.cublasLtMatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic"),
		s(&l.cublasLtMatmul, "cublasLtMatmul"),
		{dst: &l.cublasLtGetStatusName, names: []string{"cublasLtGetStatusName"}, optional: true},
	}
	// CUBLAS_COMPUTE_32F as a compute type (instead of a data type) needs 11.0.
	if err := resolve(h, path, "r1 needs cuBLASLt 11.0 or newer", syms); err != nil {
		return nil, err
	}
	return l, nil
}

//go:uintptrescapes
func (l *cublasLt) call(name string, fn uintptr, args ...uintptr) error {
	r := ccall(fn, args...)
	if r == 0 { // CUBLAS_STATUS_SUCCESS
		return nil
	}
	e := &libError{Lib: "cublasLt", Call: name, Code: int(int32(r))}
	if l.cublasLtGetStatusName != 0 {
		e.Name = goString(ccall(l.cublasLtGetStatusName, uintptr(int32(r))))
	}
	return e
}

// version is cublasLtGetVersion() as major.minor.patch (it returns
// major*10000 + minor*100 + patch).
func (l *cublasLt) version() string {
	v := ccall(l.cublasLtGetVersion)
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// gemmSpec describes a row-major GEMM C(M,N) = alpha·op(A)·op(B) + beta·C,
// op(A) (M,K), op(B) (K,N), the same contract as tensor.Backend.MatMul.
// A and B have type AB, C has type C; accumulation is always fp32.
type gemmSpec struct {
	M, N, K        int
	TransA, TransB bool
	AB, C          cudaDataType
}

// ltGemm is a gemmSpec translated to cuBLASLt's column-major world. A
// row-major matrix is the column-major matrix of its transpose, so
// C = op(A)·op(B) becomes Cᵀ = op(B)ᵀ·op(A)ᵀ: cuBLASLt's first operand is
// our B, its second our A, and the transposition flags carry over
// unchanged.
type ltGemm struct {
	m, n, k  uint64
	opA, opB int32
	a, b, c  ltLayout // a = our B, b = our A
}

// ltLayout is the (rows, cols, ld) of cublasLtMatrixLayoutCreate.
type ltLayout struct {
	rows, cols uint64
	ld         int64
}

func (g gemmSpec) validate() error {
	if g.M <= 0 || g.N <= 0 || g.K <= 0 {
		return fmt.Errorf("cuda: gemm M=%d N=%d K=%d: every dimension must be positive", g.M, g.N, g.K)
	}
	for _, t := range []cudaDataType{g.AB, g.C} {
		if t != dataF32 && t != dataF16 && t != dataBF16 {
			return fmt.Errorf("cuda: gemm data type %d: want CUDA_R_32F, CUDA_R_16F or CUDA_R_16BF", t)
		}
	}
	// cuBLASLt's table of supported type combinations (CUBLAS_COMPUTE_32F)
	// has no fp32-input GEMM with a 16-bit output.
	if g.AB == dataF32 && g.C != dataF32 {
		return fmt.Errorf("cuda: gemm with fp32 inputs needs an fp32 output, not type %d", g.C)
	}
	return nil
}

func (g gemmSpec) colMajor() ltGemm {
	m, n, k := uint64(g.M), uint64(g.N), uint64(g.K)
	lt := ltGemm{m: n, n: m, k: k, opA: cublasOpN, opB: cublasOpN}
	// Our B, row-major: (K,N) or, transposed, (N,K); column-major that is
	// (N,K) with ld N or (K,N) with ld K.
	if g.TransB {
		lt.opA = cublasOpT
		lt.a = ltLayout{rows: k, cols: n, ld: int64(k)}
	} else {
		lt.a = ltLayout{rows: n, cols: k, ld: int64(n)}
	}
	// Our A, row-major: (M,K) or, transposed, (K,M).
	if g.TransA {
		lt.opB = cublasOpT
		lt.b = ltLayout{rows: m, cols: k, ld: int64(m)}
	} else {
		lt.b = ltLayout{rows: k, cols: m, ld: int64(k)}
	}
	lt.c = ltLayout{rows: n, cols: m, ld: int64(n)}
	return lt
}

// gemmKey identifies a plan: the problem plus the alignment of each
// operand in cuBLASLt's order (our B, our A, C=D). The heuristic assumes
// 256-byte-aligned buffers unless told otherwise, and row views
// (SliceRows) can start anywhere, so the alignment is part of the key.
type gemmKey struct {
	spec  gemmSpec
	align [3]uint32
}

func gemmKeyFor(g gemmSpec, a, b, c devicePtr) gemmKey {
	return gemmKey{spec: g, align: [3]uint32{ptrAlign(b), ptrAlign(a), ptrAlign(c)}}
}

// ptrAlign is the largest power of two dividing p, capped at the 256 bytes
// cuBLASLt ever asks for.
func ptrAlign(p devicePtr) uint32 {
	a := uint32(1)
	for a < 256 && uint64(p)&uint64(a) == 0 {
		a <<= 1
	}
	return a
}

// gemmPlan is everything cuBLASLt needs for one gemmSpec, built once: the
// heuristic query costs far more than the GEMM for small shapes.
type gemmPlan struct {
	desc, la, lb, lc uintptr
	algo             ltHeuristicResult
}

func (l *cublasLt) newPlan(handle uintptr, key gemmKey) (*gemmPlan, error) {
	g := key.spec
	if err := g.validate(); err != nil {
		return nil, err
	}
	lt := g.colMajor()
	p := &gemmPlan{}
	fail := func(err error) (*gemmPlan, error) {
		l.destroyPlan(p)
		return nil, fmt.Errorf("%w (gemm %+v)", err, g)
	}
	// cublasLtMatmulDescCreate(cublasLtMatmulDesc_t*, cublasComputeType_t, cudaDataType_t scaleType)
	if err := l.call("cublasLtMatmulDescCreate", l.cublasLtMatmulDescCreate, uintptr(unsafe.Pointer(&p.desc)), cublasCompute32F, uintptr(dataF32)); err != nil {
		return fail(err)
	}
	for _, at := range []struct {
		attr uintptr
		op   int32
	}{{ltDescTransA, lt.opA}, {ltDescTransB, lt.opB}} {
		op := at.op
		if err := l.call("cublasLtMatmulDescSetAttribute", l.cublasLtMatmulDescSetAttribute, p.desc, at.attr, uintptr(unsafe.Pointer(&op)), 4); err != nil {
			return fail(err)
		}
	}
	for _, x := range []struct {
		dst *uintptr
		t   cudaDataType
		l   ltLayout
	}{{&p.la, g.AB, lt.a}, {&p.lb, g.AB, lt.b}, {&p.lc, g.C, lt.c}} {
		// cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t*, cudaDataType, uint64_t rows, uint64_t cols, int64_t ld)
		if err := l.call("cublasLtMatrixLayoutCreate", l.cublasLtMatrixLayoutCreate, uintptr(unsafe.Pointer(x.dst)), uintptr(x.t), uintptr(x.l.rows), uintptr(x.l.cols), uintptr(x.l.ld)); err != nil {
			return fail(err)
		}
	}
	var pref uintptr
	if err := l.call("cublasLtMatmulPreferenceCreate", l.cublasLtMatmulPreferenceCreate, uintptr(unsafe.Pointer(&pref))); err != nil {
		return fail(err)
	}
	defer l.call("cublasLtMatmulPreferenceDestroy", l.cublasLtMatmulPreferenceDestroy, pref)
	ws := uint64(ltWorkspaceBytes)
	if err := l.call("cublasLtMatmulPreferenceSetAttribute", l.cublasLtMatmulPreferenceSetAttribute, pref, ltPrefMaxWorkspaceSize, uintptr(unsafe.Pointer(&ws)), 8); err != nil {
		return fail(err)
	}
	for i, al := range []uint32{key.align[0], key.align[1], key.align[2], key.align[2]} {
		al := al
		if err := l.call("cublasLtMatmulPreferenceSetAttribute", l.cublasLtMatmulPreferenceSetAttribute, pref, uintptr(ltPrefMinAlignA+i), uintptr(unsafe.Pointer(&al)), 4); err != nil {
			return fail(err)
		}
	}
	var n int32
	// cublasLtMatmulAlgoGetHeuristic(handle, opDesc, Adesc, Bdesc, Cdesc, Ddesc, pref, int requested, results[], int *returned)
	if err := l.call("cublasLtMatmulAlgoGetHeuristic", l.cublasLtMatmulAlgoGetHeuristic, handle, p.desc, p.la, p.lb, p.lc, p.lc, pref, 1, uintptr(unsafe.Pointer(&p.algo)), uintptr(unsafe.Pointer(&n))); err != nil {
		return fail(err)
	}
	if n < 1 || p.algo.state != 0 {
		return fail(fmt.Errorf("cublasLt: no algorithm for this GEMM (returned %d, state %d)", n, p.algo.state))
	}
	return p, nil
}

func (l *cublasLt) destroyPlan(p *gemmPlan) {
	for _, h := range []uintptr{p.la, p.lb, p.lc} {
		if h != 0 {
			l.call("cublasLtMatrixLayoutDestroy", l.cublasLtMatrixLayoutDestroy, h)
		}
	}
	if p.desc != 0 {
		l.call("cublasLtMatmulDescDestroy", l.cublasLtMatmulDescDestroy, p.desc)
	}
}

// matmul runs a planned GEMM on stream. alpha and beta are fp32 host
// values (the default CUBLASLT_POINTER_MODE_HOST, scale type fp32).
func (l *cublasLt) matmul(handle uintptr, p *gemmPlan, g gemmSpec, a, b, c devicePtr, alpha, beta float32, ws devicePtr, stream uintptr) error {
	first, second := b, a // see ltGemm: cuBLASLt's A is our B
	al, be := alpha, beta
	// cublasLtMatmul(handle, desc, alpha*, A, Adesc, B, Bdesc, beta*, C, Cdesc, D, Ddesc, algo*, workspace, wsSize, stream)
	return l.call("cublasLtMatmul", l.cublasLtMatmul, handle, p.desc,
		uintptr(unsafe.Pointer(&al)), uintptr(first), p.la, uintptr(second), p.lb,
		uintptr(unsafe.Pointer(&be)), uintptr(c), p.lc, uintptr(c), p.lc,
		uintptr(unsafe.Pointer(&p.algo.algo)), uintptr(ws), ltWorkspaceBytes, stream)
}
