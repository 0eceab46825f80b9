// Package gemm is the CPU single-precision matrix multiply used by the CPU
// backend. It follows the Goto/BLIS scheme: op(A) and op(B) are copied into
// contiguous, cache-sized panels (which also absorbs the four transpose
// combinations), and a register-tiled micro-kernel written in Go assembly
// (AVX-512 or AVX2+FMA, chosen at run time) does the arithmetic. A pure-Go
// kernel serves every other CPU and architecture.
//
// The kernel can be forced with the environment variable R1_GEMM
// (generic, avx2 or avx512) or with SetImpl.
package gemm

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// kernelFunc computes one full mr×nr tile: c = a·b + beta·c, where a is a
// packed k×mr panel, b a packed k×nr panel and c is row-major with stride
// ldc. beta == +0 overwrites c without reading it.
type kernelFunc func(k int, a, b, c []float32, ldc int, beta float32)

// impl is one micro-kernel with the blocking sizes tuned for it.
type impl struct {
	name       string
	mr, nr     int
	mc, kc, nc int // cache blocks: mc rows of A (L2), kc depth, nc columns of B (L3)
	kern       kernelFunc
}

// impls lists the kernels usable on this CPU, best first; the generic one is
// always last. It is a variable initialiser (not an init func) so that it is
// complete before init below picks the default.
var impls = append(archImpls(), genericImpl)

var genericImpl = &impl{name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 2048, kern: kernelGeneric}

var (
	implMu  sync.RWMutex
	current *impl
)

func init() {
	current = impls[0]
	if name := os.Getenv("R1_GEMM"); name != "" {
		if err := SetImpl(name); err != nil {
			// A bad value must not stop the program; the fastest kernel is
			// still correct, so say so on stderr and carry on.
			fmt.Fprintf(os.Stderr, "gemm: R1_GEMM: %v; using %s\n", err, current.name)
		}
	}
}

// Impls returns the names of the kernels this CPU can run, fastest first.
func Impls() []string {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	return names
}

// Impl returns the name of the kernel Sgemm uses now.
func Impl() string {
	implMu.RLock()
	defer implMu.RUnlock()
	return current.name
}

// SetImpl selects the kernel by name ("generic", "avx2", "avx512"). It fails
// if the name is unknown or the CPU lacks the instructions it needs.
func SetImpl(name string) error {
	for _, im := range impls {
		if im.name == name {
			implMu.Lock()
			current = im
			implMu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("kernel %q is not available on this CPU (want one of %v)", name, Impls())
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where op(X) is X or X^T.
// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides (elements). beta==0 means C is overwritten (NaNs in C ignored).
//
// Inconsistent sizes (negative dimensions, strides narrower than a row,
// slices too short) are programming errors and panic with a message naming
// the argument; use Check to validate sizes that come from outside.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := Check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	implMu.RLock()
	im := current
	implMu.RUnlock()
	sgemm(im, runtime.GOMAXPROCS(0), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Check reports whether the arguments of an Sgemm call are consistent: it
// returns an error naming the first bad argument, or nil.
func Check(transA, transB bool, m, n, k int, lenA, lda, lenB, ldb, lenC, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("gemm: negative dimension m=%d n=%d k=%d", m, n, k)
	}
	// Rows and columns of A and B as stored, which transposition swaps.
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if err := checkMat("A", ar, ac, lenA, lda); err != nil {
		return err
	}
	if err := checkMat("B", br, bc, lenB, ldb); err != nil {
		return err
	}
	return checkMat("C", m, n, lenC, ldc)
}

func checkMat(name string, rows, cols, n, ld int) error {
	if ld < max(cols, 1) {
		return fmt.Errorf("gemm: ld%s=%d, want >= %d (columns of %s as stored)", lower(name), ld, max(cols, 1), name)
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if need := (rows-1)*ld + cols; n < need {
		return fmt.Errorf("gemm: len(%s)=%d, want >= %d for %d×%d with stride %d", lower(name), n, need, rows, cols, ld)
	}
	return nil
}

func lower(s string) string { return string(rune(s[0]) + 'a' - 'A') }

// minParallelFlops is the work below which starting goroutines costs more
// than a second core saves.
const minParallelFlops = 2 * 64 * 64 * 64

// sgemm is Sgemm with the kernel and thread count given, so tests can drive
// every path and odd thread counts.
func sgemm(im *impl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta == 0 {
		beta = 0 // normalise -0: kernels test the bit pattern for "overwrite"
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if threads < 1 || 2*m*n*k < minParallelFlops {
		threads = 1
	}
	p := problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	p.run(im, threads)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// buffers are packing space, pooled so that steady-state calls do not
// allocate. One holds the shared packed block of B for a call; each worker
// takes another for its block of A and an edge-tile scratch.
type buffers struct {
	a, b, tmp []float32
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// parallel runs f(0..threads-1) concurrently, f(0) on the calling goroutine.
func parallel(threads int, f func(t int)) {
	if threads == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for t := 1; t < threads; t++ {
		go func() {
			defer wg.Done()
			f(t)
		}()
	}
	f(0)
	wg.Wait()
}

// problem holds the operands of one call.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

// run is the blocked product. For each nc-wide, kc-deep block of op(B),
// the workers first pack it together into one shared buffer, then take
// (mc-row block of A × range of B panels) items from a counter, pack their
// own block of A and sweep the micro-kernel over it. Handing out items
// dynamically keeps both cores busy when one is slowed by other work, and
// packing B once (not once per worker) saves memory traffic.
func (p *problem) run(im *impl, threads int) {
	mr, nr := im.mr, im.nr
	shared := bufPool.Get().(*buffers)
	defer bufPool.Put(shared)
	ncMax := min(im.nc, ceilDiv(p.n, nr)*nr)
	kcMax := min(im.kc, p.k)
	shared.b = grow(shared.b, ncMax*kcMax)
	mcMax := min(im.mc, ceilDiv(p.m, mr)*mr)
	icBlocks := ceilDiv(p.m, im.mc)
	for jc := 0; jc < p.n; jc += im.nc {
		nc := min(im.nc, p.n-jc)
		panels := ceilDiv(nc, nr)
		// With few row blocks, split the columns too so every worker has
		// work; each extra split repacks a block of A, which is cheap next
		// to the products over a range of panels.
		chunks := 1
		if icBlocks < 2*threads {
			chunks = min(panels, ceilDiv(2*threads, icBlocks))
		}
		items := icBlocks * chunks
		for pc := 0; pc < p.k; pc += im.kc {
			kc := min(im.kc, p.k-pc)
			bBlock := shared.b[:panels*nr*kc]
			packers := min(threads, panels)
			parallel(packers, func(t int) {
				p.packB(bBlock, pc, kc, jc, nc, nr, t*panels/packers, (t+1)*panels/packers)
			})
			// Only the first slice of k applies beta; later ones add to
			// what the first wrote.
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			var next atomic.Int64
			parallel(min(threads, items), func(int) {
				buf := bufPool.Get().(*buffers)
				defer bufPool.Put(buf)
				buf.a = grow(buf.a, mcMax*kc)
				buf.tmp = grow(buf.tmp, mr*nr)
				packed := -1
				for {
					it := int(next.Add(1)) - 1
					if it >= items {
						return
					}
					icb, ch := it/chunks, it%chunks
					ic := icb * im.mc
					mc := min(im.mc, p.m-ic)
					if icb != packed {
						p.packA(buf.a, ic, mc, pc, kc, mr)
						packed = icb
					}
					jr0 := ch * panels / chunks * nr
					jr1 := min((ch+1)*panels/chunks*nr, nc)
					p.macro(im, buf, bBlock, ic, mc, jc, jr0, jr1, kc, beta)
				}
			})
		}
	}
}

// macro multiplies the packed block of A (rows ic..ic+mc) by the packed B
// panels covering columns jc+jr0..jc+jr1 into C.
func (p *problem) macro(im *impl, buf *buffers, bBlock []float32, ic, mc, jc, jr0, jr1, kc int, beta float32) {
	mr, nr := im.mr, im.nr
	for jr := jr0; jr < jr1; jr += nr {
		nrr := min(nr, jr1-jr)
		bp := bBlock[jr*kc : (jr+nr)*kc]
		for ir := 0; ir < mc; ir += mr {
			mrr := min(mr, mc-ir)
			ap := buf.a[ir*kc : (ir+mr)*kc]
			ci := (ic+ir)*p.ldc + jc + jr
			if mrr == mr && nrr == nr {
				im.kern(kc, ap, bp, p.c[ci:ci+(mr-1)*p.ldc+nr], p.ldc, beta)
				continue
			}
			// Edge tile: compute a whole tile into scratch (the panels
			// are zero-padded) and copy out the part that exists.
			im.kern(kc, ap, bp, buf.tmp, nr, 0)
			for r := 0; r < mrr; r++ {
				dst := p.c[ci+r*p.ldc : ci+r*p.ldc+nrr]
				src := buf.tmp[r*nr : r*nr+nrr]
				switch beta {
				case 0:
					copy(dst, src)
				case 1:
					for j, v := range src {
						dst[j] += v
					}
				default:
					for j, v := range src {
						dst[j] = beta*dst[j] + v
					}
				}
			}
		}
	}
}

// packA copies alpha·op(A)[ic:ic+mc, pc:pc+kc] into dst as consecutive
// kc×mr panels (mr values per k step), zero-padding the last panel's rows.
// Folding alpha in here costs nothing extra and keeps it out of the kernel.
func (p *problem) packA(dst []float32, ic, mc, pc, kc, mr int) {
	alpha := p.alpha
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		if rows < mr {
			clear(panel)
		}
		for r := 0; r < rows; r++ {
			i := ic + ir + r
			if !p.transA {
				src := p.a[i*p.lda+pc : i*p.lda+pc+kc]
				for q, v := range src {
					panel[q*mr+r] = alpha * v
				}
			} else {
				// op(A)[i][q] = A[q][i]: walk down column i.
				off := pc*p.lda + i
				for q := 0; q < kc; q++ {
					panel[q*mr+r] = alpha * p.a[off]
					off += p.lda
				}
			}
		}
	}
}

// packB copies panels [lo,hi) of op(B)[pc:pc+kc, jc:jc+nc] into dst as
// consecutive kc×nr panels (nr values per k step), zero-padding the last
// panel's columns.
func (p *problem) packB(dst []float32, pc, kc, jc, nc, nr, lo, hi int) {
	for jr := lo * nr; jr < min(hi*nr, nc); jr += nr {
		panel := dst[jr*kc : (jr+nr)*kc]
		cols := min(nr, nc-jr)
		j := jc + jr
		if !p.transB {
			for q := 0; q < kc; q++ {
				row := p.b[(pc+q)*p.ldb+j : (pc+q)*p.ldb+j+cols]
				out := panel[q*nr : q*nr+nr]
				copy(out, row)
				if cols < nr {
					clear(out[cols:])
				}
			}
			continue
		}
		if cols < nr {
			clear(panel)
		}
		// op(B)[q][j] = B[j][q]: each stored row of B is a column here.
		for cc := 0; cc < cols; cc++ {
			src := p.b[(j+cc)*p.ldb+pc : (j+cc)*p.ldb+pc+kc]
			for q, v := range src {
				panel[q*nr+cc] = v
			}
		}
	}
}
