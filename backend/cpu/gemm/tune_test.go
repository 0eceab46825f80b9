package gemm

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkTune(b *testing.B) {
	for _, kc := range []int{256, 384, 512, 768} {
		for _, mc := range []int{70, 112, 168} {
			im := *impls[0]
			im.kc, im.mc = kc, mc
			b.Run(fmt.Sprintf("kc%d_mc%d", kc, mc), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				n := 1024
				x, y, c := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
				t0 := cpuTime()
				for b.Loop() {
					sgemm(&im, 1, false, false, n, n, n, 1, x, n, y, n, 0, c, n)
				}
				b.ReportMetric(2*float64(n*n*n)*float64(b.N)/(cpuTime()-t0).Seconds()/1e9, "cpuGFLOP/s")
			})
		}
	}
}
