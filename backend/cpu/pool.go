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
// Only storage New allocated is pooled, and only when Free gets the very
// tensor New returned: views (SliceRows, Reshape) share their parent's
// storage and are other *Tensor values, so freeing one pools nothing. The
// pool knows New's tensors through weak pointers, so a tensor dropped
// without Free is collected as before. Buffers below poolMinElems stay
// with Go's allocator (cheap there); sizes round up to an eighth of their
// power of two, so sequences of different lengths reuse each other's
// buffers; at most poolMaxBytes wait in the pool.
type bufPool struct {
	mu    sync.Mutex
	live  map[weak.Pointer[tensor.Tensor]]struct{} // New's pooled tensors, not yet freed
	free  map[int][][]float32                      // by capacity
	bytes int64                                    // waiting in free
}

const (
	poolMinElems = 1 << 18 // 1 MiB of float32
	poolMaxBytes = 2 << 30
)

// poolClass is the capacity a pooled buffer of n ≥ poolMinElems elements gets.
func poolClass(n int) int {
	step := 1 << (bits.Len(uint(n)) - 4) // an eighth of n's power of two
	return (n + step - 1) / step * step
}

// get returns zeroed storage of n elements for t, from the pool when a
// buffer of its class waits there.
func (p *bufPool) get(t *tensor.Tensor, n int) []float32 {
	c := poolClass(n)
	k := weak.Make(t)
	p.mu.Lock()
	if p.live == nil {
		p.live, p.free = map[weak.Pointer[tensor.Tensor]]struct{}{}, map[int][][]float32{}
	}
	var buf []float32
	if l := p.free[c]; len(l) > 0 {
		buf, p.free[c] = l[len(l)-1], l[:len(l)-1]
		p.bytes -= 4 * int64(c)
	}
	p.live[k] = struct{}{}
	p.mu.Unlock()
	runtime.AddCleanup(t, p.forget, k)
	if buf == nil {
		return make([]float32, n, c)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// put takes s, t's storage, back if New gave it to t.
func (p *bufPool) put(t *tensor.Tensor, s []float32) {
	if len(s) < poolMinElems || cap(s) != poolClass(len(s)) {
		return
	}
	k := weak.Make(t)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.live[k]; !ok {
		return // a view, or storage the pool did not hand out
	}
	delete(p.live, k)
	if p.bytes+4*int64(cap(s)) > poolMaxBytes {
		return
	}
	p.free[cap(s)] = append(p.free[cap(s)], s[:cap(s)])
	p.bytes += 4 * int64(cap(s))
}

// forget drops a tensor that was collected without Free.
func (p *bufPool) forget(k weak.Pointer[tensor.Tensor]) {
	p.mu.Lock()
	delete(p.live, k)
	p.mu.Unlock()
}
