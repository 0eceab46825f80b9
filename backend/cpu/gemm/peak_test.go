package gemm

import "testing"

func peakFMA(n int)

func BenchmarkPeak(b *testing.B) {
	for b.Loop() {
		peakFMA(100000)
	}
	b.ReportMetric(float64(100000*12*32)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
