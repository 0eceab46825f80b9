package cuda

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
)

// ---- a fake device: host memory, kernels on the emulator -------------------

// fakeMem is raw "device" memory on the host for the real caching
// allocator. Addresses start high and are 4 KiB apart so that an offset
// past the end of a block never lands in another one.
type fakeMem struct {
	next   devicePtr
	blocks map[devicePtr][]byte
}

func (m *fakeMem) alloc(n uint64) (devicePtr, error) {
	if m.next == 0 {
		m.next = 1 << 40
	}
	p := m.next
	m.next += devicePtr((n + 8191) / 4096 * 4096)
	m.blocks[p] = make([]byte, n)
	return p, nil
}

func (m *fakeMem) free(p devicePtr) error {
	if _, ok := m.blocks[p]; !ok {
		return fmt.Errorf("fake: free of unknown block %#x", uint64(p))
	}
	delete(m.blocks, p)
	return nil
}

// fakeGPU implements gpu on the host. Every access is bounds-checked
// against the allocation it falls in, so the Backend's address arithmetic
// is checked too. Launches run the real kernel source on the emulator of
// kernels_test.go (nil emu: launches fail); Gemm is a naive host loop that
// reads and writes the operands in the gemmSpec's types.
type fakeGPU struct {
	t        *testing.T
	mem      *fakeMem
	alloc    *allocator
	emu      *emulator
	launches []string
}

func newFakeGPU(t *testing.T, emu *emulator) *fakeGPU {
	m := &fakeMem{blocks: map[devicePtr][]byte{}}
	return &fakeGPU{t: t, mem: m, alloc: newAllocator(m), emu: emu}
}

// fakeBackend is a Backend on a fake device with every kernel "loaded".
func fakeBackend(t *testing.T, emu *emulator) (*Backend, *fakeGPU) {
	t.Helper()
	f := newFakeGPU(t, emu)
	fns := map[string]function{}
	for _, k := range kernelTable {
		fns[k.Name] = function{h: 1, name: k.Name}
	}
	b, err := newBackend(f, "cuda:fake", fns)
	if err != nil {
		t.Fatal(err)
	}
	return b, f
}

// span returns the bytes [p, p+n) of the allocation holding p.
func (f *fakeGPU) span(p devicePtr, n uint64) ([]byte, error) {
	for base, blk := range f.mem.blocks {
		if p >= base && p < base+devicePtr(len(blk))+1 {
			off := uint64(p - base)
			if off+n > uint64(len(blk)) {
				return nil, fmt.Errorf("fake: access [%#x, +%d) overruns its %d-byte block at %#x", uint64(p), n, len(blk), uint64(base))
			}
			return blk[off : off+n], nil
		}
	}
	return nil, fmt.Errorf("fake: address %#x is not in any allocation", uint64(p))
}

// rest is the allocation holding p from p on.
func (f *fakeGPU) rest(p devicePtr) ([]byte, devicePtr, error) {
	for base, blk := range f.mem.blocks {
		if p >= base && p < base+devicePtr(len(blk)) {
			return blk[p-base:], base, nil
		}
	}
	return nil, 0, fmt.Errorf("fake: kernel argument %#x is not in any allocation", uint64(p))
}

func (f *fakeGPU) Alloc(n uint64) (devicePtr, error) { return f.alloc.Alloc(n) }
func (f *fakeGPU) Free(p devicePtr) error            { return f.alloc.Free(p) }
func (f *fakeGPU) MemStats() memStats                { return f.alloc.Stats() }

func (f *fakeGPU) CopyHtoD(dst devicePtr, src []byte) error {
	d, err := f.span(dst, uint64(len(src)))
	if err == nil {
		copy(d, src)
	}
	return err
}

func (f *fakeGPU) CopyDtoH(dst []byte, src devicePtr) error {
	s, err := f.span(src, uint64(len(dst)))
	if err == nil {
		copy(dst, s)
	}
	return err
}

func (f *fakeGPU) CopyDtoD(dst, src devicePtr, n uint64) error {
	s, err := f.span(src, n)
	if err != nil {
		return err
	}
	d, err := f.span(dst, n)
	if err == nil {
		copy(d, s)
	}
	return err
}

func (f *fakeGPU) Memset32(p devicePtr, v uint32, n uint64) error {
	d, err := f.span(p, 4*n)
	if err == nil {
		for i := uint64(0); i < n; i++ {
			binary.LittleEndian.PutUint32(d[4*i:], v)
		}
	}
	return err
}

func argKind(t kernelArgType) (string, int) {
	switch t {
	case argPtrBF16:
		return "bf16", 2
	case argPtrF32:
		return "f32", 4
	case argPtrF64:
		return "f64", 8
	}
	return "i32", 4
}

func (f *fakeGPU) Launch(fn function, grid, block [3]uint32, sharedMem uint32, args ...any) error {
	f.launches = append(f.launches, fn.name)
	if f.emu == nil {
		return fmt.Errorf("fake: no emulator to run %s", fn.name)
	}
	spec, ok := kernelByName(fn.name)
	if !ok {
		return fmt.Errorf("fake: unknown kernel %s", fn.name)
	}
	if len(args) != len(spec.Args) {
		return fmt.Errorf("fake: %s called with %d arguments, table has %d", fn.name, len(args), len(spec.Args))
	}
	if spec.Name == "r1_convert_f32_bf16" || spec.Name == "r1_convert_bf16_f32" {
		return f.convert(spec.Name, args)
	}
	type bound struct {
		buf  *emuBuf
		mem  []byte
		size int
	}
	var bufs []bound
	byPtr := map[devicePtr]*emuBuf{}
	blockOf := map[devicePtr]devicePtr{}
	eargs := make([]any, len(args))
	for i, a := range args {
		at := spec.Args[i].Type
		switch at {
		case argPtrBF16, argPtrF32, argPtrF64, argPtrI32:
			p, ok := a.(devicePtr)
			if !ok {
				return fmt.Errorf("fake: %s argument %s is %T, want devicePtr", fn.name, spec.Args[i].Name, a)
			}
			if p == 0 {
				eargs[i] = nil
				continue
			}
			kind, size := argKind(at)
			if b, ok := byPtr[p]; ok {
				if b.kind != kind {
					return fmt.Errorf("fake: %s: %#x passed as %s and %s", fn.name, uint64(p), b.kind, kind)
				}
				eargs[i] = b
				continue
			}
			mem, base, err := f.rest(p)
			if err != nil {
				return fmt.Errorf("%w (%s argument %s)", err, fn.name, spec.Args[i].Name)
			}
			if q, dup := blockOf[base]; dup {
				return fmt.Errorf("fake: %s: arguments %#x and %#x overlap in one allocation", fn.name, uint64(q), uint64(p))
			}
			blockOf[base] = p
			b := &emuBuf{kind: kind, bits: make([]uint64, len(mem)/size)}
			for j := range b.bits {
				switch size {
				case 2:
					b.bits[j] = uint64(binary.LittleEndian.Uint16(mem[2*j:]))
				case 4:
					b.bits[j] = uint64(binary.LittleEndian.Uint32(mem[4*j:]))
				case 8:
					b.bits[j] = binary.LittleEndian.Uint64(mem[8*j:])
				}
			}
			byPtr[p] = b
			bufs = append(bufs, bound{b, mem, size})
			eargs[i] = b
		case argI32:
			if _, ok := a.(int32); !ok {
				return fmt.Errorf("fake: %s argument %s is %T, want int32", fn.name, spec.Args[i].Name, a)
			}
			eargs[i] = a
		case argI64:
			if _, ok := a.(int64); !ok {
				return fmt.Errorf("fake: %s argument %s is %T, want int64", fn.name, spec.Args[i].Name, a)
			}
			eargs[i] = a
		case argF32:
			if _, ok := a.(float32); !ok {
				return fmt.Errorf("fake: %s argument %s is %T, want float32", fn.name, spec.Args[i].Name, a)
			}
			eargs[i] = a
		}
	}
	f.emu.launch(f.t, fn.name, launchConfig{Grid: grid, Block: block}, nil, eargs...)
	for _, b := range bufs {
		for j, u := range b.buf.bits {
			switch b.size {
			case 2:
				binary.LittleEndian.PutUint16(b.mem[2*j:], uint16(u))
			case 4:
				binary.LittleEndian.PutUint32(b.mem[4*j:], uint32(u))
			case 8:
				binary.LittleEndian.PutUint64(b.mem[8*j:], u)
			}
		}
	}
	return nil
}

// convert runs the dtype conversions in Go: they are the bulk of the
// launches when F32 tensors are staged, each would cost the emulator one
// OS thread per element, and TestKernelsEmulated already checks the
// kernels bit for bit against tensor.F32ToBF16, which this uses.
func (f *fakeGPU) convert(name string, args []any) error {
	dst, src, n := args[0].(devicePtr), args[1].(devicePtr), args[2].(int64)
	from, to := dataF32, dataBF16
	if name == "r1_convert_bf16_f32" {
		from, to = dataBF16, dataF32
	}
	vals, err := f.readF(src, from, int(n))
	if err != nil {
		return err
	}
	raw, err := f.span(dst, uint64(int(n)*to.size()))
	if err != nil {
		return err
	}
	for i, v := range vals {
		if to == dataF32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		} else {
			binary.LittleEndian.PutUint16(raw[2*i:], tensor.F32ToBF16(float32(v)))
		}
	}
	return nil
}

func (f *fakeGPU) readF(p devicePtr, t cudaDataType, n int) ([]float64, error) {
	raw, err := f.span(p, uint64(n*t.size()))
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i := range out {
		switch t {
		case dataF32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		case dataBF16:
			out[i] = float64(tensor.BF16ToF32(binary.LittleEndian.Uint16(raw[2*i:])))
		default:
			out[i] = float64(tensor.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:])))
		}
	}
	return out, nil
}

// Gemm is C = alpha·op(A)·op(B) + beta·C row-major, as gemmSpec documents.
func (f *fakeGPU) Gemm(g gemmSpec, a, b, c devicePtr, alpha, beta float32) error {
	f.launches = append(f.launches, "gemm")
	if err := g.validate(); err != nil {
		return err
	}
	av, err := f.readF(a, g.AB, g.M*g.K)
	if err != nil {
		return err
	}
	bv, err := f.readF(b, g.AB, g.K*g.N)
	if err != nil {
		return err
	}
	cv, err := f.readF(c, g.C, g.M*g.N)
	if err != nil {
		return err
	}
	raw, _ := f.span(c, uint64(g.M*g.N*g.C.size()))
	for i := 0; i < g.M; i++ {
		for j := 0; j < g.N; j++ {
			var s float64
			for p := 0; p < g.K; p++ {
				x, y := av[i*g.K+p], bv[p*g.N+j]
				if g.TransA {
					x = av[p*g.M+i]
				}
				if g.TransB {
					y = bv[j*g.K+p]
				}
				s += x * y
			}
			r := float32(float64(alpha) * s)
			if beta != 0 {
				r += beta * float32(cv[i*g.N+j])
			}
			k := i*g.N + j
			if g.C == dataF32 {
				binary.LittleEndian.PutUint32(raw[4*k:], math.Float32bits(r))
			} else {
				binary.LittleEndian.PutUint16(raw[2*k:], tensor.F32ToBF16(r))
			}
		}
	}
	return nil
}

// ---- tests that need no emulator ------------------------------------------

func TestNewWithoutLibcuda(t *testing.T) {
	dir := t.TempDir()
	_, err := newFrom(0, testEnv(nil, dir), t.TempDir())
	if err == nil {
		t.Fatal("New succeeded without libcuda")
	}
	for _, want := range []string{"libcuda", "CPU backend"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// panicMsg runs f and returns what it panicked with ("" if nothing).
func panicMsg(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestDataTypeMapping(t *testing.T) {
	cases := []struct {
		dt   tensor.DType
		want cudaDataType
		ok   bool
	}{
		{tensor.F32, dataF32, true}, {tensor.BF16, dataBF16, true}, {tensor.F16, dataF16, true},
		{tensor.I32, 0, false}, {tensor.F64, 0, false},
	}
	for _, c := range cases {
		got, err := dataType(c.dt)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("dataType(%s) = %d, %v; want %d, ok=%v", c.dt, got, err, c.want, c.ok)
		}
		if err == nil && got.size() != c.dt.Size() {
			t.Errorf("%s: cuBLASLt size %d, tensor size %d", c.dt, got.size(), c.dt.Size())
		}
	}
}

func TestGemmTypes(t *testing.T) {
	f, h := tensor.F32, tensor.BF16
	cases := []struct{ a, b, c, ab, cOut tensor.DType }{
		{h, h, h, h, h}, {h, h, f, h, f}, {f, h, h, h, h}, {h, f, f, h, f},
		{f, f, f, f, f}, {f, f, h, f, f}, // cuBLASLt has no f32·f32→bf16
	}
	for _, c := range cases {
		ab, co := gemmTypes(c.a, c.b, c.c)
		if ab != c.ab || co != c.cOut {
			t.Errorf("gemmTypes(%s,%s,%s) = %s,%s; want %s,%s", c.a, c.b, c.c, ab, co, c.ab, c.cOut)
		}
		abT, _ := dataType(ab)
		coT, _ := dataType(co)
		if err := (gemmSpec{M: 1, N: 1, K: 1, AB: abT, C: coT}).validate(); err != nil {
			t.Errorf("gemmTypes(%s,%s,%s) gives a GEMM the core rejects: %v", c.a, c.b, c.c, err)
		}
	}
}

func TestMatmulSpec(t *testing.T) {
	dev := cpu.New()
	mk := func(shape ...int) *tensor.Tensor { return dev.New(tensor.F32, shape...) }
	cases := []struct {
		name           string
		c, a, b        *tensor.Tensor
		ta, tb         bool
		m, n, k        int
		wantErrContain string
	}{
		{"linear", mk(2, 3, 5), mk(2, 3, 4), mk(5, 4), false, true, 6, 5, 4, ""},
		{"plain", mk(6, 5), mk(6, 4), mk(4, 5), false, false, 6, 5, 4, ""},
		{"dW", mk(5, 4), mk(6, 5), mk(6, 4), true, false, 5, 4, 6, ""},
		{"both", mk(5, 6), mk(4, 5), mk(6, 4), true, true, 5, 6, 4, ""},
		{"k mismatch", mk(6, 5), mk(6, 4), mk(3, 5), false, false, 0, 0, 0, "MatMul shapes"},
		{"c mismatch", mk(6, 6), mk(6, 4), mk(4, 5), false, false, 0, 0, 0, "MatMul shapes"},
	}
	for _, c := range cases {
		m, n, k, err := matmulSpec(c.c, c.a, c.b, c.ta, c.tb)
		if c.wantErrContain != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErrContain) {
				t.Errorf("%s: err %v, want one containing %q", c.name, err, c.wantErrContain)
			}
			continue
		}
		if err != nil || m != c.m || n != c.n || k != c.k {
			t.Errorf("%s: %d,%d,%d %v; want %d,%d,%d", c.name, m, n, k, err, c.m, c.n, c.k)
		}
	}
}

func TestAdamConstants(t *testing.T) {
	decay, ss, sb, err := adamConstants(1e-3, 0.9, 0.999, 0.1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The betas are float32 on the interface: 0.999 is float32(0.999).
	b1, b2 := float64(float32(0.9)), float64(float32(0.999))
	wantSS := float64(float32(1e-3)) / (1 - b1*b1)
	wantSB := math.Sqrt(1 - b2*b2)
	if math.Abs(float64(decay)-(1-1e-4)) > 1e-7 || math.Abs(float64(ss)/wantSS-1) > 1e-7 || math.Abs(float64(sb)/wantSB-1) > 1e-7 {
		t.Errorf("adamConstants = %v %v %v; want %v %v %v", decay, ss, sb, 1-1e-4, wantSS, wantSB)
	}
	if _, _, _, err := adamConstants(1e-3, 0.9, 0.999, 0, 0); err == nil {
		t.Error("step 0 accepted")
	}
}

// TestBackendMemory: allocation, zeroing, up/download of every dtype,
// views, Free (once through any reshape, never through a view) and peak
// memory, all without launching a kernel.
func TestBackendMemory(t *testing.T) {
	b, f := fakeBackend(t, nil)
	base := b.memStats().InUse
	x := b.New(tensor.BF16, 3, 5)
	if got := b.Download(x); len(got) != 15 || got[0] != 0 || got[14] != 0 {
		t.Fatalf("New not zeroed: %v", got)
	}
	vals := []float32{1, -2.5, 3.0078125, 1e-3, 65504, -0.0}
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
		u := b.Upload(vals, dt, 2, 3)
		got := b.Download(u)
		for i, v := range vals {
			want := v
			switch dt {
			case tensor.BF16:
				want = tensor.BF16ToF32(tensor.F32ToBF16(v))
			case tensor.F16:
				want = tensor.F16ToF32(tensor.F32ToF16(v))
			}
			if got[i] != want {
				t.Errorf("%s round trip [%d] = %v, want %v", dt, i, got[i], want)
			}
		}
		b.Free(u)
	}
	ids := b.UploadInt32([]int32{5, -7, 1 << 30, 0}, 2, 2)
	if got := b.DownloadInt32(ids); fmt.Sprint(got) != "[5 -7 1073741824 0]" {
		t.Errorf("DownloadInt32 = %v", got)
	}
	if got := b.Download(ids); fmt.Sprint(got) != "[5 -7 1.0737418e+09 0]" {
		t.Errorf("Download of I32 = %v", got)
	}
	m := b.Upload([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, tensor.F32, 4, 3)
	v := b.SliceRows(m, 1, 3)
	if got := b.Download(v); fmt.Sprint(got) != "[3 4 5 6 7 8]" || fmt.Sprint(v.Shape) != "[2 3]" {
		t.Errorf("SliceRows(1,3) = %v %v", v.Shape, got)
	}
	b.Copy(v, b.Upload([]float32{-1, -2, -3, -4, -5, -6}, tensor.F32, 2, 3))
	if got := b.Download(m); fmt.Sprint(got) != "[0 1 2 -1 -2 -3 -4 -5 -6 9 10 11]" {
		t.Errorf("Copy into a view: parent %v", got)
	}
	if got := b.Download(b.SliceRows(m, 4, 4)); len(got) != 0 {
		t.Errorf("empty view has %d values", len(got))
	}
	b.Free(v) // a view: the parent stays usable
	if got := b.Download(b.SliceRows(m, 0, 1)); fmt.Sprint(got) != "[0 1 2]" {
		t.Errorf("after freeing a view, parent row 0 = %v", got)
	}
	r := m.Reshape(12)
	v2 := b.SliceRows(m, 0, 2)
	b.Free(m)
	b.Free(r) // the same storage: must not free twice
	if msg := panicMsg(func() { b.Download(v2) }); !strings.Contains(msg, "used after Free") {
		t.Errorf("view of a freed tensor: panic %q", msg)
	}
	if len(f.launches) != 0 {
		t.Errorf("memory ops launched kernels: %v", f.launches)
	}
	peak := b.peakMemory()
	b.Free(x)
	big := b.New(tensor.F32, 1<<20)
	if b.peakMemory() < peak || b.peakMemory() < base+4<<20 {
		t.Errorf("PeakMemory %d after a 4 MiB tensor (base %d, earlier peak %d)", b.peakMemory(), base, peak)
	}
	b.Free(big)
	if st := b.memStats(); st.InUse > st.PeakInUse {
		t.Errorf("stats %+v", st)
	}
}

// TestBackendRejects: misuse panics with a message naming the op and the
// shapes, before anything reaches the device.
func TestBackendRejects(t *testing.T) {
	b, f := fakeBackend(t, nil)
	h := func(shape ...int) *tensor.Tensor { return b.New(tensor.BF16, shape...) }
	i32 := func(shape ...int) *tensor.Tensor { return b.New(tensor.I32, shape...) }
	host := cpu.New().New(tensor.F32, 2)
	cases := []struct {
		name, want string
		f          func()
	}{
		{"F64", "F64 is the CPU backend's", func() { b.New(tensor.F64, 2) }},
		{"negative dim", "negative dimension", func() { b.New(tensor.F32, 2, -1) }},
		{"upload count", "Upload of 3 values into shape [2 2]", func() { b.Upload([]float32{1, 2, 3}, tensor.F32, 2, 2) }},
		{"upload int as float", "Upload of float data as I32", func() { b.Upload([]float32{1}, tensor.I32, 1) }},
		{"download int32 of float", "want an I32 tensor", func() { b.DownloadInt32(h(2)) }},
		{"host tensor", "not on a CUDA device", func() { b.Scale(host, 2) }},
		{"slice", "SliceRows [1,4)", func() { b.SliceRows(h(3, 2), 1, 4) }},
		{"copy", "Copy", func() { b.Copy(h(2, 3), h(3, 3)) }},
		{"free host tensor", "not a CUDA tensor", func() { b.Free(cpu.New().New(tensor.F32, 2)) }},
		{"copy f16", "only F32 and BF16 convert", func() { b.Copy(b.New(tensor.F16, 2), h(2)) }},
		{"axpy", "Axpy: shape mismatch", func() { b.Axpy(h(2, 3), 1, h(3, 2)) }},
		{"scale int", "must be F32 or BF16", func() { b.Scale(i32(2), 2) }},
		{"matmul", "MatMul shapes", func() { b.MatMul(h(2, 2), h(2, 3), h(2, 3), false, false, 1, 0) }},
		{"bias", "AddBias", func() { b.AddBias(h(2, 3), h(4)) }},
		{"embedding", "Embedding out[2 4]", func() { b.Embedding(h(2, 4), h(10, 3), i32(2)) }},
		{"rmsnorm", "RMSNorm out", func() { b.RMSNorm(h(2, 4), b.New(tensor.F32, 2), h(2, 4), h(5), 1e-5) }},
		{"rope 3d", "RoPE x[2 3 4]", func() { b.RoPE(h(2, 3, 4), h(8, 2), h(8, 2), i32(2, 3), false) }},
		{"attention head dim", "head dimension 256 unsupported", func() {
			b.Attention(h(1, 2, 2, 256), b.New(tensor.F32, 1, 2, 2), h(1, 2, 2, 256), h(1, 2, 1, 256), h(1, 2, 1, 256), nil, 1)
		}},
		{"attention gqa", "want Hq a positive multiple of Hkv", func() {
			b.Attention(h(1, 2, 3, 8), b.New(tensor.F32, 1, 3, 2), h(1, 2, 3, 8), h(1, 2, 2, 8), h(1, 2, 2, 8), nil, 1)
		}},
		{"attention mask", "mask", func() {
			b.Attention(h(1, 2, 2, 8), b.New(tensor.F32, 1, 2, 2), h(1, 2, 2, 8), h(1, 2, 1, 8), h(1, 2, 1, 8), i32(1, 3), 1)
		}},
		{"swiglu", "SwiGLU: operands have different sizes", func() { b.SwiGLU(h(2, 3), h(2, 3), h(3, 3)) }},
		{"logsoftmax", "LogSoftmaxGather", func() {
			b.LogSoftmaxGather(b.New(tensor.F32, 2), b.New(tensor.F32, 2), nil, h(2, 5), i32(3))
		}},
		{"kvwrite", "KVWrite", func() { b.KVWrite(h(8, 2, 4), h(8, 2, 4), h(3, 2, 4), h(3, 2, 4), i32(2)) }},
		{"paged group", "group of 32", func() {
			b.PagedAttention(h(1, 32, 8), h(1, 32, 8), h(8, 1, 8), h(8, 1, 8), i32(1, 2), i32(1), i32(1), 4, 1)
		}},
		{"adamw f32", "must be F32 (master weights", func() { b.AdamW(h(4), h(4), b.New(tensor.F32, 4), b.New(tensor.F32, 4), 1, .9, .99, 1e-8, 0, 1) }},
		{"adamw step", "step must be ≥ 1", func() {
			p := b.New(tensor.F32, 4)
			b.AdamW(p, p, b.New(tensor.F32, 4), b.New(tensor.F32, 4), 1, .9, .99, 1e-8, 0, 0)
		}},
	}
	for _, c := range cases {
		msg := panicMsg(c.f)
		if !strings.HasPrefix(msg, "cuda: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: panic %q, want a cuda: message containing %q", c.name, msg, c.want)
		}
	}
	if len(f.launches) != 0 {
		t.Errorf("rejected calls launched %v", f.launches)
	}
}

// ---- the comparison suite: every op against backend/cpu --------------------

// Tolerances. Inputs are rounded to bf16 before both backends see them, so
// only the backends' arithmetic differs:
//   - bf16 outputs: rounding the output alone costs up to 2^-9 ≈ 2e-3
//     relative; the kernels sum in other orders, use the GPU's expf, and
//     backward kernels read bf16 intermediates (out, dout) that the CPU
//     holds in f32, which compounds to a few bf16 ulps. rel 2e-2 leaves
//     ~10x margin over that; abs 1e-2 covers outputs that are sums of
//     O(1) terms cancelling to near zero (the inputs here are O(1)).
//   - f32 outputs (rstd, lse, logp, entropy, weight gradients, AdamW
//     state): f32 arithmetic on identical inputs in another order, about
//     1e-6 relative; 1e-4 allows for f32 accumulation over thousands of
//     terms and for the GPU's fast expf/rsqrtf.
const (
	tolBF16Rel, tolBF16Abs = 2e-2, 1e-2
	tolF32Rel, tolF32Abs   = 1e-4, 1e-5
)

// suiteShapes sizes one run of the suite. Ragged sizes (not multiples of
// 32, 256 or the attention tiles) are the point.
type suiteShapes struct {
	name              string
	rows, cols        int // elementwise, norms, bias: (rows, cols)
	m, n, k           int // GEMM
	vocab             int // embedding and log-softmax rows
	b, t, hq, hkv, d  int // attention
	blockSize, tokens int // paged attention: cache block size, new tokens
	// maskedOnly skips the unmasked attention pass (the emulator is slow;
	// the masked pass runs the same kernels).
	maskedOnly bool
}

type suite struct {
	t   *testing.T
	g   *Backend
	c   *cpu.Backend
	rng *rand.Rand
}

// both holds one tensor on each backend: F32 on the CPU, the given dtype
// on the GPU, with the same (bf16-representable) values.
type both struct{ c, g *tensor.Tensor }

func (s *suite) vals(v []float32, dt tensor.DType, shape ...int) both {
	return both{s.c.Upload(v, tensor.F32, shape...), s.g.Upload(v, dt, shape...)}
}

func (s *suite) randn(dt tensor.DType, scale float64, shape ...int) both {
	return s.vals(bf16Vec(s.rng, tensor.Numel(shape), scale), dt, shape...)
}

func (s *suite) zeros(dt tensor.DType, shape ...int) both {
	return both{s.c.New(tensor.F32, shape...), s.g.New(dt, shape...)}
}

func (s *suite) ints(v []int32, shape ...int) both {
	return both{s.c.UploadInt32(v, shape...), s.g.UploadInt32(v, shape...)}
}

func (s *suite) check(what string, x both, rel, abs float64) {
	s.t.Helper()
	checkClose(s.t, what, s.g.Download(x.g), s.c.Download(x.c), rel, abs)
}

// cpuMsg turns backend/cpu's panic message into this backend's.
func cpuMsg(f func()) string { return strings.Replace(panicMsg(f), "cpu: ", "cuda: ", 1) }

func (s *suite) run(sh suiteShapes) {
	t := s.t
	bf, f32 := tensor.BF16, tensor.F32
	N, C := sh.rows, sh.cols

	t.Run("elementwise", func(t *testing.T) {
		s.t = t
		x := s.randn(f32, 1, N, C)
		h := s.zeros(bf, N, C)
		s.g.Copy(h.g, x.g)
		s.c.Copy(h.c, x.c)
		s.check("Copy f32→bf16", h, 0, 0)
		back := s.zeros(f32, N, C)
		s.g.Copy(back.g, h.g)
		s.c.Copy(back.c, h.c)
		s.check("Copy bf16→f32", back, 0, 0)
		for _, dt := range []tensor.DType{f32, bf} {
			y := s.randn(dt, 1, N, C)
			s.g.Scale(y.g, 0.3)
			s.c.Scale(y.c, 0.3)
			s.check("Scale "+dt.String(), y, tolBF16Rel, tolBF16Abs)
			z := s.randn(dt, 1, N, C)
			s.g.Add(z.g, z.g, y.g) // out aliases a
			s.c.Add(z.c, z.c, y.c)
			s.check("Add "+dt.String(), z, tolBF16Rel, tolBF16Abs)
			s.g.Mul(z.g, y.g, z.g) // out aliases b
			s.c.Mul(z.c, y.c, z.c)
			s.check("Mul "+dt.String(), z, tolBF16Rel, tolBF16Abs)
			fl := s.zeros(dt, N, C)
			s.g.Fill(fl.g, -2.75)
			s.c.Fill(fl.c, -2.75)
			s.check("Fill "+dt.String(), fl, 0, 0)
			w := s.randn(dt, 1, N, C)
			if got, want := s.g.SumSquares(w.g), s.c.SumSquares(w.c); math.Abs(got-want) > 1e-5*want {
				t.Errorf("SumSquares %s = %v, CPU %v", dt, got, want)
			}
			if !s.g.AllFinite(w.g) {
				t.Errorf("AllFinite %s false on finite values", dt)
			}
			bad := bf16Vec(s.rng, N*C, 1)
			bad[N*C-1] = float32(math.Inf(-1))
			if s.g.AllFinite(s.g.Upload(bad, dt, N, C)) {
				t.Errorf("AllFinite %s true with -Inf in the last element", dt)
			}
			bad[N*C-1] = float32(math.NaN())
			if s.g.AllFinite(s.g.Upload(bad, dt, N, C)) {
				t.Errorf("AllFinite %s true with NaN", dt)
			}
		}
		for _, c := range [][2]tensor.DType{{f32, f32}, {f32, bf}, {bf, bf}, {bf, f32}} {
			y, x := s.randn(c[0], 1, N, C), s.randn(c[1], 1, N, C)
			s.g.Axpy(y.g, -1.5, x.g)
			s.c.Axpy(y.c, -1.5, x.c)
			s.check(fmt.Sprintf("Axpy %s += %s", c[0], c[1]), y, tolBF16Rel, tolBF16Abs)
		}
		fi := s.zeros(tensor.I32, 3)
		s.g.Fill(fi.g, -3.7)
		if got := s.g.DownloadInt32(fi.g); fmt.Sprint(got) != "[-3 -3 -3]" {
			t.Errorf("Fill I32 -3.7 = %v, want truncation to -3", got)
		}
	})

	t.Run("matmul", func(t *testing.T) {
		s.t = t
		m, n, k := sh.m, sh.n, sh.k
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ash, bsh := []int{m, k}, []int{k, n}
			if tr[0] {
				ash = []int{k, m}
			}
			if tr[1] {
				bsh = []int{n, k}
			}
			for _, dts := range [][3]tensor.DType{{bf, bf, bf}, {bf, bf, f32}, {f32, bf, bf}, {f32, f32, f32}} {
				a, b := s.randn(dts[0], 1, ash...), s.randn(dts[1], 1, bsh...)
				c := s.randn(dts[2], 1, m, n)
				s.g.MatMul(c.g, a.g, b.g, tr[0], tr[1], 0.5, 1)
				s.c.MatMul(c.c, a.c, b.c, tr[0], tr[1], 0.5, 1)
				// A K-term dot product of O(1) bf16 values: its f32
				// rounding is ~K·2^-24, negligible next to bf16 output.
				s.check(fmt.Sprintf("MatMul T=%v %s·%s→%s", tr, dts[0], dts[1], dts[2]), c, tolBF16Rel, tolBF16Abs*math.Sqrt(float64(k)))
			}
		}
		// Row views as operands (the tape's chunked log-softmax does this).
		a, w := s.randn(bf, 1, m+2, k), s.randn(bf, 1, n, k)
		c := s.zeros(f32, m, n)
		s.g.MatMul(c.g, s.g.SliceRows(a.g, 2, m+2), w.g, false, true, 1, 0)
		s.c.MatMul(c.c, s.c.SliceRows(a.c, 2, m+2), w.c, false, true, 1, 0)
		s.check("MatMul of a row view", c, tolBF16Rel, tolBF16Abs)
	})

	t.Run("bias", func(t *testing.T) {
		s.t = t
		for _, c := range [][2]tensor.DType{{bf, bf}, {bf, f32}, {f32, f32}, {f32, bf}} {
			out, bias := s.randn(c[0], 1, N, C), s.randn(c[1], 1, C)
			s.g.AddBias(out.g, bias.g)
			s.c.AddBias(out.c, bias.c)
			s.check(fmt.Sprintf("AddBias %s+%s", c[0], c[1]), out, tolBF16Rel, tolBF16Abs)
		}
		for _, dt := range []tensor.DType{bf, f32} {
			db, dout := s.randn(f32, 1, C), s.randn(dt, 1, N, C)
			s.g.SumRowsAcc(db.g, dout.g)
			s.c.SumRowsAcc(db.c, dout.c)
			s.check("SumRowsAcc "+dt.String(), db, tolF32Rel, tolF32Abs)
		}
	})

	t.Run("embedding", func(t *testing.T) {
		s.t = t
		v := sh.vocab
		ids := make([]int32, N)
		for i := range ids {
			ids[i] = int32(s.rng.IntN(v))
		}
		ids[N-1] = ids[0] // a repeated id: the backward pass must add both
		id := s.ints(ids, N)
		table := s.randn(bf, 1, v, C)
		out := s.zeros(bf, N, C)
		s.g.Embedding(out.g, table.g, id.g)
		s.c.Embedding(out.c, table.c, id.c)
		s.check("Embedding", out, 0, 0)
		dt, dout := s.randn(f32, 1, v, C), s.randn(bf, 1, N, C)
		s.g.EmbeddingBackward(dt.g, dout.g, id.g)
		s.c.EmbeddingBackward(dt.c, dout.c, id.c)
		s.check("EmbeddingBackward", dt, tolF32Rel, tolF32Abs)
		bad := append([]int32(nil), ids...)
		bad[N/2] = int32(v)
		bid := s.ints(bad, N)
		want := cpuMsg(func() { s.c.Embedding(out.c, table.c, bid.c) })
		if got := panicMsg(func() { s.g.Embedding(out.g, table.g, bid.g) }); got != want {
			t.Errorf("Embedding with id %d: panic %q, want %q", v, got, want)
		}
	})

	t.Run("rmsnorm", func(t *testing.T) {
		s.t = t
		x, w := s.randn(bf, 1, N, C), s.randn(bf, 1, C)
		out, rstd := s.zeros(bf, N, C), s.zeros(f32, N)
		s.g.RMSNorm(out.g, rstd.g, x.g, w.g, 1e-5)
		s.c.RMSNorm(out.c, rstd.c, x.c, w.c, 1e-5)
		s.check("RMSNorm out", out, tolBF16Rel, tolBF16Abs)
		s.check("RMSNorm rstd", rstd, tolF32Rel, tolF32Abs)
		dout := s.randn(bf, 1, N, C)
		dx, dw := s.zeros(bf, N, C), s.randn(f32, 1, C)
		// The CPU gets the GPU's rstd so that the backward pass is
		// compared on identical inputs.
		rs := s.g.Download(rstd.g)
		rc := s.c.Upload(rs, f32, N)
		s.g.RMSNormBackward(dx.g, dw.g, dout.g, x.g, w.g, rstd.g)
		s.c.RMSNormBackward(dx.c, dw.c, dout.c, x.c, w.c, rc)
		s.check("RMSNormBackward dx", dx, tolBF16Rel, tolBF16Abs)
		s.check("RMSNormBackward dw", dw, tolF32Rel, tolF32Abs*float64(N))
	})

	t.Run("swiglu", func(t *testing.T) {
		s.t = t
		g, u := s.randn(bf, 2, N, C), s.randn(bf, 1, N, C)
		out := s.zeros(bf, N, C)
		s.g.SwiGLU(out.g, g.g, u.g)
		s.c.SwiGLU(out.c, g.c, u.c)
		s.check("SwiGLU", out, tolBF16Rel, tolBF16Abs)
		d := s.randn(bf, 1, N, C)
		dg, du := s.zeros(bf, N, C), s.zeros(bf, N, C)
		s.g.SwiGLUBackward(dg.g, du.g, d.g, g.g, u.g)
		s.c.SwiGLUBackward(dg.c, du.c, d.c, g.c, u.c)
		s.check("SwiGLUBackward dgate", dg, tolBF16Rel, tolBF16Abs)
		s.check("SwiGLUBackward dup", du, tolBF16Rel, tolBF16Abs)
	})

	t.Run("rope", func(t *testing.T) {
		s.t = t
		b, tt, h, d, p := sh.b, sh.t, sh.hq, sh.d, sh.t+3
		half := d / 2
		cv, sv := make([]float32, p*half), make([]float32, p*half)
		for i := 0; i < p; i++ {
			for j := 0; j < half; j++ {
				a := float64(i) * math.Pow(10000, -2*float64(j)/float64(d))
				cv[i*half+j], sv[i*half+j] = float32(math.Cos(a)), float32(math.Sin(a))
			}
		}
		cos, sin := both{s.c.Upload(cv, f32, p, half), s.g.Upload(cv, f32, p, half)}, both{s.c.Upload(sv, f32, p, half), s.g.Upload(sv, f32, p, half)}
		pos := make([]int32, b*tt)
		for i := range pos {
			pos[i] = int32(s.rng.IntN(p))
		}
		ps := s.ints(pos, b, tt)
		for _, inv := range []bool{false, true} {
			x := s.randn(bf, 1, b, tt, h, d)
			s.g.RoPE(x.g, cos.g, sin.g, ps.g, inv)
			s.c.RoPE(x.c, cos.c, sin.c, ps.c, inv)
			s.check(fmt.Sprintf("RoPE inverse=%v", inv), x, tolBF16Rel, tolBF16Abs)
		}
		pos[len(pos)-1] = int32(p)
		bad := s.ints(pos, b, tt)
		x := s.randn(bf, 1, b, tt, h, d)
		want := cpuMsg(func() { s.c.RoPE(x.c, cos.c, sin.c, bad.c, false) })
		if got := panicMsg(func() { s.g.RoPE(x.g, cos.g, sin.g, bad.g, false) }); got != want {
			t.Errorf("RoPE with position %d: panic %q, want %q", p, got, want)
		}
	})

	t.Run("attention", func(t *testing.T) {
		s.t = t
		b, tt, hq, hkv, d := sh.b, sh.t, sh.hq, sh.hkv, sh.d
		scale := float32(1 / math.Sqrt(float64(d)))
		// Row 0 is left-padded (2 leading pads: those queries see no key),
		// the last row has a pad in the middle, the rest none.
		mk := make([]int32, b*tt)
		for i := range mk {
			mk[i] = 1
		}
		mk[0], mk[1] = 0, 0
		mk[(b-1)*tt+tt/2] = 0
		for _, masked := range []bool{false, true} {
			if !masked && sh.maskedOnly {
				continue
			}
			var mask both
			if masked {
				mask = s.ints(mk, b, tt)
			}
			name := fmt.Sprintf("mask=%v", masked)
			q, k, v := s.randn(bf, 1, b, tt, hq, d), s.randn(bf, 1, b, tt, hkv, d), s.randn(bf, 1, b, tt, hkv, d)
			out, lse := s.zeros(bf, b, tt, hq, d), s.zeros(f32, b, hq, tt)
			s.g.Attention(out.g, lse.g, q.g, k.g, v.g, mask.g, scale)
			s.c.Attention(out.c, lse.c, q.c, k.c, v.c, mask.c, scale)
			s.check("Attention out "+name, out, tolBF16Rel, tolBF16Abs)
			s.check("Attention lse "+name, lse, tolF32Rel, tolF32Abs)
			// The backward pass reads out; give the CPU the GPU's bf16 out
			// and lse so that both differentiate the same numbers.
			oc := s.c.Upload(s.g.Download(out.g), f32, b, tt, hq, d)
			lc := s.c.Upload(s.g.Download(lse.g), f32, b, hq, tt)
			dout := s.randn(bf, 1, b, tt, hq, d)
			dq, dk, dv := s.zeros(bf, b, tt, hq, d), s.zeros(bf, b, tt, hkv, d), s.zeros(bf, b, tt, hkv, d)
			s.g.AttentionBackward(dq.g, dk.g, dv.g, dout.g, out.g, lse.g, q.g, k.g, v.g, mask.g, scale)
			s.c.AttentionBackward(dq.c, dk.c, dv.c, dout.c, oc, lc, q.c, k.c, v.c, mask.c, scale)
			s.check("AttentionBackward dq "+name, dq, tolBF16Rel, tolBF16Abs)
			s.check("AttentionBackward dk "+name, dk, tolBF16Rel, tolBF16Abs)
			s.check("AttentionBackward dv "+name, dv, tolBF16Rel, tolBF16Abs)
		}
	})

	t.Run("logsoftmax", func(t *testing.T) {
		s.t = t
		v := sh.vocab
		z := s.randn(bf, 3, N, v)
		tg := make([]int32, N)
		for i := range tg {
			tg[i] = int32(s.rng.IntN(v))
		}
		tg[0] = -100 // ignored
		target := s.ints(tg, N)
		logp, lse, ent := s.zeros(f32, N), s.zeros(f32, N), s.zeros(f32, N)
		s.g.LogSoftmaxGather(logp.g, lse.g, ent.g, z.g, target.g)
		s.c.LogSoftmaxGather(logp.c, lse.c, ent.c, z.c, target.c)
		s.check("LogSoftmaxGather logp", logp, tolF32Rel, tolF32Abs)
		s.check("LogSoftmaxGather lse", lse, tolF32Rel, tolF32Abs)
		s.check("LogSoftmaxGather entropy", ent, tolF32Rel, tolF32Abs)
		if got := s.g.Download(logp.g)[0]; got != 0 {
			t.Errorf("logp of an ignored target = %v, want 0", got)
		}
		s.g.LogSoftmaxGather(logp.g, lse.g, nil, z.g, target.g) // entropy is optional
		s.check("LogSoftmaxGather logp without entropy", logp, tolF32Rel, tolF32Abs)
		dlp, dent := s.randn(f32, 1, N), s.randn(f32, 1, N)
		for _, c := range []struct {
			name     string
			dlp, den *tensor.Tensor
			cdl, cde *tensor.Tensor
		}{{"dlogp", dlp.g, nil, dlp.c, nil}, {"both", dlp.g, dent.g, dlp.c, dent.c}} {
			zz := both{s.c.Upload(s.c.Download(z.c), f32, N, v), s.g.Upload(s.c.Download(z.c), bf, N, v)}
			s.g.LogSoftmaxGatherBackward(zz.g, lse.g, target.g, c.dlp, c.den)
			s.c.LogSoftmaxGatherBackward(zz.c, lse.c, target.c, c.cdl, c.cde)
			s.check("LogSoftmaxGatherBackward "+c.name, zz, tolBF16Rel, tolBF16Abs)
		}
		tg[N-1] = int32(v)
		bad := s.ints(tg, N)
		want := cpuMsg(func() { s.c.LogSoftmaxGather(logp.c, lse.c, ent.c, z.c, bad.c) })
		if got := panicMsg(func() { s.g.LogSoftmaxGather(logp.g, lse.g, ent.g, z.g, bad.g) }); got != want {
			t.Errorf("LogSoftmaxGather with target %d: panic %q, want %q", v, got, want)
		}
	})

	t.Run("paged", func(t *testing.T) {
		s.t = t
		hq, hkv, d, bs := sh.hq, sh.hkv, sh.d, sh.blockSize
		numBlocks := 2*ceilDivInt(sh.tokens, bs) + 2
		slots := numBlocks * bs
		kc, vc := s.randn(bf, 1, slots, hkv, d), s.randn(bf, 1, slots, hkv, d)
		// Two sequences: 0 holds sh.tokens positions in shuffled blocks,
		// 1 holds a few; block tables name blocks out of order.
		perm := s.rng.Perm(numBlocks)
		maxBlocks := ceilDivInt(sh.tokens, bs)
		table := make([]int32, 2*maxBlocks)
		for i := range table {
			table[i] = int32(perm[i])
		}
		// New tokens of sequence 0 go to its last positions.
		n := min(3, sh.tokens)
		var wslots []int32
		for j := sh.tokens - n; j < sh.tokens; j++ {
			wslots = append(wslots, table[j/bs]*int32(bs)+int32(j%bs))
		}
		nk, nv := s.randn(bf, 1, n, hkv, d), s.randn(bf, 1, n, hkv, d)
		ws := s.ints(wslots, n)
		s.g.KVWrite(kc.g, vc.g, nk.g, nv.g, ws.g)
		s.c.KVWrite(kc.c, vc.c, nk.c, nv.c, ws.c)
		s.check("KVWrite kcache", kc, 0, 0)
		s.check("KVWrite vcache", vc, 0, 0)
		// Copy-on-write: sequence 1's first block becomes a copy of
		// sequence 0's first block's first two rows.
		src := []int32{table[0] * int32(bs), table[0]*int32(bs) + 1}
		dst := []int32{table[maxBlocks] * int32(bs), table[maxBlocks]*int32(bs) + 1}
		sb, db := s.ints(src, 2), s.ints(dst, 2)
		for _, c := range []both{kc, vc} {
			s.g.CopySlots(c.g, sb.g, db.g)
			s.c.CopySlots(c.c, sb.c, db.c)
		}
		s.check("CopySlots", kc, 0, 0)
		// Prefill-like tokens of sequence 0 (causal lengths) and a
		// decode token of sequence 1.
		var seqIdx, lens []int32
		for j := sh.tokens - n; j < sh.tokens; j++ {
			seqIdx, lens = append(seqIdx, 0), append(lens, int32(j+1))
		}
		seqIdx, lens = append(seqIdx, 1), append(lens, int32(min(bs+1, maxBlocks*bs)))
		nt := len(seqIdx)
		q := s.randn(bf, 1, nt, hq, d)
		out := s.zeros(bf, nt, hq, d)
		bt, si, sl := s.ints(table, 2, maxBlocks), s.ints(seqIdx, nt), s.ints(lens, nt)
		scale := float32(1 / math.Sqrt(float64(d)))
		s.g.PagedAttention(out.g, q.g, kc.g, vc.g, bt.g, si.g, sl.g, bs, scale)
		s.c.PagedAttention(out.c, q.c, kc.c, vc.c, bt.c, si.c, sl.c, bs, scale)
		s.check("PagedAttention", out, tolBF16Rel, tolBF16Abs)
		badSlots := s.ints([]int32{0, int32(slots), 1}[:n], n)
		if n == 3 {
			want := cpuMsg(func() { s.c.KVWrite(kc.c, vc.c, nk.c, nv.c, badSlots.c) })
			if got := panicMsg(func() { s.g.KVWrite(kc.g, vc.g, nk.g, nv.g, badSlots.g) }); got != want {
				t.Errorf("KVWrite with slot %d: panic %q, want %q", slots, got, want)
			}
		}
	})

	t.Run("adamw", func(t *testing.T) {
		s.t = t
		for _, gdt := range []tensor.DType{f32, bf} {
			p, m, v := s.randn(f32, 1, N, C), s.zeros(f32, N, C), s.zeros(f32, N, C)
			for step := 1; step <= 2; step++ {
				g := s.randn(gdt, 1, N, C)
				s.g.AdamW(p.g, g.g, m.g, v.g, 1e-2, 0.9, 0.95, 1e-8, 0.1, step)
				s.c.AdamW(p.c, g.c, m.c, v.c, 1e-2, 0.9, 0.95, 1e-8, 0.1, step)
			}
			s.check("AdamW param, grad "+gdt.String(), p, tolF32Rel, tolF32Abs)
			s.check("AdamW m", m, tolF32Rel, tolF32Abs)
			s.check("AdamW v", v, tolF32Rel, tolF32Abs)
		}
	})
	s.t = t
}

func ceilDivInt(a, b int) int { return (a + b - 1) / b }

// ---- whole-model comparisons ------------------------------------------------

// compareModel loads the same tiny random model (internal/testmodel) on
// both backends and compares full logits of a padded batch. Weights are
// F32 on both (model.Load's choice); on the GPU every op rounds its inputs
// to bf16, so the error is that of bf16 activations through 2 layers:
// logits are compared with abs tolerance 3e-2·max|logit| + 1e-2.
func compareModel(t *testing.T, g *Backend, modelType string) (*model.Model, *model.Model) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), modelType)
	if _, err := testmodel.Write(dir, modelType, 7); err != nil {
		t.Fatal(err)
	}
	mc, err := model.Load(dir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	mg, err := model.Load(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]int32{{5, 9, 17, 3, 40, 41, 12}, {7, 8, 9}}
	batch := model.NewBatch(rows, 1)
	logits := func(m *model.Model, act tensor.DType) []float32 {
		tp := autograd.NewTape(m.Dev)
		tp.NoGrad = true
		tp.DType = act
		l, err := m.Logits(tp, batch)
		if err != nil {
			t.Fatal(err)
		}
		return m.Dev.Download(l.Val)
	}
	lc := logits(mc, tensor.F32)
	var mx float64
	for _, v := range lc {
		mx = math.Max(mx, math.Abs(float64(v)))
	}
	v := mc.Config.VocabSize
	tol := 3e-2*mx + 1e-2
	// F32 activations (staged through bf16 op by op) and BF16 activations
	// (the tape allocates BF16: the layout the GPU is meant to run).
	for _, act := range []tensor.DType{tensor.F32, tensor.BF16} {
		lg := logits(mg, act)
		var worst float64
		for i := range lc {
			if batch.Mask[i/v] == 0 {
				continue
			}
			d := math.Abs(float64(lg[i] - lc[i]))
			worst = math.Max(worst, d)
			if d > tol {
				t.Fatalf("%s, %s activations: logit %d (row %d) = %v on %s, %v on the CPU (tolerance %.3g)", modelType, act, i, i/v, lg[i], g.Name(), lc[i], tol)
			}
		}
		t.Logf("%s, %s activations: %d logits, max |logit| %.3g, worst difference %.3g (tolerance %.3g)", modelType, act, len(lc), mx, worst, tol)
	}
	return mc, mg
}

// relErr is ‖got − want‖ / ‖want‖ (0 when both are zero).
func relErr(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i] - want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// compareTraining runs two training steps (LMLoss, backward, AdamW through
// package optim) of the tiny model on both backends, with act activations
// on the GPU, and compares the losses, every weight gradient of step 1
// and every weight's total update. Gradients are compared by relative L2
// error per tensor: bf16 activations perturb each of the ~30 ops of a
// layer's forward and backward passes by ~2^-9, which compounds to ~1e-2
// (the emulated run shows at most 0.03); the bound 5e-2 leaves margin.
// AdamW's first steps move each weight by about ±lr whatever its
// gradient's size, so a small gradient element whose sign bf16 flips
// moves the other way: per element the updates may differ by up to 4·lr
// (two steps), and all updates together by 0.15 relative L2 (emulated:
// about 0.05; a wrong kernel gives O(1)).
func compareTraining(t *testing.T, g *Backend, modelType string, act tensor.DType) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), modelType)
	if _, err := testmodel.Write(dir, modelType, 7); err != nil {
		t.Fatal(err)
	}
	rows := [][]int32{{5, 9, 17, 3, 40, 41, 12}, {7, 8, 9}}
	batch := model.NewBatch(rows, 1)
	target := model.NextTokenTargets(batch)
	type result struct {
		losses  []float64
		grads   [][]float32
		updates [][]float32
	}
	train := func(dev tensor.Backend, act tensor.DType) result {
		m, err := model.Load(dir, dev)
		if err != nil {
			t.Fatal(err)
		}
		var before [][]float32
		for _, p := range m.Params() {
			before = append(before, dev.Download(p.Var.Val))
		}
		cfg := optim.DefaultAdamW()
		o, err := optim.NewAdamW(cfg, m.Params())
		if err != nil {
			t.Fatal(err)
		}
		var r result
		for step := 0; step < 2; step++ {
			tp := autograd.NewTape(dev)
			tp.DType = act
			loss, _, err := m.LMLoss(tp, batch, target, 1)
			if err != nil {
				t.Fatal(err)
			}
			tp.Backward()
			if step == 0 {
				for _, p := range m.Params() {
					r.grads = append(r.grads, dev.Download(p.Var.Grad))
				}
			}
			if _, err := o.Step(cfg.LR, 1); err != nil {
				t.Fatal(err)
			}
			o.ZeroGrad()
			r.losses = append(r.losses, loss)
		}
		for i, p := range m.Params() {
			after := dev.Download(p.Var.Val)
			for j := range after {
				after[j] -= before[i][j]
			}
			r.updates = append(r.updates, after)
		}
		return r
	}
	rc, rg := train(cpu.New(), tensor.F32), train(g, act)
	for i := range rc.losses {
		if math.Abs(rg.losses[i]-rc.losses[i]) > 2e-2*math.Abs(rc.losses[i]) {
			t.Errorf("%s step %d loss %v on %s, %v on the CPU", modelType, i+1, rg.losses[i], g.Name(), rc.losses[i])
		}
	}
	var worstG, worstU float64
	var allG, allC []float32
	lr := optim.DefaultAdamW().LR
	names := []string{}
	mc, _ := model.Load(dir, cpu.New())
	for _, p := range mc.Params() {
		names = append(names, p.Name)
	}
	for i := range rc.grads {
		eg, eu := relErr(rg.grads[i], rc.grads[i]), relErr(rg.updates[i], rc.updates[i])
		worstG, worstU = math.Max(worstG, eg), math.Max(worstU, eu)
		if eg > 5e-2 {
			t.Errorf("%s %s: gradient relative L2 error %.3g (bound 5e-2)", modelType, names[i], eg)
		}
		for j := range rc.updates[i] {
			if d := math.Abs(float64(rg.updates[i][j] - rc.updates[i][j])); !(d <= 4*lr*1.01) {
				t.Errorf("%s %s[%d]: update %v on %s, %v on the CPU: beyond two steps of ±lr", modelType, names[i], j, rg.updates[i][j], g.Name(), rc.updates[i][j])
				break
			}
		}
		allG, allC = append(allG, rg.updates[i]...), append(allC, rc.updates[i]...)
	}
	if e := relErr(allG, allC); e > 0.15 {
		t.Errorf("%s: all weights' updates differ by relative L2 error %.3g (bound 0.15)", modelType, e)
	} else {
		t.Logf("%s: all weights' updates within relative L2 error %.3g", modelType, e)
	}
	t.Logf("%s, %s activations: losses %v (CPU %v), worst gradient error %.3g, worst update error %.3g",
		modelType, act, rg.losses, rc.losses, worstG, worstU)
}

// compareSampling generates a few tokens on both backends with the same
// seed. Greedy decoding is deterministic on each backend, but bf16 can
// flip the argmax where the CPU's top two logits are nearly equal; so the
// sequences must agree up to the first difference, and there the CPU must
// rate the GPU's choice within tol of its own.
func compareSampling(t *testing.T, mc, mg *model.Model, newTokens int) {
	t.Helper()
	reqs := []sample.Request{{Prompt: []int32{5, 9, 17, 3}, N: 1}, {Prompt: []int32{7, 8}, N: 1}}
	p := sample.Params{Temperature: 0, TopP: 1, MaxNewTokens: newTokens, Seed: 11}
	gen := func(m *model.Model) []sample.Sample {
		out, err := (&sample.Engine{Model: m, BlockSize: 4}).Generate(context.Background(), reqs, p)
		if err != nil {
			t.Fatal(err)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Request < out[j].Request })
		return out
	}
	sc, sg := gen(mc), gen(mg)
	for r := range reqs {
		a, b := sc[r].Tokens, sg[r].Tokens
		for i := 0; i < min(len(a), len(b)); i++ {
			if a[i] == b[i] {
				continue
			}
			prefix := append(append([]int32(nil), reqs[r].Prompt...), a[:i]...)
			tp := autograd.NewTape(mc.Dev)
			tp.NoGrad = true
			l, err := mc.Logits(tp, model.NewBatch([][]int32{prefix}, 1))
			if err != nil {
				t.Fatal(err)
			}
			v := mc.Config.VocabSize
			last := mc.Dev.Download(l.Val)[(len(prefix)-1)*v:]
			if gap := last[a[i]] - last[b[i]]; gap > 5e-2 {
				t.Errorf("request %d token %d: GPU picked %d, CPU %d with a logit gap of %.3g (beyond bf16 noise)", r, i, b[i], a[i], gap)
			} else {
				t.Logf("request %d: sequences diverge at token %d on a near tie (gap %.3g)", r, i, gap)
			}
			break
		}
	}
}

// TestBackendEmulated runs the whole suite, a tiny model's forward pass and
// two greedy tokens through the Backend on the fake device, whose kernels
// run on the host emulator: it checks this file's launch arguments, dtype
// staging, error flags and GEMM mapping end to end against backend/cpu,
// everything short of a real GPU and cuBLASLt.
func TestBackendEmulated(t *testing.T) {
	emu := buildEmulator(t)
	g, f := fakeBackend(t, emu)
	s := &suite{t: t, g: g, c: cpu.New(), rng: rand.New(rand.NewPCG(1, 2))}
	s.run(suiteShapes{name: "emulated", rows: 4, cols: 37, m: 7, n: 9, k: 5, vocab: 50,
		b: 1, t: 33, hq: 2, hkv: 1, d: 8, blockSize: 4, tokens: 9, maskedOnly: true})
	t.Run("index checks off", func(t *testing.T) {
		g.setIndexChecks(false)
		defer g.setIndexChecks(true)
		table := g.Upload([]float32{1, 2, 3, 4}, tensor.BF16, 2, 2)
		out := g.New(tensor.BF16, 2, 2)
		g.Embedding(out, table, g.UploadInt32([]int32{1, 7}, 2))
		if got := g.Download(out); fmt.Sprint(got) != "[3 4 0 0]" {
			t.Errorf("Embedding with a bad id, checks off = %v, want [3 4 0 0]", got)
		}
	})
	t.Run("model", func(t *testing.T) {
		compareModel(t, g, "qwen2")
	})
	// Last, and only when every subtest ran (no -run filter below this
	// test): every kernel but sampling (not a tensor.Backend op) was used.
	t.Run("coverage", func(t *testing.T) {
		used := map[string]bool{}
		for _, l := range f.launches {
			used[l] = true
		}
		for _, k := range kernelTable {
			if !used[k.Name] && !strings.HasPrefix(k.Name, "r1_sample_") {
				t.Errorf("kernel %s never launched by the suite", k.Name)
			}
		}
	})
}

// TestBackendEmulatedTraining runs compareTraining and compareSampling on
// the emulator. A backward pass is hundreds of emulated launches (about a
// minute here), too slow for every go test run: set R1_CUDA_EMULATE_SLOW=1.
func TestBackendEmulatedTraining(t *testing.T) {
	if os.Getenv("R1_CUDA_EMULATE_SLOW") == "" {
		t.Skip("slow (about a minute): set R1_CUDA_EMULATE_SLOW=1 to run two training steps and sampling on the kernel emulator")
	}
	emu := buildEmulator(t)
	g, _ := fakeBackend(t, emu)
	for _, act := range []tensor.DType{tensor.F32, tensor.BF16} {
		t.Run("train "+act.String(), func(t *testing.T) { compareTraining(t, g, "qwen2", act) })
	}
	t.Run("sample", func(t *testing.T) {
		mc, mg := compareModel(t, g, "llama")
		compareSampling(t, mc, mg, 3)
	})
}
