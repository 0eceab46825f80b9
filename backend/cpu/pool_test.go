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

// NewUninit takes a freed buffer of its class as its last holder left it
// (no clearing: that is its point), from poolMinElems up; New after it
// still clears; small tensors and other dtypes are New's, zeroed.
func TestNewUninit(t *testing.T) {
	b := New()
	base := func(x *tensor.Tensor) *float32 { return unsafe.SliceData(f32(x)) }
	n := poolMinElems + 100
	reused := false
	for try := 0; try < 10 && !reused; try++ { // a sync.Pool may drop what it holds
		a := b.NewUninit(tensor.F32, n)
		if s := f32(a); len(s) != n || cap(s) != poolClass(n) {
			t.Fatalf("NewUninit: len %d cap %d for %d elements", len(s), cap(s), n)
		}
		for i := range f32(a) {
			f32(a)[i] = 7
		}
		pa := base(a)
		b.Free(a)
		u := b.NewUninit(tensor.F32, n-3)
		if base(u) != pa {
			b.Free(u)
			continue
		}
		reused = true
		if v := f32(u)[n-4]; v != 7 {
			t.Fatalf("NewUninit's reused storage holds %v, want the freed tensor's 7 (not cleared)", v)
		}
		b.Free(u)
		z := b.New(tensor.F32, n)
		for i, v := range f32(z) {
			if v != 0 {
				t.Fatalf("New after NewUninit's buffer was freed: [%d] = %v, want 0", i, v)
			}
		}
		b.Free(z)
	}
	if !reused {
		t.Fatal("a freed buffer was never reused by NewUninit of its size class")
	}
	for _, c := range []struct {
		dt tensor.DType
		n  int
	}{{tensor.F32, poolMinElems - 1}, {tensor.BF16, poolMinElems * 2}, {tensor.I32, poolMinElems * 2}} {
		x := b.NewUninit(c.dt, c.n)
		if x.DType != c.dt || x.Numel() != c.n {
			t.Fatalf("NewUninit(%v, %d) = %v", c.dt, c.n, x)
		}
		if c.dt == tensor.F32 && cap(f32(x)) != c.n {
			t.Errorf("NewUninit(F32, %d): capacity %d, want a plain slice", c.n, cap(f32(x)))
		}
	}
}
