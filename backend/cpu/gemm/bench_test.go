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
	t0 := cpuTime()
	for b.Loop() {
		Sgemm(transA, transB, m, n, k, 1, x, lda, y, ldb, 0, c, n)
	}
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	// FLOPs per second of CPU time used by the process: on a machine shared
	// with other jobs this shows the per-core efficiency that wall-clock
	// GFLOP/s hides (it also counts the benchmark's own overhead).
	if ct := cpuTime() - t0; ct > 0 {
		b.ReportMetric(flops/ct.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSgemm1024 is the headline figure: 1024³ on all cores.
func BenchmarkSgemm1024(b *testing.B) { benchShape(b, false, false, 1024, 1024, 1024) }

// BenchmarkSgemmTransformer covers the products of a d=1024 transformer
// layer on 512–4096 tokens: forward (x·W and x·Wᵀ with HF-layout weights),
// the weight gradient (xᵀ·dy), attention scores and values per head,
// decoding one or eight tokens, and a scalar head.
func BenchmarkSgemmTransformer(b *testing.B) {
	for _, s := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"fwd_512x1024x1024", false, false, 512, 1024, 1024},
		{"transB_4096x256x1024", false, true, 4096, 256, 1024},
		{"linear_transB_512x4096x1024", false, true, 512, 4096, 1024},
		{"wgrad_transA_1024x1024x512", true, false, 1024, 1024, 512},
		{"small_64x64x64", false, false, 64, 64, 64},
		{"attn_scores_256x256x64_transB", false, true, 256, 256, 64},
		{"attn_values_256x64x256", false, false, 256, 64, 256},
		{"attn_scores_128x128x32_transB", false, true, 128, 128, 32},
		{"attn_values_128x32x128", false, false, 128, 32, 128},
		{"decode_1x4096x1024_transB", false, true, 1, 4096, 1024},
		{"decode_8x4096x1024_transB", false, true, 8, 4096, 1024},
		{"head_2048x1x1024", false, false, 2048, 1, 1024},
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
			t0 := cpuTime()
			for b.Loop() {
				im.kern(k, a, bp, c, im.nr, 1, nil)
			}
			flops := 2 * float64(im.mr*im.nr*k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if ct := cpuTime() - t0; ct > 0 {
				b.ReportMetric(flops/ct.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// BenchmarkMacro runs the macro-kernel over already packed blocks for a few
// depths kc and row-block heights mc: the driver's ceiling without packing.
func BenchmarkMacro(b *testing.B) {
	for _, kc := range []int{256, 384, 512, 768} {
		for _, mc := range []int{112, 224, 336} {
			im := *impls[0]
			im.kc, im.mc = kc, mc
			b.Run(fmt.Sprint(kc, "_", mc), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				n, m := 1024, im.mc
				p := problem{m: m, n: n, k: kc, alpha: 1, beta: 1, lda: kc, ldb: n, ldc: n}
				p.a, p.b, p.c = randSlice(r, m*kc), randSlice(r, kc*n), make([]float32, m*n)
				buf := &buffers{a: make([]float32, m*kc), tmp: make([]float32, im.mr*im.nr)}
				bb := make([]float32, n*kc)
				p.packA(buf.a, 0, m, 0, kc, im.mr)
				p.packB(bb, 0, kc, 0, n, im.nr, 0, n/im.nr)
				t0 := cpuTime()
				for b.Loop() {
					p.macro(&im, buf.a, buf.tmp, bb, nil, 0, m, 0, 0, 0, n, kc, 1)
				}
				b.ReportMetric(2*float64(m*n*kc)*float64(b.N)/(cpuTime()-t0).Seconds()/1e9, "GFLOP/cpu-s")
			})
		}
	}
}

// BenchmarkSmallPath compares the unpacked (S) and the blocked (B) path for
// few-row products; isSmall's rules come from it.
func BenchmarkSmallPath(b *testing.B) {
	defer func(v int) { smallMode = v }(smallMode)
	for _, tb := range []bool{true, false} {
		for _, m := range []int{4, 16, 64, 256} {
			for _, n := range []int{64, 512, 4096} {
				for _, k := range []int{64, 256, 1024} {
					for _, path := range []string{"S", "B"} {
						b.Run(fmt.Sprintf("tB=%v/%dx%dx%d/%s", tb, m, n, k, path), func(b *testing.B) {
							if path == "S" {
								smallMode = smallAlways
							} else {
								smallMode = smallNever
							}
							benchShape(b, false, tb, m, n, k)
						})
					}
				}
			}
		}
	}
}

// BenchmarkSgemmTiny covers the training products of the built-in demo
// model (d=128, kv 64, ffn 352) on a 2,048-token micro-batch, the shapes
// of r1 zero's update: forward x·Wᵀ, input gradient dy·W and weight
// gradient dyᵀ·x. Their operands fit in L2, so packing and the narrow
// outputs matter more than the kernel.
func BenchmarkSgemmTiny(b *testing.B) {
	const t = 2048
	for _, s := range []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{
		{"fwd_q", false, true, t, 128, 128},
		{"fwd_kv", false, true, t, 64, 128},
		{"fwd_up", false, true, t, 352, 128},
		{"fwd_down", false, true, t, 128, 352},
		{"dx_q", false, false, t, 128, 128},
		{"dx_up", false, false, t, 128, 352},
		{"dx_down", false, false, t, 352, 128},
		{"dw_q", true, false, 128, 128, t},
		{"dw_up", true, false, 352, 128, t},
		{"dw_down", true, false, 128, 352, t},
	} {
		b.Run(s.name, func(b *testing.B) { benchShape(b, s.transA, s.transB, s.m, s.n, s.k) })
	}
}
