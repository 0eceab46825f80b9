package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape runs Sgemm on one shape through the kernel selected by
// R1_GEMM / SetImpl and reports GFLOP/s (2·m·n·k per call).
func benchShape(b *testing.B, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(1, 1))
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	x, y, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	b.ResetTimer()
	for b.Loop() {
		Sgemm(transA, transB, m, n, k, 1, x, lda, y, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm1024(b *testing.B) { benchShape(b, false, false, 1024, 1024, 1024) }

// BenchmarkSgemmTransformer covers the products of a d=1024 transformer
// layer on 512–4096 tokens: forward (x·W), the input gradient with the
// weight transposed, and the weight gradient (x^T·dy).
func BenchmarkSgemmTransformer(b *testing.B) {
	for _, s := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"fwd_512x1024x1024", false, false, 512, 1024, 1024},
		{"transB_4096x256x1024", false, true, 4096, 256, 1024},
		{"wgrad_transA_1024x1024x512", true, false, 1024, 1024, 512},
		{"small_64x64x64", false, false, 64, 64, 64},
	} {
		b.Run(s.name, func(b *testing.B) { benchShape(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}

// BenchmarkSgemmImpls compares the kernels on one mid-size shape.
func BenchmarkSgemmImpls(b *testing.B) {
	defer func(name string) { _ = SetImpl(name) }(Impl())
	for _, name := range Impls() {
		b.Run(fmt.Sprint(name), func(b *testing.B) {
			if err := SetImpl(name); err != nil {
				b.Fatal(err)
			}
			benchShape(b, false, false, 512, 512, 512)
		})
	}
}

// BenchmarkKernel measures each micro-kernel alone on packed panels that
// stay in L1/L2: the ceiling the blocked driver can approach.
func BenchmarkKernel(b *testing.B) {
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			const k = 256
			r := rand.New(rand.NewPCG(1, 1))
			a, bp := randSlice(r, k*im.mr), randSlice(r, k*im.nr)
			c := make([]float32, im.mr*im.nr)
			for b.Loop() {
				im.kern(k, a, bp, c, im.nr, 1)
			}
			b.ReportMetric(2*float64(im.mr*im.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
