package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSgemmPacked checks that a product through a packed B is bit for bit
// the blocked path's (itself checked against float64 in TestSgemmAllImpls)
// for every kernel, transposition of B, alpha/beta and shape, including
// cache blocks shrunk so that several column blocks and k slices are stored.
func TestSgemmPacked(t *testing.T) {
	defer func(v int) { smallMode = v }(smallMode)
	smallMode = smallNever
	var all []*impl
	for _, base := range impls {
		small := *base
		small.name, small.kc, small.mc, small.nc = base.name+"-smallblocks", 16, 2*base.mr, 2*base.nr
		if base.stream != nil { // the streamed kernels read the same blocks
			st := *base.stream
			st.kc, st.mc, st.nc = small.kc, small.mc, small.nc
			small.stream = &st
		}
		all = append(all, base, &small)
	}
	shapes := append(testShapes, shape{5, 1000, 70}, shape{33, 77, 129})
	for _, im := range all {
		for _, sh := range shapes {
			for _, transB := range []bool{false, true} {
				for vi, v := range variants {
					streamed := vi%2 == 1 // the streamed kernels (impl.stream, prefetches) on every other variant
					t.Run(fmt.Sprintf("%s/%dx%dx%d/tB=%v/v%d/streamed=%v", im.name, sh.m, sh.n, sh.k, transB, vi, streamed), func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(vi), 7))
						m, n, k := sh.m, sh.n, sh.k
						a, b, c0 := randSlice(r, m*k), randSlice(r, n*k), randSlice(r, m*n)
						ldb := n
						if transB {
							ldb = k
						}
						want := append([]float32(nil), c0...)
						sgemm(im, 2, false, transB, m, n, k, v.alpha, a, k, b, ldb, v.beta, want, n)
						pb := pack(im, transB, k, n, b, ldb)
						pb.SetStreamed(streamed)
						got := append([]float32(nil), c0...)
						SgemmPacked(m, v.alpha, a, k, pb, v.beta, got, n)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("C[%d][%d] = %v through the packed B, %v through Sgemm", i/n, i%n, got[i], want[i])
							}
						}
					})
				}
			}
		}
	}
}

// TestSgemmPackedRowsIndependent checks the property inference relies on:
// a row of C is the same bits computed alone or among other rows, whatever
// their number (a sequence decoded alone or in a batch of any size).
func TestSgemmPackedRowsIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const n, k = 300, 777
	w := randSlice(r, n*k)
	pb := Pack(true, k, n, w, k)
	for _, m := range []int{1, 2, 3, 5, 14, 15, 33, 64, 100} {
		a := randSlice(r, m*k)
		c := make([]float32, m*n)
		SgemmPacked(m, 1, a, k, pb, 0, c, n)
		for _, i := range []int{0, m / 2, m - 1} {
			alone := make([]float32, n)
			SgemmPacked(1, 1, a[i*k:(i+1)*k], k, pb, 0, alone, n)
			for j, v := range alone {
				if math.Float32bits(v) != math.Float32bits(c[i*n+j]) {
					t.Fatalf("m=%d: C[%d][%d] = %v among %d rows, %v alone", m, i, j, c[i*n+j], m, v)
				}
			}
		}
	}
}

func TestPackPanicsOnBadSizes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Pack of a too-short B did not panic")
		}
	}()
	Pack(true, 10, 10, make([]float32, 99), 10)
}

// BenchmarkDecodeProducts compares a decode step's weight products (y =
// x·Wᵀ for a batch of m rows, llama-112m's shapes) through Sgemm, which
// takes the unpacked path for few rows, and through a packed W.
func BenchmarkDecodeProducts(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, sh := range []struct{ n, k int }{{256, 768}, {2048, 768}, {768, 2048}, {32000, 768}} {
		w := randSlice(r, sh.n*sh.k)
		pb := Pack(true, sh.k, sh.n, w, sh.k)
		for _, m := range []int{1, 4, 8, 32, 64} {
			a, c := randSlice(r, m*sh.k), make([]float32, m*sh.n)
			flops := 2 * float64(m*sh.n*sh.k)
			b.Run(fmt.Sprintf("n%d_k%d/m%d/sgemm", sh.n, sh.k, m), func(b *testing.B) {
				for b.Loop() {
					Sgemm(false, true, m, sh.n, sh.k, 1, a, sh.k, w, sh.k, 0, c, sh.n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(fmt.Sprintf("n%d_k%d/m%d/packed", sh.n, sh.k, m), func(b *testing.B) {
				for b.Loop() {
					SgemmPacked(m, 1, a, sh.k, pb, 0, c, sh.n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkDecodeProductsStreamed is BenchmarkDecodeProducts with the
// weight read from memory, as a decode step of a model larger than the
// caches reads each of its weights: the products rotate through copies of
// it, 400 MB in all. Reports GB/s of weights read and GFLOP/s.
//
//	go test ./backend/cpu/gemm -run XXX -bench DecodeProductsStreamed -cpu 2
func BenchmarkDecodeProductsStreamed(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, sh := range []struct{ n, k int }{{256, 768}, {768, 768}, {2048, 768}, {768, 2048}, {32000, 768}} {
		for _, m := range []int{1, 32} {
			b.Run(fmt.Sprintf("n%d_k%d/m%d", sh.n, sh.k, m), func(b *testing.B) {
				copies := max(4, 400<<20/(sh.n*sh.k*4))
				pbs := make([]*Packed, copies)
				for i := range pbs {
					pbs[i] = Pack(true, sh.k, sh.n, randSlice(r, sh.n*sh.k), sh.k)
					pbs[i].SetStreamed(true) // as the CPU backend marks a large model's weights
				}
				a, c := randSlice(r, m*sh.k), make([]float32, m*sh.n)
				i := 0
				for b.Loop() {
					SgemmPacked(m, 1, a, sh.k, pbs[i%copies], 0, c, sh.n)
					i++
				}
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(sh.n*sh.k*4)*float64(b.N)/sec/1e9, "GB/s")
				b.ReportMetric(2*float64(m*sh.n*sh.k)*float64(b.N)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkPack measures packing a weight (llama-112m's lm_head, 98 MB).
func BenchmarkPack(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n, k = 32000, 768
	w := randSlice(r, n*k)
	for b.Loop() {
		Pack(true, k, n, w, k)
	}
	b.ReportMetric(float64(4*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// nextPanel names the panel an item reads after its range in a block: the
// next block's first in the same k slice, else its own first column's in
// the next slice, else none (slices of 7, 7 and 6 rows; blocks of three
// panels).
func TestNextPanel(t *testing.T) {
	im := *current
	im.kc, im.nc = 7, 3*im.nr
	nr, k := im.nr, 20
	r := rand.New(rand.NewPCG(1, 1))
	pb := pack(&im, false, k, 5*nr, randSlice(r, k*5*nr), 5*nr)
	const slices = 3
	step := im.kcStep(k)
	for _, c := range []struct {
		name                  string
		j0, j1, jc, s         int
		block, offset, length int // want pb.blocks[block][offset:][:length]; length 0: nil
	}{
		{"next block, same slice", 0, 5 * nr, 0, 0, 1*slices + 0, 0, nr * 7},
		{"last block: the first column's next slice", 0, 5 * nr, im.nc, 0, 0*slices + 1, 0, nr * 7},
		{"inside a block: the item's first column, shorter last slice", nr, 2 * nr, 0, 1, 0*slices + 2, nr * 6, nr * 6},
		{"second block's item", 4 * nr, 5 * nr, im.nc, 0, 1*slices + 1, nr * 7, nr * 7},
		{"after the last slice", 0, 5 * nr, im.nc, 2, 0, 0, 0},
	} {
		got := pb.nextPanel(c.j0, c.j1, c.jc, c.s, slices, step, im.nc, nr)
		if c.length == 0 {
			if got != nil {
				t.Errorf("%s: %d values, want none", c.name, len(got))
			}
			continue
		}
		want := pb.blocks[c.block][c.offset:][:c.length]
		if len(got) == 0 {
			t.Errorf("%s: none, want block %d offset %d", c.name, c.block, c.offset)
		} else if len(got) != len(want) || &got[0] != &want[0] {
			t.Errorf("%s: got %d values at %p, want %d at %p (block %d offset %d)", c.name, len(got), &got[0], len(want), &want[0], c.block, c.offset)
		}
	}
}

// Few-row products on packed weights are split between the cores from the
// small path's bound, or from minSplitWeight when the weight is streamed
// from memory; never a small weight's few rows.
func TestPackedThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, c := range []struct {
		m, n, k  int
		streamed bool
		want     int
	}{
		{1, 256, 768, false, 1},  // 768 KiB, 393K FLOPs, in cache
		{1, 256, 768, true, 4},   // the same from memory
		{1, 128, 768, true, 1},   // 384 KiB: below minSplitWeight
		{2, 256, 768, false, 4},  // 786K FLOPs ≥ minParallelSmall
		{1, 512, 256, false, 1},  // 512 KiB in cache
		{65, 64, 64, true, 1},    // many rows, little work: the blocked bound
		{128, 128, 256, true, 4}, // 8M FLOPs ≥ minParallelFlops
	} {
		if got := packedThreads(c.m, c.n, c.k, c.streamed); got != c.want {
			t.Errorf("packedThreads(%d, %d, %d, streamed %v) = %d, want %d", c.m, c.n, c.k, c.streamed, got, c.want)
		}
	}
}

// An impl's streaming variant reads the panels its impl packed: the same
// tile and block sizes.
func TestStreamImplGeometry(t *testing.T) {
	for _, im := range impls {
		st := im.stream
		if st == nil {
			continue
		}
		if st.mr != im.mr || st.nr != im.nr || st.mc != im.mc || st.kc != im.kc || st.nc != im.nc || st.kern == nil || st.kernA == nil || len(st.rows) != len(im.rows) {
			t.Errorf("%s: stream variant %s has other sizes or kernels: %+v", im.name, st.name, st)
		}
		for i, r := range st.rows {
			if r.mr != im.rows[i].mr {
				t.Errorf("%s: stream row kernel %d covers %d rows, want %d", im.name, i, r.mr, im.rows[i].mr)
			}
		}
	}
}
