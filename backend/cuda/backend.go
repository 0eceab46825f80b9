// The tensor.Backend of this package. Status: compiled, vetted and tested
// on machines without a GPU only. backend_test.go runs every op through a
// fake device that keeps memory on the host and executes the real kernels
// on the host emulator of kernels_test.go (GEMMs by a naive host loop
// instead of cuBLASLt); backend_cuda_test.go (-tags cuda) holds the same
// comparisons against backend/cpu for a real GPU and has never run.

package cuda

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/r1go/r1/tensor"
)

// gpu is what the Backend needs from a device: *device on a GPU, a fake
// that keeps memory on the host in tests.
type gpu interface {
	Alloc(n uint64) (devicePtr, error)
	Free(p devicePtr) error
	CopyHtoD(dst devicePtr, src []byte) error
	CopyDtoH(dst []byte, src devicePtr) error
	CopyDtoD(dst, src devicePtr, n uint64) error
	Memset32(p devicePtr, v uint32, n uint64) error
	Launch(fn function, grid, block [3]uint32, sharedMem uint32, args ...any) error
	Gemm(g gemmSpec, a, b, c devicePtr, alpha, beta float32) error
	MemStats() memStats
}

// Backend implements tensor.Backend on one GPU. Activations, weights and
// KV caches are meant to be BF16 (the kernels compute in F32 registers);
// F32 tensors work too: an op whose kernel takes another dtype converts
// them through temporary buffers (for a KV cache: the whole cache, every
// call), which is slower and rounds to bf16, so that F32-only callers (the
// model, tape and sampler as they are today) still run.
//
// tensor.Backend has no error results, so device failures panic with the
// failing call named, as backend/cpu panics on misuse. Kernels that find a
// bad id, position or slot set a device flag; when index checks are on
// (the default) the Backend zeroes the flag before such a kernel, reads it
// after (which synchronises) and panics with backend/cpu's message.
type Backend struct {
	dev     gpu
	name    string
	closeFn func() error
	fns     map[string]function

	mu      sync.Mutex // guards the scratch buffers below across zero/launch/read
	flags   devicePtr  // 2 int32: [0] bad-index flag, [1] non-finite flag
	partial devicePtr  // reduceMaxGrid float64 partial sums of SumSquares
	checks  bool
}

var _ tensor.Backend = (*Backend)(nil)

// New opens GPU ordinal, compiles the kernels once through the kernel
// cache and loads them. Without a GPU, libcuda, NVRTC or a working driver
// it returns the core's error, which names what is missing and says the
// CPU backend will be used.
func New(ordinal int) (*Backend, error) {
	return newFrom(ordinal, defaultEnv(), defaultKernelCacheDir())
}

func newFrom(ordinal int, env searchEnv, cacheDir string) (*Backend, error) {
	d, err := openWith(ordinal, env, cacheDir)
	if err != nil {
		return nil, err
	}
	mod, err := d.LoadSource(kernelSource(), "r1_kernels.cu", nil)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("cuda: compiling the kernels of backend/cuda/kernels for %s: %w", d.Arch(), err)
	}
	fns := map[string]function{}
	for _, k := range kernelTable {
		f, err := d.Function(mod, k.Name)
		if err != nil {
			d.Close()
			return nil, err
		}
		fns[k.Name] = f
	}
	b, err := newBackend(d, d.Name(), fns)
	if err != nil {
		d.Close()
		return nil, err
	}
	b.closeFn = d.Close
	return b, nil
}

// newBackend wraps a device whose kernels are loaded (fns by name).
func newBackend(dev gpu, name string, fns map[string]function) (*Backend, error) {
	for _, k := range kernelTable {
		if _, ok := fns[k.Name]; !ok {
			return nil, fmt.Errorf("cuda: kernel %s of the kernel table was not loaded", k.Name)
		}
	}
	b := &Backend{dev: dev, name: name, fns: fns, checks: true}
	var err error
	if b.flags, err = dev.Alloc(8); err != nil {
		return nil, fmt.Errorf("cuda: allocating the backend's flags: %w", err)
	}
	if b.partial, err = dev.Alloc(8 * reduceMaxGrid); err != nil {
		return nil, fmt.Errorf("cuda: allocating the backend's reduction buffer: %w", err)
	}
	return b, nil
}

// Close releases the device (all memory, modules and the context). The
// Backend and its tensors are unusable afterwards.
func (b *Backend) Close() error {
	if b.closeFn == nil {
		return nil
	}
	return b.closeFn()
}

// peakMemory is the high-water mark of device memory handed out to
// tensors and scratch buffers, in bytes (rounded block sizes).
func (b *Backend) peakMemory() uint64 { return b.dev.MemStats().PeakInUse }

// memStats returns the caching allocator's counters.
func (b *Backend) memStats() memStats { return b.dev.MemStats() }

// setIndexChecks turns the bad-index checks of Embedding, RoPE,
// LogSoftmaxGather, KVWrite, CopySlots and PagedAttention on or off. Each
// check synchronises the device, which a CUDA graph capture forbids and
// which costs latency in decode; off, bad indices are skipped silently
// (the kernels still never touch memory outside their tensors).
func (b *Backend) setIndexChecks(on bool) {
	b.mu.Lock()
	b.checks = on
	b.mu.Unlock()
}

// Name is "cuda:N".
func (b *Backend) Name() string { return b.name }

// ComputeDType is BF16: the kernels read and write bf16 (accumulating in f32).
func (b *Backend) ComputeDType() tensor.DType { return tensor.BF16 }

// ---- storage -----------------------------------------------------------------

// buffer is the Buf of a tensor on this backend. Reshape shares the
// pointer, so Free through any reshape of a tensor frees it once; SliceRows
// views point into their parent and never free it.
type buffer struct {
	ptr    devicePtr
	bytes  int64
	parent *buffer // for SliceRows views
	freed  bool
}

// Ptr is the device address of the tensor's first element.
func (buf *buffer) Ptr() devicePtr { return buf.ptr }

func (buf *buffer) live() bool {
	for p := buf; p != nil; p = p.parent {
		if p.freed {
			return false
		}
	}
	return true
}

// tensorPtr returns the device address of t's first element, panicking when t
// is not a live tensor of this backend: kernels must never see a stale
// address.
func tensorPtr(t *tensor.Tensor) devicePtr {
	buf, ok := t.Buf.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: tensor %v is not on a CUDA device (Buf is %T)", t, t.Buf))
	}
	if !buf.live() {
		panic(fmt.Sprintf("cuda: tensor %v used after Free", t))
	}
	return buf.ptr
}

// ptrOrNil is tensorPtr, or 0 for a nil tensor (the kernels' nullable pointers).
func ptrOrNil(t *tensor.Tensor) devicePtr {
	if t == nil {
		return 0
	}
	return tensorPtr(t)
}

// dataType maps a tensor dtype to cuBLASLt's type.
func dataType(dt tensor.DType) (cudaDataType, error) {
	switch dt {
	case tensor.F32:
		return dataF32, nil
	case tensor.BF16:
		return dataBF16, nil
	case tensor.F16:
		return dataF16, nil
	}
	return 0, fmt.Errorf("cuda: no GEMM type for %s", dt)
}

// checkStorable rejects dtypes this backend cannot hold: F64 exists only
// for the CPU backend's gradient checks.
func checkStorable(dt tensor.DType) error {
	switch dt {
	case tensor.F32, tensor.BF16, tensor.F16, tensor.I32:
		return nil
	}
	return fmt.Errorf("cuda: %s tensors are not supported on the GPU (F64 is the CPU backend's gradient-check type)", dt)
}

// checkShape rejects negative dimensions before they reach a size
// computation.
func checkShape(op string, shape []int) error {
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("cuda: %s: negative dimension in shape %v", op, shape)
		}
	}
	return nil
}

func (b *Backend) must(op string, err error) {
	if err != nil {
		panic(fmt.Sprintf("cuda: %s: %v", op, err))
	}
}

func (b *Backend) alloc(dt tensor.DType, shape []int) *tensor.Tensor {
	for _, err := range []error{checkStorable(dt), checkShape("New", shape)} {
		if err != nil {
			panic(err.Error())
		}
	}
	n := int64(tensor.Numel(shape)) * int64(dt.Size())
	p, err := b.dev.Alloc(uint64(n))
	b.must(fmt.Sprintf("New(%s %v)", dt, shape), err)
	return &tensor.Tensor{Shape: append([]int(nil), shape...), DType: dt, Dev: b, Buf: &buffer{ptr: p, bytes: n}}
}

// New allocates a zeroed tensor from the caching allocator.
func (b *Backend) New(dt tensor.DType, shape ...int) *tensor.Tensor {
	t := b.alloc(dt, shape)
	if n := t.Bytes(); n > 0 {
		// Every dtype's zero is all-zero bits; Memset32 covers the 4-byte
		// words and the allocator's 512-byte rounding covers a 2-byte tail.
		b.must("New", b.dev.Memset32(tensorPtr(t), 0, uint64(n+3)/4))
	}
	return t
}

// Upload copies host float32 data into a new tensor of dtype dt, rounding
// to nearest even for 16-bit types on the host (tensor.EncodeF32).
func (b *Backend) Upload(data []float32, dt tensor.DType, shape ...int) *tensor.Tensor {
	if err := checkShape("Upload", shape); err != nil {
		panic(err.Error())
	}
	if tensor.Numel(shape) != len(data) {
		panic(fmt.Sprintf("cuda: Upload of %d values into shape %v", len(data), shape))
	}
	if dt != tensor.F32 && dt != tensor.BF16 && dt != tensor.F16 {
		panic("cuda: Upload of float data as " + dt.String())
	}
	t := b.alloc(dt, shape)
	b.must("Upload", b.dev.CopyHtoD(tensorPtr(t), tensor.EncodeF32(data, dt)))
	return t
}

// UploadInt32 copies host int32 data into a new I32 tensor.
func (b *Backend) UploadInt32(data []int32, shape ...int) *tensor.Tensor {
	if err := checkShape("UploadInt32", shape); err != nil {
		panic(err.Error())
	}
	if tensor.Numel(shape) != len(data) {
		panic(fmt.Sprintf("cuda: UploadInt32 of %d values into shape %v", len(data), shape))
	}
	t := b.alloc(tensor.I32, shape)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
	}
	b.must("UploadInt32", b.dev.CopyHtoD(tensorPtr(t), raw))
	return t
}

func (b *Backend) raw(t *tensor.Tensor) []byte {
	raw := make([]byte, t.Bytes())
	b.must("Download", b.dev.CopyDtoH(raw, tensorPtr(t)))
	return raw
}

// Download copies a tensor to the host as float32 after all queued work.
func (b *Backend) Download(t *tensor.Tensor) []float32 {
	raw := b.raw(t)
	out := make([]float32, t.Numel())
	if t.DType == tensor.I32 {
		for i := range out {
			out[i] = float32(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		return out
	}
	b.must("Download", tensor.DecodeF32(out, raw, t.DType))
	return out
}

// DownloadInt32 copies an I32 tensor to the host after all queued work.
func (b *Backend) DownloadInt32(t *tensor.Tensor) []int32 {
	if t.DType != tensor.I32 {
		panic(fmt.Sprintf("cuda: DownloadInt32 of %v: want an I32 tensor", t))
	}
	raw := b.raw(t)
	out := make([]int32, t.Numel())
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// Free returns t's memory to the caching allocator. Kernels queued before
// may still read it; that is safe because the device runs all work in
// order on one stream. Freeing a view, or a tensor twice, does nothing.
func (b *Backend) Free(t *tensor.Tensor) {
	if t.Buf == nil {
		return
	}
	buf, ok := t.Buf.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: Free of %v: not a CUDA tensor (Buf is %T)", t, t.Buf))
	}
	if buf.freed || buf.parent != nil {
		t.Buf = nil
		return
	}
	buf.freed = true
	t.Buf = nil
	b.must("Free", b.dev.Free(buf.ptr))
}

// SliceRows returns rows [start, end) of t's first dimension as a view.
func (b *Backend) SliceRows(t *tensor.Tensor, start, end int) *tensor.Tensor {
	if len(t.Shape) == 0 || start < 0 || end > t.Shape[0] || start > end {
		panic(fmt.Sprintf("cuda: SliceRows [%d,%d) of %v", start, end, t.Shape))
	}
	p := tensorPtr(t)
	per := int64(0)
	if t.Shape[0] > 0 {
		per = int64(t.Numel()/t.Shape[0]) * int64(t.DType.Size())
	}
	shape := append([]int{end - start}, t.Shape[1:]...)
	return &tensor.Tensor{Shape: shape, DType: t.DType, Dev: b,
		Buf: &buffer{ptr: p + devicePtr(int64(start)*per), bytes: int64(end-start) * per, parent: t.Buf.(*buffer)}}
}

// ---- launching -------------------------------------------------------------

// launch runs a kernel of kernelTable, panicking with the kernel named on
// any error (a bad launch configuration is a bug in this file).
func (b *Backend) launch(name string, cfg launchConfig, cfgErr error, args ...any) {
	if cfgErr != nil {
		panic(fmt.Sprintf("cuda: %s: %v", name, cfgErr))
	}
	fn, ok := b.fns[name]
	if !ok {
		panic(fmt.Sprintf("cuda: kernel %s is not loaded", name))
	}
	if err := b.dev.Launch(fn, cfg.Grid, cfg.Block, 0, args...); err != nil {
		panic(fmt.Sprintf("cuda: %s: %v", name, err))
	}
}

// flat launches a grid-stride kernel over n elements.
func (b *Backend) flat(name string, n int64, args ...any) {
	cfg, err := launchFlat(n)
	b.launch(name, cfg, err, args...)
}

// checked runs kernels that report bad indices through an error flag and
// returns whether the flag was raised. With checks off it passes a null
// flag and returns false.
func (b *Backend) checked(run func(flag devicePtr)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.checks {
		run(0)
		return false
	}
	b.must("index check", b.dev.Memset32(b.flags, 0, 1))
	run(b.flags)
	var v [4]byte
	b.must("index check", b.dev.CopyDtoH(v[:], b.flags))
	return binary.LittleEndian.Uint32(v[:]) != 0
}

// suffix is a dtype's name in kernel names.
func suffix(dt tensor.DType) string {
	if dt == tensor.BF16 {
		return "bf16"
	}
	return "f32"
}

// staged is a tensor seen in the dtype a kernel needs: t itself or a
// temporary converted copy, written back on done when it is an output.
type staged struct {
	b      *Backend
	t, tmp *tensor.Tensor
	out    bool
}

// ptr is the address the kernel gets (0 for a nil tensor).
func (s staged) ptr() devicePtr {
	if s.tmp != nil {
		return tensorPtr(s.tmp)
	}
	return ptrOrNil(s.t)
}

// done writes a staged output back and frees the temporary.
func (s staged) done() {
	if s.tmp == nil {
		return
	}
	if s.out {
		s.b.convert(s.t, s.tmp)
	}
	s.b.Free(s.tmp)
}

// stage returns t as dtype dt; in: its values are read, out: written.
// Only F32 and BF16 convert into each other.
func (b *Backend) stage(op string, t *tensor.Tensor, dt tensor.DType, in, out bool) staged {
	if t == nil || t.DType == dt {
		return staged{b: b, t: t}
	}
	if !isFloat(t.DType) || !isFloat(dt) {
		panic(fmt.Sprintf("cuda: %s: operand %v must be F32 or BF16 (kernel dtype %s)", op, t, dt))
	}
	tmp := b.alloc(dt, t.Shape)
	if in {
		b.convert(tmp, t)
	}
	return staged{b: b, t: t, tmp: tmp, out: out}
}

func isFloat(dt tensor.DType) bool { return dt == tensor.F32 || dt == tensor.BF16 }

// convert dst = src between F32 and BF16 (same numel checked by callers).
func (b *Backend) convert(dst, src *tensor.Tensor) {
	b.flat("r1_convert_"+suffix(src.DType)+"_"+suffix(dst.DType), int64(src.Numel()), tensorPtr(dst), tensorPtr(src), int64(src.Numel()))
}

// ---- elementwise -----------------------------------------------------------

// Copy dst = src: a device copy for equal dtypes, a conversion kernel
// between F32 and BF16.
func (b *Backend) Copy(dst, src *tensor.Tensor) {
	if dst.Numel() != src.Numel() {
		panic(fmt.Sprintf("cuda: Copy %v <- %v", dst, src))
	}
	if dst.DType == src.DType {
		b.must("Copy", b.dev.CopyDtoD(tensorPtr(dst), tensorPtr(src), uint64(src.Bytes())))
		return
	}
	if !isFloat(dst.DType) || !isFloat(src.DType) {
		panic(fmt.Sprintf("cuda: Copy between %v and %v: only F32 and BF16 convert on the GPU", dst, src))
	}
	b.convert(dst, src)
}

// Fill sets every element to v (I32: int32(v), truncated as in Go).
func (b *Backend) Fill(t *tensor.Tensor, v float32) {
	n := int64(t.Numel())
	switch t.DType {
	case tensor.I32:
		b.flat("r1_fill_i32", n, tensorPtr(t), v, n)
	case tensor.F32, tensor.BF16:
		b.flat("r1_fill_"+suffix(t.DType), n, tensorPtr(t), v, n)
	default:
		panic(fmt.Sprintf("cuda: Fill of %v: want F32, BF16 or I32", t))
	}
}

func (b *Backend) mustFloat(op string, ts ...*tensor.Tensor) {
	for _, t := range ts {
		if t != nil && !isFloat(t.DType) {
			panic(fmt.Sprintf("cuda: %s: operand %v must be F32 or BF16", op, t))
		}
	}
}

// Scale t *= s.
func (b *Backend) Scale(t *tensor.Tensor, s float32) {
	b.mustFloat("Scale", t)
	n := int64(t.Numel())
	b.flat("r1_scale_"+suffix(t.DType), n, tensorPtr(t), s, n)
}

// Axpy y += a·x. The kernels cover (y, x) = (F32, F32), (F32, BF16) and
// (BF16, BF16); a BF16 y with an F32 x converts x.
func (b *Backend) Axpy(y *tensor.Tensor, a float32, x *tensor.Tensor) {
	tensor.MustSameShape("cuda: Axpy", y, x)
	b.mustFloat("Axpy", y, x)
	n := int64(y.Numel())
	xt := x.DType
	if y.DType == tensor.BF16 {
		xt = tensor.BF16
	}
	xs := b.stage("Axpy", x, xt, true, false)
	b.flat("r1_axpy_"+suffix(y.DType)+"_"+suffix(xs.dtype()), n, tensorPtr(y), a, xs.ptr(), n)
	xs.done()
}

func (s staged) dtype() tensor.DType {
	if s.tmp != nil {
		return s.tmp.DType
	}
	return s.t.DType
}

// Add out = a + b in out's dtype (out may alias a or b).
func (b *Backend) Add(out, x, y *tensor.Tensor) { b.binary("Add", "r1_add_", out, x, y) }

// Mul out = a ⊙ b in out's dtype (out may alias a or b).
func (b *Backend) Mul(out, x, y *tensor.Tensor) { b.binary("Mul", "r1_mul_", out, x, y) }

// binary runs the elementwise kernel prefix+dtype on same-shape operands
// staged in out's dtype.
func (b *Backend) binary(op, kernel string, out, x, y *tensor.Tensor) {
	tensor.MustSameShape("cuda: "+op, out, x)
	tensor.MustSameShape("cuda: "+op, out, y)
	b.mustFloat(op, out, x, y)
	dt := out.DType
	xs, ys := b.stage(op, x, dt, true, false), b.stage(op, y, dt, true, false)
	n := int64(out.Numel())
	b.flat(kernel+suffix(dt), n, tensorPtr(out), xs.ptr(), ys.ptr(), n)
	xs.done()
	ys.done()
}

// SumSquares returns Σ t², per-block partials in float64 on the device,
// summed on the host in block order (deterministic).
func (b *Backend) SumSquares(t *tensor.Tensor) float64 {
	b.mustFloat("SumSquares", t)
	n := int64(t.Numel())
	cfg, err := launchReduce(n)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.launch("r1_sumsq_"+suffix(t.DType), cfg, err, b.partial, tensorPtr(t), n)
	raw := make([]byte, 8*cfg.Grid[0])
	b.must("SumSquares", b.dev.CopyDtoH(raw, b.partial))
	var s float64
	for i := range cfg.Grid[0] {
		s += math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return s
}

// AllFinite reports whether no element is NaN or ±Inf.
func (b *Backend) AllFinite(t *tensor.Tensor) bool {
	b.mustFloat("AllFinite", t)
	n := int64(t.Numel())
	b.mu.Lock()
	defer b.mu.Unlock()
	flag := b.flags + 4
	b.must("AllFinite", b.dev.Memset32(flag, 0, 1))
	b.flat("r1_nonfinite_"+suffix(t.DType), n, flag, tensorPtr(t), n)
	var v [4]byte
	b.must("AllFinite", b.dev.CopyDtoH(v[:], flag))
	return binary.LittleEndian.Uint32(v[:]) == 0
}

// ---- linear algebra --------------------------------------------------------

// matmulSpec checks the shapes of MatMul (as backend/cpu does) and returns
// the row-major GEMM problem.
func matmulSpec(c, a, b *tensor.Tensor, transA, transB bool) (m, n, k int, err error) {
	if m, n, k, err = tensor.MatMulDims(c, a, b, transA, transB); err != nil {
		err = fmt.Errorf("cuda: %w", err)
	}
	return m, n, k, err
}

// gemmTypes picks the GEMM's input and output dtypes: BF16 inputs when
// either operand is BF16 (the other is converted), F32 when both are; C
// keeps its dtype except that F32 inputs need an F32 output (cuBLASLt has
// no f32·f32→bf16), so such a C is staged through F32.
func gemmTypes(a, b, c tensor.DType) (ab, cOut tensor.DType) {
	ab = tensor.F32
	if a == tensor.BF16 || b == tensor.BF16 {
		ab = tensor.BF16
	}
	cOut = c
	if ab == tensor.F32 {
		cOut = tensor.F32
	}
	return ab, cOut
}

// MatMul c = alpha·op(a)·op(b) + beta·c through cuBLASLt (fp32 accumulate).
func (b *Backend) MatMul(c, x, w *tensor.Tensor, transA, transB bool, alpha, beta float32) {
	m, n, k, err := matmulSpec(c, x, w, transA, transB)
	if err != nil {
		panic(err.Error())
	}
	b.mustFloat("MatMul", c, x, w)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // an empty sum: c = beta·c
		if beta == 0 {
			b.Fill(c, 0)
		} else {
			b.Scale(c, beta)
		}
		return
	}
	ab, ct := gemmTypes(x.DType, w.DType, c.DType)
	xs, ws := b.stage("MatMul", x, ab, true, false), b.stage("MatMul", w, ab, true, false)
	// A staged C is always converted in: with beta = 0 cuBLASLt should
	// not read it, but a fresh temporary may hold NaN bits.
	cs := b.stage("MatMul", c, ct, true, true)
	abT, _ := dataType(ab)
	cT, _ := dataType(ct)
	spec := gemmSpec{M: m, N: n, K: k, TransA: transA, TransB: transB, AB: abT, C: cT}
	b.must("MatMul", b.dev.Gemm(spec, xs.ptr(), ws.ptr(), cs.ptr(), alpha, beta))
	xs.done()
	ws.done()
	cs.done()
}

// AddBias out (N,C) += bias (C). Kernels: (BF16, BF16), (BF16, F32),
// (F32, F32); an F32 out with a BF16 bias converts the bias.
func (b *Backend) AddBias(out, bias *tensor.Tensor) {
	if out.Cols() != bias.Numel() {
		panic(fmt.Sprintf("cuda: AddBias %v + %v", out.Shape, bias.Shape))
	}
	b.mustFloat("AddBias", out, bias)
	bt := bias.DType
	if out.DType == tensor.F32 {
		bt = tensor.F32
	}
	bs := b.stage("AddBias", bias, bt, true, false)
	n := int64(out.Numel())
	b.flat("r1_add_bias_"+suffix(out.DType)+"_"+suffix(bt), n, tensorPtr(out), bs.ptr(), n, int32(out.Cols()))
	bs.done()
}

// SumRowsAcc dbias (C) += Σ_n dout (N,C), accumulated in an F32 dbias
// (a BF16 dbias is staged through F32).
func (b *Backend) SumRowsAcc(dbias, dout *tensor.Tensor) {
	if dout.Cols() != dbias.Numel() {
		panic(fmt.Sprintf("cuda: SumRowsAcc %v += rows of %v", dbias.Shape, dout.Shape))
	}
	b.mustFloat("SumRowsAcc", dbias, dout)
	if dout.Numel() == 0 {
		return
	}
	ds := b.stage("SumRowsAcc", dbias, tensor.F32, true, true)
	cfg, err := launchColumns(dout.Cols())
	b.launch("r1_sum_rows_acc_f32_"+suffix(dout.DType), cfg, err, ds.ptr(), tensorPtr(dout), int32(dout.Rows()), int32(dout.Cols()))
	ds.done()
}

// ---- transformer ops -------------------------------------------------------

// firstBad returns the first value of an I32 tensor outside [0,n): only on
// the error path, to name the culprit as backend/cpu does.
func (b *Backend) firstBad(t *tensor.Tensor, n int) (int32, bool) {
	for _, v := range b.DownloadInt32(t) {
		if v < 0 || int(v) >= n {
			return v, true
		}
	}
	return 0, false
}

// Embedding out (N,C) = table (V,C)[ids (N)].
func (b *Backend) Embedding(out, table, ids *tensor.Tensor) {
	c, v := table.Cols(), table.Rows()
	if out.Cols() != c || out.Rows() != ids.Numel() || ids.DType != tensor.I32 {
		panic(fmt.Sprintf("cuda: Embedding out%v table%v ids%v", out.Shape, table.Shape, ids))
	}
	b.mustFloat("Embedding", out, table)
	n := ids.Numel()
	if n == 0 {
		return
	}
	os, ts := b.stage("Embedding", out, tensor.BF16, false, true), b.stage("Embedding", table, tensor.BF16, true, false)
	cfg, cerr := launchRows(n, 256)
	bad := b.checked(func(flag devicePtr) {
		b.launch("r1_embedding_fwd", cfg, cerr, os.ptr(), ts.ptr(), tensorPtr(ids), flag, int32(c), int32(v))
	})
	os.done()
	ts.done()
	if bad {
		id, _ := b.firstBad(ids, v)
		panic(fmt.Sprintf("cuda: Embedding: token id %d outside vocabulary [0,%d)", id, v))
	}
}

// EmbeddingBackward dtable (V,C) += dout (N,C) scattered by ids (N), with
// atomic F32 adds (the order of colliding ids, and so the last bits, vary).
func (b *Backend) EmbeddingBackward(dtable, dout, ids *tensor.Tensor) {
	c, v := dtable.Cols(), dtable.Rows()
	if dout.Cols() != c || dout.Rows() != ids.Numel() || ids.DType != tensor.I32 {
		panic(fmt.Sprintf("cuda: EmbeddingBackward dtable%v dout%v ids%v", dtable.Shape, dout.Shape, ids))
	}
	b.mustFloat("EmbeddingBackward", dtable, dout)
	n := ids.Numel()
	if n == 0 {
		return
	}
	dts, ds := b.stage("EmbeddingBackward", dtable, tensor.F32, true, true), b.stage("EmbeddingBackward", dout, tensor.BF16, true, false)
	cfg, cerr := launchRows(n, 256)
	bad := b.checked(func(flag devicePtr) {
		b.launch("r1_embedding_bwd", cfg, cerr, dts.ptr(), ds.ptr(), tensorPtr(ids), flag, int32(c), int32(v))
	})
	dts.done()
	ds.done()
	if bad {
		id, _ := b.firstBad(ids, v)
		panic(fmt.Sprintf("cuda: EmbeddingBackward: token id %d outside vocabulary [0,%d)", id, v))
	}
}

// RMSNorm out (N,C) = x·rstd·w, rstd (N).
func (b *Backend) RMSNorm(out, rstd, x, w *tensor.Tensor, eps float32) {
	if x.Cols() != w.Numel() || out.Numel() != x.Numel() || rstd.Numel() != x.Rows() {
		panic(fmt.Sprintf("cuda: RMSNorm out%v rstd%v x%v w%v", out.Shape, rstd.Shape, x.Shape, w.Shape))
	}
	b.mustFloat("RMSNorm", out, rstd, x, w)
	if x.Numel() == 0 {
		return
	}
	os := b.stage("RMSNorm", out, tensor.BF16, false, true)
	rs := b.stage("RMSNorm", rstd, tensor.F32, false, true)
	xs, ws := b.stage("RMSNorm", x, tensor.BF16, true, false), b.stage("RMSNorm", w, tensor.BF16, true, false)
	cfg, err := launchRows(x.Rows(), 256)
	b.launch("r1_rmsnorm_fwd", cfg, err, os.ptr(), rs.ptr(), xs.ptr(), ws.ptr(), int32(x.Cols()), eps)
	for _, s := range []staged{os, rs, xs, ws} {
		s.done()
	}
}

// RMSNormBackward dx (N,C) overwritten, dw (C) += (F32 accumulation).
func (b *Backend) RMSNormBackward(dx, dw, dout, x, w, rstd *tensor.Tensor) {
	if x.Cols() != w.Numel() || dw.Numel() != w.Numel() || dx.Numel() != x.Numel() || dout.Numel() != x.Numel() || rstd.Numel() != x.Rows() {
		panic(fmt.Sprintf("cuda: RMSNormBackward dx%v dw%v dout%v x%v w%v rstd%v", dx.Shape, dw.Shape, dout.Shape, x.Shape, w.Shape, rstd.Shape))
	}
	b.mustFloat("RMSNormBackward", dx, dw, dout, x, w, rstd)
	if x.Numel() == 0 {
		return
	}
	n, c := x.Rows(), x.Cols()
	dxs := b.stage("RMSNormBackward", dx, tensor.BF16, false, true)
	dws := b.stage("RMSNormBackward", dw, tensor.F32, true, true)
	ds := b.stage("RMSNormBackward", dout, tensor.BF16, true, false)
	xs := b.stage("RMSNormBackward", x, tensor.BF16, true, false)
	ws := b.stage("RMSNormBackward", w, tensor.BF16, true, false)
	rs := b.stage("RMSNormBackward", rstd, tensor.F32, true, false)
	cfg, err := launchRows(n, 256)
	b.launch("r1_rmsnorm_bwd_dx", cfg, err, dxs.ptr(), ds.ptr(), xs.ptr(), ws.ptr(), rs.ptr(), int32(c))
	ccfg, cerr := launchColumns(c)
	b.launch("r1_rmsnorm_bwd_dw", ccfg, cerr, dws.ptr(), ds.ptr(), xs.ptr(), rs.ptr(), int32(n), int32(c))
	for _, s := range []staged{dxs, dws, ds, xs, ws, rs} {
		s.done()
	}
}

// RoPE rotates x (B,T,H,D) in place by the angles of pos (B,T) in the
// cos, sin (P, D/2) tables.
func (b *Backend) RoPE(x, cos, sin, pos *tensor.Tensor, inverse bool) {
	if len(x.Shape) != 4 || x.Shape[3]%2 != 0 || cos.Cols() != x.Shape[3]/2 || !tensor.SameShape(cos.Shape, sin.Shape) ||
		pos.DType != tensor.I32 || pos.Numel() != x.Shape[0]*x.Shape[1] {
		panic(fmt.Sprintf("cuda: RoPE x%v cos%v sin%v pos%v", x.Shape, cos.Shape, sin.Shape, pos))
	}
	b.mustFloat("RoPE", x, cos, sin)
	bt, h, d, p := x.Shape[0]*x.Shape[1], x.Shape[2], x.Shape[3], cos.Rows()
	if x.Numel() == 0 {
		return
	}
	xs := b.stage("RoPE", x, tensor.BF16, true, true)
	cs, ss := b.stage("RoPE", cos, tensor.F32, true, false), b.stage("RoPE", sin, tensor.F32, true, false)
	inv := int32(0)
	if inverse {
		inv = 1
	}
	bad := b.checked(func(flag devicePtr) {
		b.flat("r1_rope", int64(bt*h*d/2), xs.ptr(), cs.ptr(), ss.ptr(), tensorPtr(pos), flag, int64(bt), int32(h), int32(d), int32(p), inv)
	})
	for _, s := range []staged{xs, cs, ss} {
		s.done()
	}
	if bad {
		v, _ := b.firstBad(pos, p)
		panic(fmt.Sprintf("cuda: RoPE position %d outside the table [0,%d)", v, p))
	}
}

// attnDims checks the shapes of an attention call like backend/cpu and
// against the kernels' limits.
func attnDims(q, k, v, out, lse, mask *tensor.Tensor) (b, t, hq, hkv, d int, err error) {
	if len(q.Shape) != 4 || len(k.Shape) != 4 {
		return 0, 0, 0, 0, 0, fmt.Errorf("cuda: Attention q%v k%v: want 4-D (B,T,H,D) tensors", q.Shape, k.Shape)
	}
	b, t, hq, d = q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	hkv = k.Shape[2]
	if k.Shape[0] != b || k.Shape[1] != t || k.Shape[3] != d || !tensor.SameShape(k.Shape, v.Shape) ||
		!tensor.SameShape(out.Shape, q.Shape) || lse.Numel() != b*hq*t {
		return 0, 0, 0, 0, 0, fmt.Errorf("cuda: Attention q%v k%v v%v out%v lse%v", q.Shape, k.Shape, v.Shape, out.Shape, lse.Shape)
	}
	if mask != nil && (mask.DType != tensor.I32 || mask.Numel() != b*t) {
		return 0, 0, 0, 0, 0, fmt.Errorf("cuda: Attention mask %v: want I32 (B,T) = (%d,%d)", mask, b, t)
	}
	if err := checkAttentionShape(d, hq, hkv, false); err != nil {
		return 0, 0, 0, 0, 0, err
	}
	return b, t, hq, hkv, d, nil
}

// Attention is causal grouped-query attention (flash-attention style:
// only lse (B,Hq,T) is kept).
func (b *Backend) Attention(out, lse, q, k, v, mask *tensor.Tensor, scale float32) {
	bb, t, hq, hkv, d, err := attnDims(q, k, v, out, lse, mask)
	if err != nil {
		panic(err.Error())
	}
	b.mustFloat("Attention", out, lse, q, k, v)
	if bb == 0 || t == 0 {
		return
	}
	os, ls := b.stage("Attention", out, tensor.BF16, false, true), b.stage("Attention", lse, tensor.F32, false, true)
	qs, ks, vs := b.stage("Attention", q, tensor.BF16, true, false), b.stage("Attention", k, tensor.BF16, true, false), b.stage("Attention", v, tensor.BF16, true, false)
	cfg, cerr := launchAttention(bb, t, hq)
	b.launch("r1_attention_fwd", cfg, cerr, os.ptr(), ls.ptr(), qs.ptr(), ks.ptr(), vs.ptr(), ptrOrNil(mask),
		int32(t), int32(hq), int32(hkv), int32(d), scale)
	for _, s := range []staged{os, ls, qs, ks, vs} {
		s.done()
	}
}

// AttentionBackward overwrites dq, dk, dv: delta = Σ dout·out first, then
// dq per query tile and dk, dv per key tile (one writer per row).
func (b *Backend) AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, mask *tensor.Tensor, scale float32) {
	bb, t, hq, hkv, d, err := attnDims(q, k, v, out, lse, mask)
	if err == nil && (!tensor.SameShape(dq.Shape, q.Shape) || !tensor.SameShape(dout.Shape, q.Shape) ||
		!tensor.SameShape(dk.Shape, k.Shape) || !tensor.SameShape(dv.Shape, k.Shape)) {
		err = fmt.Errorf("cuda: AttentionBackward dq%v dk%v dv%v dout%v for q%v k%v", dq.Shape, dk.Shape, dv.Shape, dout.Shape, q.Shape, k.Shape)
	}
	if err != nil {
		panic(err.Error())
	}
	b.mustFloat("AttentionBackward", dq, dk, dv, dout, out, lse, q, k, v)
	if bb == 0 || t == 0 {
		return
	}
	st := func(x *tensor.Tensor, dt tensor.DType, in, o bool) staged {
		return b.stage("AttentionBackward", x, dt, in, o)
	}
	dqs, dks, dvs := st(dq, tensor.BF16, false, true), st(dk, tensor.BF16, false, true), st(dv, tensor.BF16, false, true)
	ds, os, ls := st(dout, tensor.BF16, true, false), st(out, tensor.BF16, true, false), st(lse, tensor.F32, true, false)
	qs, ks, vs := st(q, tensor.BF16, true, false), st(k, tensor.BF16, true, false), st(v, tensor.BF16, true, false)
	delta := b.alloc(tensor.F32, []int{bb, hq, t})
	wc, werr := launchWarpRows(int64(bb * t * hq))
	b.launch("r1_attention_bwd_delta", wc, werr, tensorPtr(delta), ds.ptr(), os.ptr(), int32(bb), int32(t), int32(hq), int32(d))
	qc, qerr := launchAttention(bb, t, hq)
	b.launch("r1_attention_bwd_dq", qc, qerr, dqs.ptr(), ds.ptr(), ls.ptr(), tensorPtr(delta), qs.ptr(), ks.ptr(), vs.ptr(), ptrOrNil(mask),
		int32(t), int32(hq), int32(hkv), int32(d), scale)
	kc, kerr := launchAttention(bb, t, hkv)
	b.launch("r1_attention_bwd_dkdv", kc, kerr, dks.ptr(), dvs.ptr(), ds.ptr(), ls.ptr(), tensorPtr(delta), qs.ptr(), ks.ptr(), vs.ptr(), ptrOrNil(mask),
		int32(t), int32(hq), int32(hkv), int32(d), scale)
	b.Free(delta)
	for _, s := range []staged{dqs, dks, dvs, ds, os, ls, qs, ks, vs} {
		s.done()
	}
}

// SwiGLU out = silu(gate)·up, all (N,F).
func (b *Backend) SwiGLU(out, gate, up *tensor.Tensor) {
	mustSameNumel("SwiGLU", out, gate, up)
	b.mustFloat("SwiGLU", out, gate, up)
	os := b.stage("SwiGLU", out, tensor.BF16, false, true)
	gs, us := b.stage("SwiGLU", gate, tensor.BF16, true, false), b.stage("SwiGLU", up, tensor.BF16, true, false)
	n := int64(out.Numel())
	b.flat("r1_swiglu_fwd", n, os.ptr(), gs.ptr(), us.ptr(), n)
	for _, s := range []staged{os, gs, us} {
		s.done()
	}
}

// SwiGLUBackward overwrites dgate, dup.
func (b *Backend) SwiGLUBackward(dgate, dup, dout, gate, up *tensor.Tensor) {
	mustSameNumel("SwiGLUBackward", dgate, dup, dout, gate, up)
	b.mustFloat("SwiGLUBackward", dgate, dup, dout, gate, up)
	st := func(x *tensor.Tensor, in, o bool) staged { return b.stage("SwiGLUBackward", x, tensor.BF16, in, o) }
	dgs, dus, ds, gs, us := st(dgate, false, true), st(dup, false, true), st(dout, true, false), st(gate, true, false), st(up, true, false)
	n := int64(dout.Numel())
	b.flat("r1_swiglu_bwd", n, dgs.ptr(), dus.ptr(), ds.ptr(), gs.ptr(), us.ptr(), n)
	for _, s := range []staged{dgs, dus, ds, gs, us} {
		s.done()
	}
}

// mustSameNumel is tensor.MustSameNumel with this backend's name.
func mustSameNumel(op string, ts ...*tensor.Tensor) { tensor.MustSameNumel("cuda: "+op, ts...) }

// LogSoftmaxGather: per row of logits (N,V), logp, lse, entropy (N).
// entropy may be nil. Targets < 0 are ignored; targets ≥ V panic.
func (b *Backend) LogSoftmaxGather(logp, lse, entropy, logits, target *tensor.Tensor) {
	n, v := logits.Rows(), logits.Cols()
	if target.DType != tensor.I32 || target.Numel() != n || logp.Numel() != n || lse.Numel() != n || (entropy != nil && entropy.Numel() != n) {
		panic(fmt.Sprintf("cuda: LogSoftmaxGather logp%v lse%v logits%v target%v", logp.Shape, lse.Shape, logits.Shape, target))
	}
	b.mustFloat("LogSoftmaxGather", logp, lse, entropy, logits)
	if n == 0 || v == 0 {
		return
	}
	lps, lss, es := b.stage("LogSoftmaxGather", logp, tensor.F32, false, true), b.stage("LogSoftmaxGather", lse, tensor.F32, false, true),
		b.stage("LogSoftmaxGather", entropy, tensor.F32, false, true)
	zs := b.stage("LogSoftmaxGather", logits, tensor.BF16, true, false)
	cfg, cerr := launchRows(n, 512)
	bad := b.checked(func(flag devicePtr) {
		b.launch("r1_logsoftmax_gather_fwd", cfg, cerr, lps.ptr(), lss.ptr(), es.ptr(), zs.ptr(), tensorPtr(target), flag, int32(v))
	})
	for _, s := range []staged{lps, lss, es, zs} {
		s.done()
	}
	if bad {
		for _, t := range b.DownloadInt32(target) {
			if int(t) >= v {
				panic(fmt.Sprintf("cuda: LogSoftmaxGather: target %d outside vocabulary [0,%d)", t, v))
			}
		}
		panic(fmt.Sprintf("cuda: LogSoftmaxGather: a target outside vocabulary [0,%d)", v))
	}
}

// LogSoftmaxGatherBackward overwrites logits (N,V) with ∂loss/∂logits.
func (b *Backend) LogSoftmaxGatherBackward(logits, lse, target, dlogp, dentropy *tensor.Tensor) {
	n, v := logits.Rows(), logits.Cols()
	if target.DType != tensor.I32 || target.Numel() != n || lse.Numel() != n ||
		(dlogp != nil && dlogp.Numel() != n) || (dentropy != nil && dentropy.Numel() != n) {
		panic(fmt.Sprintf("cuda: LogSoftmaxGatherBackward logits%v lse%v target%v", logits.Shape, lse.Shape, target))
	}
	b.mustFloat("LogSoftmaxGatherBackward", logits, lse, dlogp, dentropy)
	if n == 0 || v == 0 {
		return
	}
	zs := b.stage("LogSoftmaxGatherBackward", logits, tensor.BF16, true, true)
	st := func(x *tensor.Tensor) staged { return b.stage("LogSoftmaxGatherBackward", x, tensor.F32, true, false) }
	ls, dls, des := st(lse), st(dlogp), st(dentropy)
	cfg, cerr := launchRows(n, 512)
	b.launch("r1_logsoftmax_gather_bwd", cfg, cerr, zs.ptr(), ls.ptr(), tensorPtr(target), dls.ptr(), des.ptr(), int32(v))
	for _, s := range []staged{zs, ls, dls, des} {
		s.done()
	}
}

// ---- paged KV cache --------------------------------------------------------

// KVWrite stores k, v (N,Hkv,D) into kcache, vcache (S,Hkv,D) at slots (N).
func (b *Backend) KVWrite(kcache, vcache, k, v, slots *tensor.Tensor) {
	n := slots.Numel()
	if slots.DType != tensor.I32 || !tensor.SameShape(kcache.Shape, vcache.Shape) || !tensor.SameShape(k.Shape, v.Shape) ||
		len(kcache.Shape) == 0 || kcache.Shape[0] == 0 && n > 0 || n > 0 && (k.Numel()%n != 0 || kcache.Numel()/kcache.Shape[0] != k.Numel()/n) {
		panic(fmt.Sprintf("cuda: KVWrite kcache%v vcache%v k%v v%v slots%v", kcache.Shape, vcache.Shape, k.Shape, v.Shape, slots))
	}
	if n == 0 {
		return
	}
	b.mustFloat("KVWrite", kcache, vcache, k, v)
	row, capacity := k.Numel()/n, kcache.Shape[0]
	st := func(x *tensor.Tensor, in, o bool) staged { return b.stage("KVWrite", x, tensor.BF16, in, o) }
	kcs, vcs, ks, vs := st(kcache, true, true), st(vcache, true, true), st(k, true, false), st(v, true, false)
	bad := b.checked(func(flag devicePtr) {
		b.flat("r1_kv_write", int64(n*row), kcs.ptr(), vcs.ptr(), ks.ptr(), vs.ptr(), tensorPtr(slots), flag, int32(n), int32(row), int32(capacity))
	})
	for _, s := range []staged{kcs, vcs, ks, vs} {
		s.done()
	}
	if bad {
		s, _ := b.firstBad(slots, capacity)
		panic(fmt.Sprintf("cuda: KVWrite slot %d outside the cache [0,%d)", s, capacity))
	}
}

// CopySlots copies cache rows src[i] → dst[i].
func (b *Backend) CopySlots(cache, src, dst *tensor.Tensor) {
	if len(cache.Shape) == 0 || src.DType != tensor.I32 || dst.DType != tensor.I32 || src.Numel() != dst.Numel() {
		panic(fmt.Sprintf("cuda: CopySlots cache%v src%v dst%v", cache.Shape, src, dst))
	}
	n := src.Numel()
	if n == 0 || cache.Numel() == 0 {
		return
	}
	b.mustFloat("CopySlots", cache)
	slots := cache.Shape[0]
	row := cache.Numel() / slots
	cs := b.stage("CopySlots", cache, tensor.BF16, true, true)
	bad := b.checked(func(flag devicePtr) {
		b.flat("r1_copy_slots", int64(n*row), cs.ptr(), tensorPtr(src), tensorPtr(dst), flag, int32(n), int32(row), int32(slots))
	})
	cs.done()
	if bad {
		s, ok := b.firstBad(src, slots)
		if !ok {
			s, _ = b.firstBad(dst, slots)
		}
		panic(fmt.Sprintf("cuda: CopySlots slot %d outside the cache [0,%d)", s, slots))
	}
}

// PagedAttention: see tensor.Backend.
func (b *Backend) PagedAttention(out, q, kcache, vcache, blockTable, seqIdx, seqLens *tensor.Tensor, blockSize int, scale float32) {
	if len(q.Shape) != 3 || len(kcache.Shape) != 3 || !tensor.SameShape(out.Shape, q.Shape) || !tensor.SameShape(kcache.Shape, vcache.Shape) ||
		kcache.Shape[2] != q.Shape[2] || len(blockTable.Shape) != 2 || blockSize < 1 ||
		blockTable.DType != tensor.I32 || seqIdx.DType != tensor.I32 || seqLens.DType != tensor.I32 ||
		seqIdx.Numel() != q.Shape[0] || seqLens.Numel() != q.Shape[0] {
		panic(fmt.Sprintf("cuda: PagedAttention out%v q%v kcache%v vcache%v blockTable%v seqIdx%v seqLens%v blockSize %d",
			out.Shape, q.Shape, kcache.Shape, vcache.Shape, blockTable.Shape, seqIdx.Shape, seqLens.Shape, blockSize))
	}
	n, hq, d, hkv := q.Shape[0], q.Shape[1], q.Shape[2], kcache.Shape[1]
	b.must("PagedAttention", checkAttentionShape(d, hq, hkv, true))
	if n == 0 {
		return
	}
	b.mustFloat("PagedAttention", out, q, kcache, vcache)
	numSeqs, maxBlocks := blockTable.Shape[0], blockTable.Shape[1]
	st := func(x *tensor.Tensor, in, o bool) staged { return b.stage("PagedAttention", x, tensor.BF16, in, o) }
	os, qs, kcs, vcs := st(out, false, true), st(q, true, false), st(kcache, true, false), st(vcache, true, false)
	cfg, cerr := launchPaged(n, hkv)
	bad := b.checked(func(flag devicePtr) {
		b.launch("r1_paged_attention", cfg, cerr, os.ptr(), qs.ptr(), kcs.ptr(), vcs.ptr(), tensorPtr(blockTable), tensorPtr(seqIdx), tensorPtr(seqLens), flag,
			int32(hq), int32(hkv), int32(d), int32(numSeqs), int32(maxBlocks), int32(blockSize), int32(kcache.Shape[0]), scale)
	})
	for _, s := range []staged{os, qs, kcs, vcs} {
		s.done()
	}
	if bad {
		for _, l := range b.DownloadInt32(seqLens) {
			if int(l) > maxBlocks*blockSize {
				panic(fmt.Sprintf("cuda: PagedAttention: sequence length %d exceeds %d blocks of %d", l, maxBlocks, blockSize))
			}
		}
		panic(fmt.Sprintf("cuda: PagedAttention: a sequence index, length or block number is out of range (%d sequences of %d blocks, %d cache slots)",
			numSeqs, maxBlocks, kcache.Shape[0]))
	}
}

// ---- optimizer -------------------------------------------------------------

// adamConstants are the per-step scalars of r1_adamw_*, computed in
// float64 exactly as backend/cpu does.
func adamConstants(lr, beta1, beta2, weightDecay float32, step int) (decay, stepSize, sqrtBC2 float32, err error) {
	if step < 1 {
		return 0, 0, 0, errors.New("cuda: AdamW step must be ≥ 1 (bias correction divides by 1−β1^step)")
	}
	bc1 := 1 - math.Pow(float64(beta1), float64(step))
	bc2 := 1 - math.Pow(float64(beta2), float64(step))
	return 1 - lr*weightDecay, float32(float64(lr) / bc1), float32(math.Sqrt(bc2)), nil
}

// AdamW updates param, m, v (F32) in place from grad (F32 or BF16).
func (b *Backend) AdamW(param, grad, m, v *tensor.Tensor, lr, beta1, beta2, eps, weightDecay float32, step int) {
	mustSameNumel("AdamW", param, grad, m, v)
	for _, t := range []*tensor.Tensor{param, m, v} {
		if t.DType != tensor.F32 {
			panic(fmt.Sprintf("cuda: AdamW: %v must be F32 (master weights and moments)", t))
		}
	}
	b.mustFloat("AdamW", grad)
	decay, stepSize, sqrtBC2, err := adamConstants(lr, beta1, beta2, weightDecay, step)
	b.must("AdamW", err)
	n := int64(param.Numel())
	b.flat("r1_adamw_"+suffix(grad.DType), n, tensorPtr(param), devicePtr(0), tensorPtr(grad), tensorPtr(m), tensorPtr(v), n,
		beta1, beta2, eps, decay, stepSize, sqrtBC2)
}
