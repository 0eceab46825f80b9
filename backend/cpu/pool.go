package cpu

import (
	"math/bits"
	"runtime"
	"sync"
	"weak"

	"github.com/r1go/r1/tensor"
)

// bufPool hands the float32 storage of freed tensors back to New. A
// training step frees and reallocates the same large buffers every step
// (llama-112m's logits alone are 2,048×32,000 floats, 262 MB, and their
// gradient as much again); through Go's heap each comes back as fresh pages
// the kernel faults in and zeroes — 1.3M page faults and a third of a core
// in the kernel over three llama-112m steps — after the scavenger returned
// the old ones. Reused here, a buffer is only cleared.
//
// Only storage New (or NewUninit) allocated is pooled, and only when Free
// gets the very tensor it returned: views (SliceRows, Reshape) share their parent's
// storage and are other *Tensor values, so freeing one pools nothing. The
// pool knows New's tensors through weak pointers, so a tensor dropped
// without Free is collected as before. Buffers below poolMinElems stay
// with Go's allocator (cheap there). NewUninit takes a buffer uncleared;
// New clears it. Sizes round up to an eighth of their
// power of two, so sequences of different lengths reuse each other's
// buffers. Each class waits in a sync.Pool, so what is not taken again
// within two garbage collections is dropped: the built-in model's many
// sizes do not pile up (its peak RSS stays 0.3 GB), while a training step's
// buffers, freed at its end and taken again by the next, are reused.
type bufPool struct {
	mu   sync.Mutex
	live map[weak.Pointer[tensor.Tensor]]struct{} // New's pooled tensors, not yet freed
	free map[int]*sync.Pool                       // by capacity: *[]float32
}

// poolMinElems is the size below which storage stays with Go's allocator.
const poolMinElems = 1 << 18 // 1 MiB of float32

// poolClass is the capacity a pooled buffer of n ≥ poolMinElems elements gets.
func poolClass(n int) int {
	step := 1 << (bits.Len(uint(n)) - 4) // an eighth of n's power of two
	return (n + step - 1) / step * step
}

// take returns storage of n elements for t, from the pool when a buffer of
// its class waits there: zeroed, or as the buffer's last holder left it.
func (p *bufPool) take(t *tensor.Tensor, n int, zeroed bool) []float32 {
	c := poolClass(n)
	k := weak.Make(t)
	p.mu.Lock()
	if p.live == nil {
		p.live, p.free = map[weak.Pointer[tensor.Tensor]]struct{}{}, map[int]*sync.Pool{}
	}
	p.live[k] = struct{}{}
	cp := p.classPool(c)
	p.mu.Unlock()
	runtime.AddCleanup(t, p.forget, k)
	if v, ok := cp.Get().(*[]float32); ok {
		buf := (*v)[:n]
		if zeroed {
			clear(buf)
		}
		return buf
	}
	return make([]float32, n, c)
}

// put takes s, t's storage, back if New gave it to t.
func (p *bufPool) put(t *tensor.Tensor, s []float32) {
	if len(s) < poolMinElems || cap(s) != poolClass(len(s)) {
		return
	}
	k := weak.Make(t)
	p.mu.Lock()
	_, ok := p.live[k]
	var cp *sync.Pool
	if ok { // else a view, or storage the pool did not hand out
		delete(p.live, k)
		cp = p.classPool(cap(s))
	}
	p.mu.Unlock()
	if cp != nil {
		s = s[:cap(s)]
		cp.Put(&s)
	}
}

// classPool is the free list of capacity c; p.mu is held.
func (p *bufPool) classPool(c int) *sync.Pool {
	cp := p.free[c]
	if cp == nil {
		cp = new(sync.Pool)
		p.free[c] = cp
	}
	return cp
}

// forget drops a tensor that was collected without Free.
func (p *bufPool) forget(k weak.Pointer[tensor.Tensor]) {
	p.mu.Lock()
	delete(p.live, k)
	p.mu.Unlock()
}
