package cuda

import (
	"errors"
	"fmt"
	"sync"
)

// devicePtr is a device address (CUdeviceptr, an unsigned 64-bit integer in
// cuda.h).
type devicePtr uint64

// rawMemory is the uncached device memory the allocator sits on: the driver
// (cuMemAlloc_v2/cuMemFree_v2) on a GPU, a fake in tests.
type rawMemory interface {
	alloc(bytes uint64) (devicePtr, error)
	free(p devicePtr) error
}

const (
	smallRound = 512     // cudaMalloc's own alignment; keeps every block aligned for vector loads
	largeRound = 2 << 20 // GPU large pages: rounding larger requests wastes less than it fragments
	smallLimit = 1 << 20
)

// roundSize is the block size the allocator reserves for a request.
func roundSize(n uint64) uint64 {
	if n == 0 {
		n = 1 // a zero-length tensor still gets a distinct, valid address
	}
	r := uint64(smallRound)
	if n >= smallLimit {
		r = largeRound
	}
	return (n + r - 1) / r * r
}

// memStats are the allocator's counters, in bytes.
type memStats struct {
	InUse     uint64 // handed out and not yet freed (rounded sizes)
	Reserved  uint64 // obtained from the device: in use + cached
	PeakInUse uint64 // high-water mark of InUse since creation or ResetPeak: what `r1 bench` reports
	Allocs    uint64 // requests served
	CacheHits uint64 // requests served from the cache without a device allocation
	Retries   uint64 // device allocations retried after emptying the cache
}

// allocator is a caching allocator: freed blocks go to a free list per
// rounded size and are handed out again before asking the device, because
// cuMemAlloc/cuMemFree synchronize the device and cost far more than a
// kernel. Blocks are never split or merged; training reuses the same shapes
// every step, so exact-size reuse catches nearly everything.
type allocator struct {
	mu    sync.Mutex
	raw   rawMemory
	cache map[uint64][]devicePtr // rounded size → free blocks
	live  map[devicePtr]uint64   // handed-out block → rounded size
	st    memStats
}

func newAllocator(raw rawMemory) *allocator {
	return &allocator{raw: raw, cache: map[uint64][]devicePtr{}, live: map[devicePtr]uint64{}}
}

// Alloc returns a block of at least n bytes. On out-of-memory it releases
// every cached block and tries once more before giving up.
func (a *allocator) Alloc(n uint64) (devicePtr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := roundSize(n)
	if size < n {
		return 0, fmt.Errorf("cuda: allocation of %d bytes overflows", n)
	}
	var p devicePtr
	if free := a.cache[size]; len(free) > 0 {
		p = free[len(free)-1]
		a.cache[size] = free[:len(free)-1]
		a.st.CacheHits++
	} else {
		var err error
		p, err = a.raw.alloc(size)
		if err != nil && errors.Is(err, errOutOfMemory) {
			if ferr := a.emptyLocked(); ferr != nil {
				return 0, fmt.Errorf("cuda: allocating %d bytes: %w (and releasing the cache failed: %v)", size, err, ferr)
			}
			a.st.Retries++
			p, err = a.raw.alloc(size)
		}
		if err != nil {
			return 0, fmt.Errorf("cuda: allocating %d bytes (%d in use, %d reserved): %w", size, a.st.InUse, a.st.Reserved, err)
		}
		if _, dup := a.live[p]; dup {
			return 0, fmt.Errorf("cuda: device returned address %#x that is already in use", uint64(p))
		}
		a.st.Reserved += size
	}
	a.live[p] = size
	a.st.InUse += size
	a.st.Allocs++
	if a.st.InUse > a.st.PeakInUse {
		a.st.PeakInUse = a.st.InUse
	}
	return p, nil
}

// Free returns a block to the cache. Freeing an address that is not live
// (a double free, or memory from elsewhere) is an error, never a panic and
// never a corrupt free list.
func (a *allocator) Free(p devicePtr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	size, ok := a.live[p]
	if !ok {
		return fmt.Errorf("cuda: free of %#x: not an allocated block (double free, or not from this allocator)", uint64(p))
	}
	delete(a.live, p)
	a.st.InUse -= size
	a.cache[size] = append(a.cache[size], p)
	return nil
}

// EmptyCache gives every cached block back to the device.
func (a *allocator) EmptyCache() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.emptyLocked()
}

func (a *allocator) emptyLocked() error {
	var first error
	for size, free := range a.cache {
		for _, p := range free {
			if err := a.raw.free(p); err != nil {
				if first == nil {
					first = fmt.Errorf("cuda: releasing cached block %#x: %w", uint64(p), err)
				}
				continue // a block the device refused is lost either way
			}
			a.st.Reserved -= size
		}
		delete(a.cache, size)
	}
	return first
}

// releaseAll frees every block, live or cached: device shutdown.
func (a *allocator) releaseAll() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.emptyLocked()
	for p, size := range a.live {
		if err := a.raw.free(p); err != nil && first == nil {
			first = fmt.Errorf("cuda: releasing block %#x: %w", uint64(p), err)
		}
		a.st.Reserved -= size
		a.st.InUse -= size
		delete(a.live, p)
	}
	return first
}

// Stats returns a snapshot of the counters.
func (a *allocator) Stats() memStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

// ResetPeak starts a new high-water mark from the current use, so a
// benchmark can measure one phase.
func (a *allocator) ResetPeak() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.st.PeakInUse = a.st.InUse
}
