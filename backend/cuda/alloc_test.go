package cuda

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeMemory is device memory with a capacity, handing out increasing
// addresses, and checking that the allocator never frees what it does not
// own.
type fakeMemory struct {
	capacity, used uint64
	next           devicePtr
	blocks         map[devicePtr]uint64
	allocs, frees  int
	failFree       bool
}

func newFakeMemory(capacity uint64) *fakeMemory {
	return &fakeMemory{capacity: capacity, next: 1 << 20, blocks: map[devicePtr]uint64{}}
}

func (f *fakeMemory) alloc(n uint64) (devicePtr, error) {
	if f.used+n > f.capacity {
		return 0, fmt.Errorf("fake cuMemAlloc of %d: %w", n, errOutOfMemory)
	}
	p := f.next
	f.next += devicePtr(n)
	f.blocks[p] = n
	f.used += n
	f.allocs++
	return p, nil
}

func (f *fakeMemory) free(p devicePtr) error {
	if f.failFree {
		return errors.New("fake cuMemFree failure")
	}
	n, ok := f.blocks[p]
	if !ok {
		return fmt.Errorf("fake device: free of unknown %#x", uint64(p))
	}
	delete(f.blocks, p)
	f.used -= n
	f.frees++
	return nil
}

func TestRoundSize(t *testing.T) {
	tests := []struct{ in, want uint64 }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024},
		{1<<20 - 1, 1 << 20}, {1 << 20, 2 << 20}, {2 << 20, 2 << 20}, {2<<20 + 1, 4 << 20},
		{100 << 20, 100 << 20}, {101 << 20, 102 << 20},
	}
	for _, tc := range tests {
		if got := roundSize(tc.in); got != tc.want {
			t.Errorf("roundSize(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestAllocatorReuseAndStats(t *testing.T) {
	mem := newFakeMemory(1 << 30)
	a := newAllocator(mem)
	p1, err := a.Alloc(1000) // → 1024
	if err != nil {
		t.Fatal(err)
	}
	p2, err := a.Alloc(3 << 20) // → 4 MiB
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p1); err != nil {
		t.Fatal(err)
	}
	// Same rounded size: the cached block comes back, no device call.
	p3, err := a.Alloc(1023)
	if err != nil {
		t.Fatal(err)
	}
	if p3 != p1 || mem.allocs != 2 {
		t.Errorf("Alloc after Free = %#x (device allocs %d), want reuse of %#x with 2 device allocs", p3, mem.allocs, p1)
	}
	// A different size class must not reuse it.
	if err := a.Free(p3); err != nil {
		t.Fatal(err)
	}
	p4, err := a.Alloc(2048)
	if err != nil {
		t.Fatal(err)
	}
	if p4 == p1 {
		t.Errorf("2048-byte request reused a 1024-byte block")
	}
	st := a.Stats()
	want := memStats{InUse: 4<<20 + 2048, Reserved: 4<<20 + 2048 + 1024, PeakInUse: 4<<20 + 2048, Allocs: 4, CacheHits: 1}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if err := a.Free(p2); err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p4); err != nil {
		t.Fatal(err)
	}
	st = a.Stats()
	if st.InUse != 0 || st.PeakInUse != 4<<20+2048 {
		t.Errorf("after freeing all: InUse %d Peak %d, want 0 and %d", st.InUse, st.PeakInUse, 4<<20+2048)
	}
	a.ResetPeak()
	if st := a.Stats(); st.PeakInUse != 0 {
		t.Errorf("ResetPeak left peak %d with nothing in use", st.PeakInUse)
	}
	if err := a.EmptyCache(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Reserved != 0 || mem.used != 0 || len(mem.blocks) != 0 {
		t.Errorf("after EmptyCache: reserved %d, device used %d, blocks %d; want all 0", st.Reserved, mem.used, len(mem.blocks))
	}
}

func TestAllocatorOOMRetry(t *testing.T) {
	tests := []struct {
		name      string
		capacity  uint64
		cached    []uint64 // sizes allocated then freed into the cache
		live      []uint64 // sizes kept allocated
		request   uint64
		wantErr   bool
		wantRetry uint64
	}{
		{"fits without retry", 8 << 20, nil, nil, 2 << 20, false, 0},
		{"cache released then fits", 8 << 20, []uint64{4 << 20, 2 << 20}, nil, 6 << 20, false, 1},
		{"live memory blocks it", 8 << 20, []uint64{2 << 20}, []uint64{6 << 20}, 4 << 20, true, 1},
		{"larger than the device", 4 << 20, nil, nil, 6 << 20, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := newFakeMemory(tc.capacity)
			a := newAllocator(mem)
			for _, n := range tc.live {
				if _, err := a.Alloc(n); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range tc.cached {
				p, err := a.Alloc(n)
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Free(p); err != nil {
					t.Fatal(err)
				}
			}
			_, err := a.Alloc(tc.request)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Alloc(%d) error = %v, wantErr %v", tc.request, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errOutOfMemory) {
				t.Errorf("error %v does not wrap errOutOfMemory", err)
			}
			st := a.Stats()
			if st.Retries != tc.wantRetry {
				t.Errorf("retries = %d, want %d", st.Retries, tc.wantRetry)
			}
			if st.Reserved != mem.used {
				t.Errorf("reserved %d but the device has %d allocated", st.Reserved, mem.used)
			}
		})
	}
}

func TestAllocatorFreeErrors(t *testing.T) {
	a := newAllocator(newFakeMemory(1 << 30))
	p, err := a.Alloc(100)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Free(p); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    devicePtr
	}{{"double free", p}, {"foreign pointer", 0xdead000}, {"null", 0}}
	for _, tc := range tests {
		err := a.Free(tc.p)
		if err == nil || !strings.Contains(err.Error(), "not an allocated block") {
			t.Errorf("%s: Free = %v, want a 'not an allocated block' error", tc.name, err)
		}
	}
	// The double free must not have put the block in the cache twice.
	q1, _ := a.Alloc(100)
	q2, _ := a.Alloc(100)
	if q1 == q2 {
		t.Errorf("two live allocations share address %#x", uint64(q1))
	}
}

func TestAllocatorNonOOMErrorNotRetried(t *testing.T) {
	a := newAllocator(errMemory{})
	_, err := a.Alloc(10)
	if err == nil || errors.Is(err, errOutOfMemory) || a.Stats().Retries != 0 {
		t.Errorf("Alloc = %v, retries %d; want the device's own error, no retry", err, a.Stats().Retries)
	}
}

type errMemory struct{}

func (errMemory) alloc(uint64) (devicePtr, error) {
	return 0, &libError{Lib: "cuda", Call: "cuMemAlloc_v2", Code: 201, Name: "CUDA_ERROR_INVALID_CONTEXT"}
}
func (errMemory) free(devicePtr) error { return nil }

func TestReleaseAll(t *testing.T) {
	mem := newFakeMemory(1 << 30)
	a := newAllocator(mem)
	p, _ := a.Alloc(10)
	q, _ := a.Alloc(5 << 20)
	_ = a.Free(p)
	_ = q
	if err := a.releaseAll(); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.InUse != 0 || st.Reserved != 0 || len(mem.blocks) != 0 {
		t.Errorf("after releaseAll: %+v, device blocks %d", st, len(mem.blocks))
	}
	mem2 := newFakeMemory(1 << 30)
	b := newAllocator(mem2)
	r, _ := b.Alloc(10)
	_ = b.Free(r)
	mem2.failFree = true
	if err := b.releaseAll(); err == nil || !strings.Contains(err.Error(), "fake cuMemFree failure") {
		t.Errorf("releaseAll with a failing device = %v, want the device error", err)
	}
}

func TestErrorIsOOM(t *testing.T) {
	tests := []struct {
		e    *libError
		want bool
	}{
		{&libError{Lib: "cuda", Call: "cuMemAlloc_v2", Code: cudaErrorOutOfMemory}, true},
		{&libError{Lib: "cuda", Call: "cuMemAlloc_v2", Code: cudaErrorNoDevice}, false},
		{&libError{Lib: "nvrtc", Call: "nvrtcCompileProgram", Code: cudaErrorOutOfMemory}, false},
	}
	for _, tc := range tests {
		if got := errors.Is(fmt.Errorf("wrapped: %w", tc.e), errOutOfMemory); got != tc.want {
			t.Errorf("errors.Is(%v, errOutOfMemory) = %v, want %v", tc.e, got, tc.want)
		}
	}
	e := &libError{Lib: "cuda", Call: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE", Msg: "no CUDA-capable device is detected"}
	if got := e.Error(); got != "cuda: cuInit failed with 100 (CUDA_ERROR_NO_DEVICE): no CUDA-capable device is detected" {
		t.Errorf("Error() = %q", got)
	}
}
