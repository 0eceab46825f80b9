package cpu

import (
	"math"
	"runtime"
	"testing"
)

// The FMA probe does the work its FLOP count claims: every accumulator lane
// it counts ends at n (one FMA of 1·1 per iteration), and nothing past them
// is written.
func TestFMAPeakProbeCountsWork(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		lanes := fmaPeakLanes()
		if simd == simdGo {
			if lanes != 0 {
				t.Fatalf("generic level: %d probe lanes, want none", lanes)
			}
			return
		}
		if lanes == 0 {
			t.Fatalf("level %s has no FMA probe", levelNames[simd])
		}
		for _, n := range []int{0, 1, 1000} {
			out := make([]float32, lanes+16)
			for i := range out {
				out[i] = -1
			}
			fmaPeakLoop(n, out[:lanes])
			for i, v := range out[:lanes] {
				if v != float32(n) {
					t.Fatalf("n=%d: lane %d = %g, want %d", n, i, v, n)
				}
			}
			for i, v := range out[lanes:] {
				if v != -1 {
					t.Fatalf("n=%d: wrote %g past the %d lanes (at %d)", n, v, lanes, lanes+i)
				}
			}
		}
	})
}

func TestMeasureRoofline(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MB")
	}
	r := MeasureRoofline()
	if r.Cores != runtime.GOMAXPROCS(0) || r.SIMD != SIMD() {
		t.Errorf("cores %d simd %s, want %d %s", r.Cores, r.SIMD, runtime.GOMAXPROCS(0), SIMD())
	}
	finite := func(x float64) bool { return x > 0 && !math.IsInf(x, 0) }
	if !finite(r.SgemmGFLOPS) || !finite(r.ReadGBps) {
		t.Errorf("sgemm %g GFLOP/s, read %g GB/s: want positive figures", r.SgemmGFLOPS, r.ReadGBps)
	}
	if (simd != simdGo) != finite(r.FMAGFLOPS) {
		t.Errorf("FMA peak %g GFLOP/s at level %s", r.FMAGFLOPS, SIMD())
	}
}
