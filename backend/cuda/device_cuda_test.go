//go:build cuda

// GPU tests: run with `go test -tags cuda ./backend/cuda/` on a machine with
// an NVIDIA GPU. Each skips when no driver or device is present. None of
// them has run on a GPU yet (written on a machine without one).

package cuda

import (
	_ "embed"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"testing"
)

//go:embed testdata/selftest.cu
var selftestSrc string

func openOrSkip(t *testing.T) *device {
	t.Helper()
	d, err := openWith(0, defaultEnv(), t.TempDir())
	if err != nil {
		t.Skipf("no usable GPU: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func bytesF32(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

// bf16 rounds to nearest even, as tensor.Backend.Upload does.
func bf16(v float32) uint16 {
	u := math.Float32bits(v)
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

func bf16f(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func TestGPUProbe(t *testing.T) {
	info, err := Probe()
	if err != nil && len(info.Devices) == 0 {
		t.Skipf("no usable GPU: %v", err)
	}
	if err != nil {
		t.Fatalf("GPU present but a library is missing: %v", err)
	}
	t.Logf("\n%s", info)
	d := info.Devices[0]
	if d.CCMajor < 3 || d.SMs < 1 || d.TotalMemory < 1<<30 || d.Name == "" {
		t.Errorf("implausible device info %+v", d)
	}
}

func TestGPUCopyMemset(t *testing.T) {
	d := openOrSkip(t)
	const n = 1000
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i) - 0.5
	}
	p, err := d.Alloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.Alloc(4 * n)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CopyHtoD(p, f32Bytes(x)); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyDtoD(q, p, 4*n); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 4*n)
	if err := d.CopyDtoH(out, q); err != nil {
		t.Fatal(err)
	}
	for i, v := range bytesF32(out) {
		if v != x[i] {
			t.Fatalf("round trip element %d = %g, want %g", i, v, x[i])
		}
	}
	if err := d.Memset32(q, math.Float32bits(2.5), n); err != nil {
		t.Fatal(err)
	}
	if err := d.Memset8(q, 0, 8); err != nil { // the first two floats become 0
		t.Fatal(err)
	}
	if err := d.CopyDtoH(out, q); err != nil {
		t.Fatal(err)
	}
	got := bytesF32(out)
	if got[0] != 0 || got[1] != 0 || got[2] != 2.5 || got[n-1] != 2.5 {
		t.Errorf("memset: got %v…%g, want 0 0 2.5 … 2.5", got[:3], got[n-1])
	}
	free, total, err := d.MemInfo()
	if err != nil || free == 0 || free > total {
		t.Errorf("MemInfo = %d, %d, %v", free, total, err)
	}
	st := d.MemStats()
	if st.InUse != 2*roundSize(4*n) || st.PeakInUse < st.InUse {
		t.Errorf("stats %+v", st)
	}
	if err := d.Free(p); err != nil {
		t.Fatal(err)
	}
	if err := d.Free(p); err == nil {
		t.Error("double free on a real device was not reported")
	}
}

func TestGPUOutOfMemory(t *testing.T) {
	d := openOrSkip(t)
	_, err := d.Alloc(d.TotalMemory() * 2)
	if !errors.Is(err, errOutOfMemory) {
		t.Errorf("Alloc(2×total) = %v, want errOutOfMemory", err)
	}
	if st := d.MemStats(); st.Retries != 1 {
		t.Errorf("retries = %d, want 1", st.Retries)
	}
}

func loadSelftest(t *testing.T, d *device) function {
	t.Helper()
	cubin, err := d.CompileKernel(selftestSrc, "selftest.cu", []string{"-default-device"})
	if err != nil {
		t.Fatal(err)
	}
	mod, err := d.LoadModule(cubin)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := d.Function(mod, "r1_selftest")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Function(mod, "no_such_kernel"); err == nil {
		t.Error("Function found a kernel that does not exist")
	}
	return fn
}

func TestGPULaunch(t *testing.T) {
	d := openOrSkip(t)
	fn := loadSelftest(t, d)
	// The second compile must come from the disk cache.
	if _, err := d.CompileKernel(selftestSrc, "selftest.cu", []string{"-default-device"}); err != nil {
		t.Fatal(err)
	}
	if st := d.kcache.Stats(); st.Hits != 1 || st.Misses != 1 {
		t.Errorf("kernel cache stats %+v, want 1 miss then 1 hit", st)
	}
	const n = 3000
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%17) * 0.25
	}
	px, _ := d.Alloc(4 * n)
	py, _ := d.Alloc(4 * n)
	ptag, _ := d.Alloc(8)
	if err := d.CopyHtoD(px, f32Bytes(x)); err != nil {
		t.Fatal(err)
	}
	const a, off, stride, tag = float32(-1.5), int64(-1 << 33), uint32(3), uint64(0xdeadbeefcafef00d)
	grid := [3]uint32{(n + 255) / 256, 1, 1}
	if err := d.Launch(fn, grid, [3]uint32{256, 1, 1}, 0, py, px, int32(n), stride, a, off, tag, ptag); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 4*n)
	if err := d.CopyDtoH(out, py); err != nil {
		t.Fatal(err)
	}
	for i, v := range bytesF32(out) {
		want := a*x[i] + float32(off+int64(stride)*int64(i))
		if v != want {
			t.Fatalf("y[%d] = %g, want %g", i, v, want)
		}
	}
	tb := make([]byte, 8)
	if err := d.CopyDtoH(tb, ptag); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(tb); got != tag {
		t.Errorf("tag = %#x, want %#x", got, tag)
	}
	if err := d.Launch(fn, grid, [3]uint32{256, 1, 1}, 0, py, px, n); err == nil {
		t.Error("Launch accepted a Go int argument")
	}
}

func TestGPUGraphAndEvents(t *testing.T) {
	d := openOrSkip(t)
	fn := loadSelftest(t, d)
	const n = 1024
	px, _ := d.Alloc(4 * n)
	py, _ := d.Alloc(4 * n)
	ptag, _ := d.Alloc(8)
	if err := d.Memset32(px, math.Float32bits(1), n); err != nil {
		t.Fatal(err)
	}
	// y = 2x, then x = 2y, captured once and replayed three times: x = 64.
	if err := d.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	args := func(y, x devicePtr) []any {
		return []any{y, x, int32(n), uint32(0), float32(2), int64(0), uint64(1), ptag}
	}
	for _, yx := range [][2]devicePtr{{py, px}, {px, py}} {
		if err := d.Launch(fn, [3]uint32{n / 256, 1, 1}, [3]uint32{256, 1, 1}, 0, args(yx[0], yx[1])...); err != nil {
			t.Fatal(err)
		}
	}
	g, err := d.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	start, _ := d.NewEvent()
	end, _ := d.NewEvent()
	d.Record(start)
	for i := 0; i < 3; i++ {
		if err := d.LaunchGraph(g); err != nil {
			t.Fatal(err)
		}
	}
	d.Record(end)
	ms, err := d.ElapsedMs(start, end)
	if err != nil || ms <= 0 {
		t.Errorf("ElapsedMs = %g, %v", ms, err)
	}
	out := make([]byte, 4*n)
	if err := d.CopyDtoH(out, px); err != nil {
		t.Fatal(err)
	}
	if v := bytesF32(out)[n-1]; v != 64 {
		t.Errorf("after 3 graph replays x = %g, want 64", v)
	}
	if err := d.DestroyGraph(g); err != nil {
		t.Error(err)
	}
	d.DestroyEvent(start)
	d.DestroyEvent(end)
}

func TestGPUGemm(t *testing.T) {
	d := openOrSkip(t)
	rng := rand.New(rand.NewSource(2))
	for _, g := range []gemmSpec{
		{M: 64, N: 48, K: 32, AB: dataF32, C: dataF32},
		{M: 64, N: 48, K: 32, TransB: true, AB: dataBF16, C: dataBF16},
		{M: 64, N: 48, K: 32, TransA: true, AB: dataBF16, C: dataF32},
		{M: 8, N: 128, K: 256, TransA: true, TransB: true, AB: dataBF16, C: dataBF16},
	} {
		a := make([]float32, g.M*g.K)
		b := make([]float32, g.K*g.N)
		c := make([]float32, g.M*g.N)
		for _, x := range [][]float32{a, b, c} {
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				if g.AB == dataBF16 {
					x[i] = bf16f(bf16(x[i]))
				}
			}
		}
		if g.C == dataBF16 {
			for i := range c {
				c[i] = bf16f(bf16(c[i]))
			}
		}
		upload := func(x []float32, dt cudaDataType) devicePtr {
			var raw []byte
			if dt == dataF32 {
				raw = f32Bytes(x)
			} else {
				raw = make([]byte, 2*len(x))
				for i, v := range x {
					binary.LittleEndian.PutUint16(raw[2*i:], bf16(v))
				}
			}
			p, err := d.Alloc(uint64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if err := d.CopyHtoD(p, raw); err != nil {
				t.Fatal(err)
			}
			return p
		}
		pa, pb, pc := upload(a, g.AB), upload(b, g.AB), upload(c, g.C)
		const alpha, beta = float32(0.5), float32(0.25)
		if err := d.Gemm(g, pa, pb, pc, alpha, beta); err != nil {
			t.Fatalf("%+v: %v", g, err)
		}
		raw := make([]byte, len(c)*g.C.size())
		if err := d.CopyDtoH(raw, pc); err != nil {
			t.Fatal(err)
		}
		tol := 1e-3
		if g.C == dataBF16 {
			tol = 2e-2 // one bf16 rounding of the output
		}
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				var s float64
				for p := 0; p < g.K; p++ {
					av := a[i*g.K+p]
					if g.TransA {
						av = a[p*g.M+i]
					}
					bv := b[p*g.N+j]
					if g.TransB {
						bv = b[j*g.K+p]
					}
					s += float64(av) * float64(bv)
				}
				want := float64(alpha)*s + float64(beta)*float64(c[i*g.N+j])
				var got float64
				if g.C == dataF32 {
					got = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(i*g.N+j):])))
				} else {
					got = float64(bf16f(binary.LittleEndian.Uint16(raw[2*(i*g.N+j):])))
				}
				if math.Abs(got-want) > tol*(1+math.Abs(want)) {
					t.Fatalf("%+v: C[%d,%d] = %g, want %g", g, i, j, got, want)
				}
			}
		}
	}
}

// TestGPUEmbeddedKernels compiles the whole embedded kernel program
// (kernels/*.cu) for this GPU and finds every kernel of kernelTable in it.
func TestGPUEmbeddedKernels(t *testing.T) {
	d := openOrSkip(t)
	mod, err := d.LoadSource(kernelSource(), "r1_kernels.cu", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kernelTable {
		if _, err := d.Function(mod, k.Name); err != nil {
			t.Errorf("kernel %s: %v", k.Name, err)
		}
	}
}

// BenchmarkGPULaunch measures the host cost of one kernel launch through
// the owner thread and purego (DESIGN.md measured ~3–4 µs for purego alone).
func BenchmarkGPULaunch(b *testing.B) {
	d, err := openWith(0, defaultEnv(), b.TempDir())
	if err != nil {
		b.Skipf("no usable GPU: %v", err)
	}
	defer d.Close()
	mod, err := d.LoadSource(selftestSrc, "selftest.cu", nil)
	if err != nil {
		b.Fatal(err)
	}
	fn, err := d.Function(mod, "r1_selftest")
	if err != nil {
		b.Fatal(err)
	}
	p, _ := d.Alloc(4 * 256)
	tag, _ := d.Alloc(8)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Launch(fn, [3]uint32{1, 1, 1}, [3]uint32{256, 1, 1}, 0, p, p, int32(256), uint32(0), float32(1), int64(0), uint64(0), tag); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Synchronize(); err != nil {
		b.Fatal(err)
	}
}
