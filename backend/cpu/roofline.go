package cpu

import (
	"runtime"
	"sync"
	"time"

	"github.com/r1go/r1/backend/cpu/gemm"
)

// Roofline holds this machine's ceilings for float32 work at the selected
// SIMD level, measured on every core r1 uses (GOMAXPROCS): what a
// throughput figure is a fraction of. r1 bench --roofline reports training
// and decoding against them.
type Roofline struct {
	Cores int    `json:"cores"`
	SIMD  string `json:"simd"`
	// FMAGFLOPS is the fused multiply-add peak: independent FMAs on
	// registers, no memory (0 at the generic level, which has no probe).
	// No kernel that loads its operands reaches it.
	FMAGFLOPS float64 `json:"fma_gflops"`
	// SgemmGFLOPS is this backend's 1024×1024×1024 SGEMM: the rate the
	// GEMM driver sustains on a large square product.
	SgemmGFLOPS float64 `json:"sgemm_gflops"`
	// ReadGBps is the rate at which the cores together stream a buffer far
	// larger than the caches (256 MB): the bound of a decode step that
	// reads every weight once (batch 1).
	ReadGBps float64 `json:"read_gbps"`
	// CacheBytes is the last-level cache (sysfs; 32 MiB where unknown):
	// weights that fit in it are not read from memory each decode step,
	// so the read bandwidth does not bound that step.
	CacheBytes int64 `json:"llc_bytes"`
}

// rooflineReadBytes is the buffer the bandwidth probe streams: larger than
// the last-level cache of the machines r1 runs on, so every pass reads
// memory.
const rooflineReadBytes = 256 << 20

// rooflineRuns is how many times each probe runs; the best run counts (a
// shared machine's other work only ever slows a run down).
const rooflineRuns = 5

// MeasureRoofline measures the ceilings, best of five runs each (about
// a second; the bandwidth probe holds 256 MB while it runs, so call it
// after reading a peak RSS).
func MeasureRoofline() Roofline {
	r := Roofline{Cores: runtime.GOMAXPROCS(0), SIMD: SIMD(), CacheBytes: lastLevelCache()}
	r.FMAGFLOPS = measureFMAPeak(r.Cores)
	r.SgemmGFLOPS = measureSgemm()
	r.ReadGBps = measureRead(r.Cores)
	return r
}

// onCores runs f(i) on n goroutines at once and returns the wall time.
func onCores(n int, f func(i int)) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// measureFMAPeak times fmaPeakLoop on every core: GFLOP/s, or 0 where this
// level has no probe.
func measureFMAPeak(cores int) float64 {
	const iters = 4_000_000 // ~20 ms per run at 3 GHz
	lanes := fmaPeakLanes()
	if lanes == 0 {
		return 0
	}
	flopsPerIter := 2 * float64(lanes)
	out := make([]float32, cores*lanes)
	best := 0.0
	for range rooflineRuns {
		d := onCores(cores, func(i int) { fmaPeakLoop(iters, out[i*lanes:][:lanes]) })
		best = max(best, float64(cores)*iters*flopsPerIter/d.Seconds()/1e9)
	}
	return best
}

// measureSgemm times C = A·B at 1024³ on the GEMM's workers.
func measureSgemm() float64 {
	const n = 1024
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)-3, float32(i%5)-2
	}
	gemm.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n) // warm-up: pages, workers
	best := 0.0
	for range rooflineRuns {
		start := time.Now()
		gemm.Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
		best = max(best, 2*n*n*n/time.Since(start).Seconds()/1e9)
	}
	return best
}

// measureRead streams a buffer larger than the caches with vector loads,
// one contiguous share per core, and returns GB/s.
func measureRead(cores int) float64 {
	buf := make([]float32, rooflineReadBytes/4)
	share := len(buf) / cores
	onCores(cores, func(i int) { // fault each share's pages in from the goroutine that reads it
		s := buf[i*share : (i+1)*share]
		for j := range s {
			s[j] = float32(j & 1023)
		}
	})
	const chunk = 1 << 16
	sink := make([]float32, cores)
	best := 0.0
	for range rooflineRuns {
		d := onCores(cores, func(i int) {
			s := buf[i*share : (i+1)*share]
			m := float32(0)
			for j := 0; j+chunk <= len(s); j += chunk {
				m = max(m, maxF32(s[j:j+chunk]))
			}
			sink[i] = m
		})
		best = max(best, float64(share/chunk*chunk*cores*4)/d.Seconds()/1e9)
	}
	return best
}
