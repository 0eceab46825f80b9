// Package memcheck wraps a tensor.Backend to check tensor lifetimes: it
// counts the tensors and bytes allocated through New/Upload/UploadInt32 and
// released through Free, records frees of views, of foreign tensors and
// double frees (as errors to assert on, never as panics), tracks peak live
// bytes, and poisons every freed tensor (NaN, or a huge value for I32) so a
// use-after-free shows up as NaN or garbage in numerical tests even on the
// CPU backend, where freed memory would otherwise keep its old contents.
//
// Tests wrap backend/cpu with it; a CUDA run can wrap the CUDA backend the
// same way to find leaks that would exhaust device memory.
package memcheck

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/r1go/r1/tensor"
)

// PoisonI32 is written into freed I32 tensors: an id far outside any
// vocabulary or cache, so kernels that range-check ids reject it. It is a
// multiple of 128 so that it survives the trip through Fill's float32.
const PoisonI32 = 0x7fffff00

// Stats is a snapshot of the counters.
type Stats struct {
	Live      int   // tensors allocated and not yet freed
	LiveBytes int64 // their bytes
	PeakBytes int64 // the most LiveBytes has been since Wrap or ResetPeak
	Allocs    int   // allocations so far
	Frees     int   // successful frees so far
}

type alloc struct {
	bytes int64
	site  string // where it was allocated, for leak reports
}

// Backend is the checking wrapper. Tensors it hands out have Dev set to the
// wrapper, so code that allocates through t.Dev (gradient buffers) is
// counted too.
type Backend struct {
	tensor.Backend

	mu    sync.Mutex
	live  map[*tensor.Tensor]alloc
	freed map[*tensor.Tensor]bool
	st    Stats
	errs  []string
}

// Wrap returns a checking wrapper around inner. It remembers every freed
// *Tensor (to tell a double free from a view free), so it is a debugging
// tool for tests and short runs, not for production training.
func Wrap(inner tensor.Backend) *Backend {
	return &Backend{Backend: inner, live: map[*tensor.Tensor]alloc{}, freed: map[*tensor.Tensor]bool{}}
}

// Inner is the wrapped backend.
func (b *Backend) Inner() tensor.Backend { return b.Backend }

// SegmentMasks forwards to the inner backend (tensor.SegmentMasker), so
// that a checked run lays its batches out as an unchecked one.
func (b *Backend) SegmentMasks() bool { return tensor.SegmentMasks(b.Backend) }

// PackWeight and UnpackWeight forward to the inner backend when it packs
// weights (tensor.WeightPacker), so that a checked run computes the same
// bits as an unchecked one.
func (b *Backend) PackWeight(w *tensor.Tensor) bool {
	if wp, ok := b.Backend.(tensor.WeightPacker); ok {
		return wp.PackWeight(w)
	}
	return false
}

func (b *Backend) UnpackWeight(w *tensor.Tensor) {
	if wp, ok := b.Backend.(tensor.WeightPacker); ok {
		wp.UnpackWeight(w)
	}
}

// Name tags the inner name so logs show the checker is on.
func (b *Backend) Name() string { return b.Backend.Name() + "+memcheck" }

// New allocates through the inner backend and records the tensor.
func (b *Backend) New(dt tensor.DType, shape ...int) *tensor.Tensor {
	return b.track(b.Backend.New(dt, shape...))
}

// Upload allocates through the inner backend and records the tensor.
func (b *Backend) Upload(data []float32, dt tensor.DType, shape ...int) *tensor.Tensor {
	return b.track(b.Backend.Upload(data, dt, shape...))
}

// UploadInt32 allocates through the inner backend and records the tensor.
func (b *Backend) UploadInt32(data []int32, shape ...int) *tensor.Tensor {
	return b.track(b.Backend.UploadInt32(data, shape...))
}

// SliceRows is a view: not an allocation, and freeing it is an error.
func (b *Backend) SliceRows(t *tensor.Tensor, start, end int) *tensor.Tensor {
	v := b.Backend.SliceRows(t, start, end)
	v.Dev = b
	return v
}

func (b *Backend) track(t *tensor.Tensor) *tensor.Tensor {
	t.Dev = b
	a := alloc{bytes: t.Bytes(), site: callSite()}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.live[t] = a
	delete(b.freed, t) // a recycled *Tensor address is a new tensor
	b.st.Live++
	b.st.Allocs++
	b.st.LiveBytes += a.bytes
	b.st.PeakBytes = max(b.st.PeakBytes, b.st.LiveBytes)
	return t
}

// Free poisons and releases a tensor allocated through the wrapper. A nil
// tensor, a view, a tensor from elsewhere or a second free is recorded as
// an error and otherwise ignored: the inner backend never sees it.
func (b *Backend) Free(t *tensor.Tensor) {
	if t == nil {
		b.errorf("Free(nil) at %s", callSite())
		return
	}
	b.mu.Lock()
	a, ok := b.live[t]
	if !ok {
		double := b.freed[t]
		b.mu.Unlock()
		if double {
			b.errorf("double free of %v at %s", t, callSite())
		} else {
			b.errorf("free of %v at %s: a view (SliceRows/Reshape) or a tensor not allocated through this backend", t, callSite())
		}
		return
	}
	delete(b.live, t)
	b.freed[t] = true
	b.st.Live--
	b.st.Frees++
	b.st.LiveBytes -= a.bytes
	b.mu.Unlock()
	b.poison(t)
	if hostStorage(t.Buf) {
		// The inner backend would drop the reference (the CPU backend sets
		// Buf to nil, and Download of a nil Buf reads zeros: a silent
		// use-after-free). Freeing a copy keeps t on its poisoned storage,
		// so a later read of t itself is NaN too.
		c := *t
		b.Backend.Free(&c)
		return
	}
	b.Backend.Free(t)
}

// hostStorage reports whether buf is a Go slice: storage the garbage
// collector owns, which stays valid (and poisoned) after Free.
func hostStorage(buf any) bool {
	switch buf.(type) {
	case []float32, []float64, []int32, []uint16:
		return true
	}
	return false
}

// poison overwrites t so that views still pointing at its storage read
// values no correct computation produces.
func (b *Backend) poison(t *tensor.Tensor) {
	if t.Numel() == 0 {
		return
	}
	switch t.DType {
	case tensor.I32:
		b.Backend.Fill(t, PoisonI32)
	case tensor.F32, tensor.F64:
		b.Backend.Fill(t, float32(math.NaN()))
	default: // 16-bit storage: kernels may not Fill it, but Copy converts
		nan := make([]float32, t.Numel())
		for i := range nan {
			nan[i] = float32(math.NaN())
		}
		src := b.Backend.Upload(nan, t.DType, t.Shape...)
		b.Backend.Copy(t, src)
		b.Backend.Free(src)
	}
}

func (b *Backend) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.mu.Lock()
	b.errs = append(b.errs, msg)
	b.mu.Unlock()
}

// Stats returns the current counters.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// ResetPeak sets PeakBytes to the current live bytes, to measure the peak
// of one phase.
func (b *Backend) ResetPeak() {
	b.mu.Lock()
	b.st.PeakBytes = b.st.LiveBytes
	b.mu.Unlock()
}

// Errors returns the misuses recorded so far (double frees, view frees…).
func (b *Backend) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}

// LiveSites summarises the live tensors by allocation site, largest total
// first ("3× 4096 B model/infer.go:95 ← …"): what a leak report prints.
func (b *Backend) LiveSites() []string {
	b.mu.Lock()
	type agg struct {
		n     int
		bytes int64
	}
	by := map[string]*agg{}
	for _, a := range b.live {
		g := by[a.site]
		if g == nil {
			g = &agg{}
			by[a.site] = g
		}
		g.n++
		g.bytes += a.bytes
	}
	b.mu.Unlock()
	sites := make([]string, 0, len(by))
	for s := range by {
		sites = append(sites, s)
	}
	sort.Slice(sites, func(i, j int) bool {
		if by[sites[i]].bytes != by[sites[j]].bytes {
			return by[sites[i]].bytes > by[sites[j]].bytes
		}
		return sites[i] < sites[j]
	})
	out := make([]string, len(sites))
	for i, s := range sites {
		out[i] = fmt.Sprintf("%d× %d B %s", by[s].n, by[s].bytes, s)
	}
	return out
}

// Mark is a set of live tensors at one moment, to diff against later.
type Mark map[*tensor.Tensor]bool

// Mark records which tensors are live now.
func (b *Backend) Mark() Mark {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(Mark, len(b.live))
	for t := range b.live {
		m[t] = true
	}
	return m
}

// Since lists, by allocation site, the tensors live now that were not live
// at mark: the leaks of the code run in between.
func (b *Backend) Since(mark Mark) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for t, a := range b.live {
		if !mark[t] {
			out = append(out, fmt.Sprintf("%v (%d B) from %s", t, a.bytes, a.site))
		}
	}
	sort.Strings(out)
	return out
}

// callSite names the first few frames outside this file and the runtime,
// innermost first.
func callSite() string {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var parts []string
	for {
		f, more := frames.Next()
		if !strings.HasSuffix(f.File, "/internal/memcheck/memcheck.go") && !strings.HasPrefix(f.Function, "runtime.") {
			parts = append(parts, fmt.Sprintf("%s:%d", shortFile(f.File), f.Line))
			if len(parts) == 4 {
				break
			}
		}
		if !more {
			break
		}
	}
	return strings.Join(parts, " ← ")
}

// shortFile keeps the last two path elements (package/file.go).
func shortFile(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		if j := strings.LastIndexByte(p[:i], '/'); j >= 0 {
			return p[j+1:]
		}
	}
	return p
}
