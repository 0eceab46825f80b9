package cpu

import (
	"math/bits"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/r1go/r1/tensor"
)

// bufPool hands the float32 storage of freed tensors back to New. A
// training step frees and reallocates the same large buffers every step
// (llama-112m's logits alone are 2,048×32,000 floats, 262 MB, and their
// gradient as much again); through Go's heap each comes back as fresh pages
// the kernel faults in and zeroes — 1.3M page faults and a third of a core
// in the kernel over three llama-112m steps — after the scavenger returned
// the old ones. Smaller buffers (from 32 KiB) are the decode steps' and the
// built-in model's activations, tens of thousands a second, each zeroed by
// Go's allocator on the calling goroutine while the other cores wait: a
// tenth of `r1 zero`'s wall time. Reused here, a buffer is only
// cleared (New) or handed over as its last holder left it (NewUninit).
//
// Only storage New (or NewUninit) allocated is pooled, and only when Free
// gets the very tensor it returned: views (SliceRows, Reshape) share their
// parent's storage and are other *Tensor values, so freeing one pools
// nothing. The pool knows New's tensors through weak pointers, so a tensor
// dropped without Free is collected as before. Sizes round up to an eighth
// of their power of two, so sequences of different lengths reuse each
// other's buffers.
//
// What the pool keeps is bounded by what the process needed at once: the
// free lists plus the pooled storage in use stay within 9/8 of the most
// storage in use at one time (peak) over the last half to whole minute. A
// miss that would pass that bound first drops free buffers of the class
// used longest ago, and so does the peak's ageing (every peakWindow). The
// eighth over the peak is room for the mix of classes a step frees and
// takes again in another order (a backward pass's temporaries): at exactly
// the peak, three llama-112m training steps dropped and reallocated 150
// buffers (+0.5 GB RSS, three more collections); with an eighth or a
// quarter more, peak RSS and collections were as before. The ageing lets a
// long process (a pipeline's stages) give back what an earlier phase
// needed, and forgets tensors dropped without Free, which count as in use
// until collected. So memory follows the working set, whatever the garbage
// collector's pace: with sync.Pools (kept for two collections) the rate of
// small allocations paced the collections, and once those were pooled too,
// the large classes of the built-in model's changing sequence lengths
// piled up between them (GRPO peak RSS +30%; a quarter over the peak +20%,
// an eighth +12%).
type bufPool struct {
	mu   sync.Mutex
	live map[weak.Pointer[tensor.Tensor]]int // New's pooled tensors, not yet freed: capacity
	free map[int]*freeList                   // by capacity; a class with no buffers is deleted
	// inUse is the capacity of the live tensors, held that of the free
	// lists (elements); curPeak is the largest inUse since the window
	// began at windowStart, prevPeak the window before's; after a miss,
	// held+inUse ≤ peak+peak/8 with peak = max(curPeak, prevPeak).
	inUse, held       int
	curPeak, prevPeak int
	windowStart       time.Time
	clock             uint64           // counts takes and puts, for freeList.used
	takes             uint64           // counts takes: every 64th looks at the time
	now               func() time.Time // time.Now; tests move it
}

// peakWindow is how long the most storage in use at once counts for the
// bound, at least (and at most twice that).
const peakWindow = 30 * time.Second

// freeList holds the freed buffers of one capacity, and when the class was
// last taken from or given to (bufPool.clock).
type freeList struct {
	bufs [][]float32
	used uint64
}

// poolMinElems is the size below which storage stays with Go's allocator:
// its size classes serve small slices from per-P caches, cheaply.
const poolMinElems = 1 << 13 // 32 KiB of float32

// poolClass is the capacity a pooled buffer of n ≥ poolMinElems elements gets.
func poolClass(n int) int {
	step := 1 << (bits.Len(uint(n)) - 4) // an eighth of n's power of two
	return (n + step - 1) / step * step
}

// take returns storage of n elements for t, from the free list of its
// class when a buffer waits there: zeroed, or as the buffer's last holder
// left it.
func (p *bufPool) take(t *tensor.Tensor, n int, zeroed bool) []float32 {
	c := poolClass(n)
	k := weak.Make(t)
	p.mu.Lock()
	if p.live == nil {
		p.live, p.free = map[weak.Pointer[tensor.Tensor]]int{}, map[int]*freeList{}
		if p.now == nil {
			p.now = time.Now
		}
		p.windowStart = p.now()
	}
	p.live[k] = c
	p.inUse += c
	p.curPeak = max(p.curPeak, p.inUse)
	if p.takes++; p.takes%64 == 0 && p.now().Sub(p.windowStart) >= peakWindow {
		p.prevPeak, p.curPeak, p.windowStart = p.curPeak, p.inUse, p.now()
		p.trim()
	}
	buf := p.pop(c)
	if buf == nil {
		p.trim()
	}
	p.mu.Unlock()
	runtime.AddCleanup(t, p.forget, k)
	if buf == nil {
		return make([]float32, n, c)
	}
	buf = buf[:n]
	if zeroed {
		clear(buf)
	}
	return buf
}

// trim drops free buffers, the class used longest ago first, while the
// free lists and the storage in use pass 9/8 of the peak; p.mu is held.
func (p *bufPool) trim() {
	peak := max(p.curPeak, p.prevPeak)
	for p.held+p.inUse > peak+peak/8 && p.dropOldest() {
	}
}

// put takes s, t's storage, back if New gave it to t.
func (p *bufPool) put(t *tensor.Tensor, s []float32) {
	if len(s) < poolMinElems || cap(s) != poolClass(len(s)) {
		return
	}
	k := weak.Make(t)
	p.mu.Lock()
	if c, ok := p.live[k]; ok { // else a view, or storage the pool did not hand out
		delete(p.live, k)
		p.inUse -= c
		fl := p.free[c]
		if fl == nil {
			fl = &freeList{}
			p.free[c] = fl
		}
		fl.bufs = append(fl.bufs, s[:c])
		p.held += c
		p.clock++
		fl.used = p.clock
	}
	p.mu.Unlock()
}

// pop takes a buffer of capacity c off its free list, or returns nil; p.mu
// is held.
func (p *bufPool) pop(c int) []float32 {
	fl := p.free[c]
	if fl == nil {
		return nil
	}
	p.clock++
	fl.used = p.clock
	return p.remove(c, fl)
}

// dropOldest lets go of one buffer of the class used longest ago (to the
// garbage collector), reporting false when the free lists are empty; p.mu
// is held.
func (p *bufPool) dropOldest() bool {
	oldest, ofl := 0, (*freeList)(nil)
	for c, fl := range p.free {
		if ofl == nil || fl.used < ofl.used {
			oldest, ofl = c, fl
		}
	}
	if ofl == nil {
		return false
	}
	p.remove(oldest, ofl)
	return true
}

// remove takes the last buffer off fl, the free list of capacity c, and
// deletes the class when none is left; p.mu is held.
func (p *bufPool) remove(c int, fl *freeList) []float32 {
	buf := fl.bufs[len(fl.bufs)-1]
	fl.bufs[len(fl.bufs)-1] = nil
	fl.bufs = fl.bufs[:len(fl.bufs)-1]
	p.held -= c
	if len(fl.bufs) == 0 {
		delete(p.free, c)
	}
	return buf
}

// forget drops a tensor that was collected without Free.
func (p *bufPool) forget(k weak.Pointer[tensor.Tensor]) {
	p.mu.Lock()
	if c, ok := p.live[k]; ok {
		delete(p.live, k)
		p.inUse -= c
	}
	p.mu.Unlock()
}
