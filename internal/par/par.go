// Package par runs the parallel parts of the CPU kernels on a few
// persistent workers. Starting a goroutine per parallel region costs a
// wake-up of an idle thread (tens of microseconds on a busy machine), which
// at the small products of a tiny model is as long as the work itself and
// leaves the caller doing most of it: the built-in model's GRPO update kept
// 1.16 of 2 cores busy. Workers here spin briefly for the next region
// before they park, so back-to-back regions start at once.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinFor is how long an idle worker (and a caller waiting for its
// region's last part) polls before it sleeps: long enough to span the gaps
// between the kernels of a training step, short enough that an idle
// process stops burning a core at once.
const spinFor = 50 * time.Microsecond

type region struct {
	f    func(i int)
	n    int32
	next atomic.Int32 // next part to take
	done atomic.Int32 // parts finished
}

var (
	mu      sync.Mutex // held by the one caller whose region the workers serve
	cur     atomic.Pointer[region]
	gen     atomic.Uint64 // bumped for each region
	parkMu  sync.Mutex
	parkC   = sync.NewCond(&parkMu)
	parked  int
	started int // workers started (under mu)
)

// Do runs f(0), …, f(n−1) concurrently and returns when all have returned;
// the caller runs parts too. Parts are taken in order by whoever is free,
// so f must not assume which goroutine runs which part. A region started
// while another runs (another goroutine's, or a nested one) runs on fresh
// goroutines instead.
func Do(n int, f func(i int)) {
	switch {
	case n <= 0:
		return
	case n == 1:
		f(0)
		return
	}
	if !mu.TryLock() {
		spawn(n, f)
		return
	}
	defer mu.Unlock()
	if want := runtime.GOMAXPROCS(0) - 1; started < want {
		for ; started < want; started++ {
			go worker()
		}
	}
	r := &region{f: f, n: int32(n)}
	cur.Store(r)
	gen.Add(1)
	parkMu.Lock()
	if parked > 0 {
		parkC.Broadcast()
	}
	parkMu.Unlock()
	r.work()
	// Wait for parts taken by workers: spin, then yield.
	deadline := time.Now().Add(spinFor)
	for i := 0; r.done.Load() < r.n; i++ {
		if i&255 == 255 && time.Now().After(deadline) {
			runtime.Gosched()
		}
	}
	cur.Store(nil)
}

// work takes and runs parts until none is left.
func (r *region) work() {
	for {
		i := r.next.Add(1) - 1
		if i >= r.n {
			return
		}
		r.f(int(i))
		r.done.Add(1)
	}
}

func worker() {
	var seen uint64
	for {
		// Spin for the next region, then park until one comes.
		// Yielding now and then lets the garbage collector's workers and
		// other goroutines have this thread while the spin lasts.
		deadline := time.Now().Add(spinFor)
		for i := 0; gen.Load() == seen; i++ {
			if i&255 != 255 {
				continue
			}
			runtime.Gosched()
			if time.Now().After(deadline) {
				parkMu.Lock()
				for gen.Load() == seen {
					parked++
					parkC.Wait()
					parked--
				}
				parkMu.Unlock()
			}
		}
		seen = gen.Load()
		if r := cur.Load(); r != nil {
			r.work()
		}
	}
}

// spawn is Do on goroutines of its own.
func spawn(n int, f func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n - 1)
	for i := 1; i < n; i++ {
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	f(0)
	wg.Wait()
}
