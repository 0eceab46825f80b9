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
	// Another size in the same class gets the buffer back, zeroed.
	for i := range f32(a) {
		f32(a)[i] = 7
	}
	pa := base(a)
	b.Free(a)
	a = b.New(tensor.F32, poolClass(n)-5)
	if base(a) != pa {
		t.Fatal("a freed buffer was not reused by New of its size class")
	}
	for i, v := range f32(a) {
		if v != 0 {
			t.Fatalf("New's storage not cleared: [%d] = %v", i, v)
		}
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

	// Dropped without Free: collected, and the pool forgets it (its
	// storage no longer counts as in use).
	b.pool.mu.Lock()
	before, inUse := len(b.pool.live), b.pool.inUse
	b.pool.mu.Unlock()
	_ = b.New(tensor.F32, n)
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		b.pool.mu.Lock()
		after, inUseAfter := len(b.pool.live), b.pool.inUse
		b.pool.mu.Unlock()
		if after <= before && inUseAfter == inUse {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pooled tensors tracked (%d elements in use) after the dropped one was collected, %d before (%d)", after, inUseAfter, before, inUse)
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
		t.Fatal("a freed buffer was not reused by NewUninit of its size class")
	}
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

// The pool keeps no more than the process needed at once: free buffers
// plus pooled storage in use stay within 9/8 of the most storage ever in
// use together. A miss that would pass that bound drops free buffers, those
// of the class used longest ago first, one at a time.
func TestPoolBoundedByPeakUse(t *testing.T) {
	b := New()
	state := func() (held, inUse, peak int, lists map[int]int) {
		b.pool.mu.Lock()
		defer b.pool.mu.Unlock()
		lists = map[int]int{}
		for c, fl := range b.pool.free {
			lists[c] = len(fl.bufs)
		}
		return b.pool.held, b.pool.inUse, max(b.pool.curPeak, b.pool.prevPeak), lists
	}
	const u = poolMinElems
	const a, c, d = 4 * u, 2 * u, 3 * u // three classes
	alloc := func(n, count int) []*tensor.Tensor {
		var ts []*tensor.Tensor
		for range count {
			ts = append(ts, b.NewUninit(tensor.F32, n))
		}
		return ts
	}
	free := func(ts []*tensor.Tensor) {
		for _, x := range ts {
			b.Free(x)
		}
	}
	// Ten of A and two of C at once (the peak, 44 units), then all freed:
	// all kept.
	as, cs := alloc(a, 10), alloc(c, 2)
	free(cs) // C used before A
	free(as)
	if held, inUse, peak, lists := state(); held != 44*u || inUse != 0 || peak != 44*u || lists[a] != 10 || lists[c] != 2 {
		t.Fatalf("after freeing everything: held %d, in use %d, peak %d, lists %v; want all 12 buffers kept, peak %d", held, inUse, peak, lists, 44*u)
	}
	// Seven of D, a class with nothing free: the first fits under 9/8 of
	// the peak (49.5 units); then each miss drops what passes it, C's
	// buffers first (used longest ago), then A's: 44+21 = 65 units, less
	// C's 4 and three of A's, leaves 7 of A (49 units in all).
	ds := alloc(d, 7)
	held, inUse, peak, lists := state()
	if held+inUse > peak+peak/8 || peak != 44*u || inUse != 21*u {
		t.Fatalf("after seven misses of D: held %d + in use %d > 9/8 of peak %d (want peak %d, in use %d)", held, inUse, peak, 44*u, 21*u)
	}
	if lists[c] != 0 || lists[a] != 7 || held != 7*a {
		t.Fatalf("after seven misses of D: lists %v (held %d), want C's dropped first and 7 of A left", lists, held)
	}
	// Hits take from the free lists and move nothing else.
	more := alloc(a, 7)
	if held, inUse, peak, _ := state(); held != 0 || inUse != 49*u || peak != 49*u {
		t.Fatalf("after seven hits of A: held %d, in use %d, peak %d; want 0, %d, %d", held, inUse, peak, 49*u, 49*u)
	}
	free(more)
	free(ds)
	if held, inUse, _, _ := state(); held != 49*u || inUse != 0 {
		t.Fatalf("after freeing: held %d, in use %d; want %d, 0", held, inUse, 49*u)
	}
}

// The peak ages: after a phase that needed much at once, two windows of a
// smaller working set trim the free lists to 9/8 of the new peak (a
// pipeline's next stage does not keep the last one's buffers), while one
// window is not enough.
func TestPoolPeakAges(t *testing.T) {
	b := New()
	now := time.Unix(0, 0)
	b.pool.now = func() time.Time { return now }
	held := func() int {
		b.pool.mu.Lock()
		defer b.pool.mu.Unlock()
		return b.pool.held
	}
	const big, small = poolMinElems * 8, poolMinElems
	var bigs []*tensor.Tensor
	for range 16 { // the peak: 128 units
		bigs = append(bigs, b.NewUninit(tensor.F32, big))
	}
	for _, x := range bigs {
		b.Free(x)
	}
	// A phase of one small tensor at a time (hits after the first), 64
	// takes per window so each window's turn is seen.
	window := func() {
		now = now.Add(peakWindow)
		for range 64 {
			b.Free(b.NewUninit(tensor.F32, small))
		}
	}
	window()
	if h := held(); h != 16*big+small {
		t.Fatalf("one window after the peak: %d elements held, want all %d", h, 16*big+small)
	}
	window()
	// The peak is now the small phase's (one small tensor): the free
	// lists keep 9/8 of it, the small buffer, and no big one.
	if h := held(); h != small {
		t.Fatalf("two windows after the peak: %d elements held, want %d (the big buffers dropped)", h, small)
	}
}
