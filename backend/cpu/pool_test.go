package cpu

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/r1go/r1/tensor"
)

// TestPoolReusesFreedStorage checks what New and Free promise with the
// pool: a freed tensor's storage comes back to the next New of its size
// class, cleared; freeing a view (SliceRows, Reshape) pools nothing, so the
// parent keeps its values; a tensor dropped without Free is forgotten once
// collected; small tensors stay with Go's allocator.
func TestPoolReusesFreedStorage(t *testing.T) {
	b := New()
	base := func(x *tensor.Tensor) *float32 { return unsafe.SliceData(f32(x)) }
	n := (poolMinElems/1000 + 1) * 1000
	a := b.New(tensor.F32, n/1000, 1000)
	if s := f32(a); len(s) != n || cap(s) != poolClass(n) || cap(s) > n+n/8 {
		t.Fatalf("len %d cap %d for %d elements", len(s), cap(s), n)
	}
	// Another size in the same class gets the buffer back, zeroed. (A
	// sync.Pool may drop what it holds — under the race detector it drops
	// a quarter of what it is given — so a few tries.)
	reused := false
	for try := 0; try < 10 && !reused; try++ {
		for i := range f32(a) {
			f32(a)[i] = 7
		}
		pa := base(a)
		b.Free(a)
		a = b.New(tensor.F32, poolClass(n)-5)
		reused = base(a) == pa
		for i, v := range f32(a) {
			if v != 0 {
				t.Fatalf("New's storage not cleared: [%d] = %v", i, v)
			}
		}
	}
	if !reused {
		t.Fatal("a freed buffer was never reused by New of its size class")
	}
	b.Free(a)

	// Views share the parent's storage: freeing them must not pool it.
	for _, view := range []func(*tensor.Tensor) *tensor.Tensor{
		func(p *tensor.Tensor) *tensor.Tensor { return b.SliceRows(p, 0, p.Shape[0]) },
		func(p *tensor.Tensor) *tensor.Tensor { return p.Reshape(p.Numel()) },
	} {
		p := b.New(tensor.F32, 2, n)
		for i := range f32(p) {
			f32(p)[i] = 3
		}
		b.Free(view(p))
		q := b.New(tensor.F32, 2, n)
		if base(q) == base(p) {
			t.Fatal("freeing a view pooled its parent's storage")
		}
		for _, v := range f32(p) {
			if v != 3 {
				t.Fatal("the parent's values changed after a view was freed")
			}
		}
		b.Free(p)
		b.Free(q)
	}

	// Dropped without Free: collected, and the pool forgets it.
	b.pool.mu.Lock()
	before := len(b.pool.live)
	b.pool.mu.Unlock()
	_ = b.New(tensor.F32, n)
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		b.pool.mu.Lock()
		after := len(b.pool.live)
		b.pool.mu.Unlock()
		if after <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pooled tensors tracked after the dropped one was collected, %d before", after, before)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Small tensors are plain Go slices.
	small := b.New(tensor.F32, 100)
	if s := f32(small); cap(s) != 100 {
		t.Fatalf("a small tensor got capacity %d", cap(s))
	}
}
