// Package gemm is the CPU single-precision matrix multiply used by the CPU
// backend. It follows the Goto/BLIS scheme: op(A) and op(B) are copied into
// contiguous, cache-sized panels (which also absorbs the four transpose
// combinations), and a register-tiled micro-kernel written in Go assembly
// (AVX-512 14×32 or AVX2+FMA 6×16 on amd64, chosen at run time; NEON 8×12
// on arm64) does the arithmetic. A pure-Go kernel serves every other CPU
// and architecture. Products with only a few rows or columns (decoding,
// scalar heads) skip packing and run as dot products or row updates instead
// (small.go). On amd64, with alpha 1, the blocked path packs only op(B) and
// the micro-kernel reads op(A)'s full tiles where they lie (stridedKernel;
// the same bits): for a small model's narrow products packing A cost up to
// a third of the kernel's time. Work is spread over GOMAXPROCS goroutines.
//
// The kernel can be forced with the environment variable R1_GEMM
// (generic, avx2, avx512 or neon, as the CPU allows; an unknown value is
// reported on stderr and ignored), by R1_SIMD when R1_GEMM is unset (the
// level every vector kernel of the backend is capped to), or with SetImpl.
package gemm

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/r1go/r1/internal/par"
)

// kernelFunc computes one full mr×nr tile: c = a·b + beta·c, where a is a
// packed k×mr panel, b a packed k×nr panel and c is row-major with stride
// ldc. beta == +0 overwrites c without reading it. pf is a hint: kernels
// that can prefetch fetch k cache lines from its start (the B data needed
// next) while they compute; nil or short is fine (prefetches never fault).
type kernelFunc func(k int, a, b, c []float32, ldc int, beta float32, pf []float32)

// stridedKernel is a kernelFunc that reads an mr-row tile of op(A) in place
// instead of from a packed panel: row i at a[i*lda:] (op(A) = A) or k step q
// at a[q*lda:] (op(A) = Aᵀ). Each element of C is the same chain of FMAs as
// the packed kernel's, so the two give the same bits.
type stridedKernel func(k int, a []float32, lda int, b, c []float32, ldc int, beta float32, pf []float32)

// impl is one micro-kernel with the blocking sizes tuned for it.
type impl struct {
	name       string
	mr, nr     int
	mc, kc, nc int // cache blocks: mc rows of A (L2), kc depth, nc columns of B (L3)
	kern       kernelFunc
	// kernA and kernAT, when set, are kern reading op(A) in place (op(A) =
	// A and Aᵀ): the blocked path then packs only a block's last, partial
	// tile of A. Packing copies every element of A once per block of B
	// columns, which in a small model's layers (N = 128–704: A serves a
	// handful of B panels) cost up to a third of the kernel's own time.
	kernA, kernAT stridedKernel
	// rows are the same kernel for tiles of fewer rows (ascending heights,
	// reading the same packed A panels), used for a product's last rows;
	// without them those rows run the full kernel on zero padding.
	rows   []rowKernel
	dot4   dot4Func   // unpacked kernels for few-row products (small.go)
	dot4x4 dot4x4Func // optional
	axpy   axpyFunc
	// transpose8, if set, does the transposing copies of packing eight rows
	// at a time: dst[q*stride+r] = alpha·src[r*ld+q], r < 8, q < n (n%8 == 0).
	transpose8 func(n int, src []float32, ld int, dst []float32, stride int, alpha float32)
	// stream, when set, is this impl for products on a streamed packed
	// weight (Packed.SetStreamed): the same tiles, blocks and rounding, its
	// kernels prefetching the next panel of B as they compute (the AVX2
	// kernel's do not: B in cache only loses the load slots). No Aᵀ
	// kernel: those products read A by rows.
	stream *impl
}

// rowKernel is a micro-kernel for the first mr rows of a tile.
type rowKernel struct {
	mr   int
	kern kernelFunc
}

// rowsKernel returns the kernel for the last rows of a product (rows < mr):
// the lowest tile height that covers them, or the full kernel.
func (im *impl) rowsKernel(rows int) (kernelFunc, int) {
	for _, rk := range im.rows {
		if rk.mr >= rows {
			return rk.kern, rk.mr
		}
	}
	return im.kern, im.mr
}

// impls lists the kernels usable on this CPU, best first; the generic one is
// always last. It is a variable initialiser (not an init func) so that it is
// complete before init below picks the default.
var impls = append(archImpls(), genericImpl)

var genericImpl = &impl{name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 2048,
	kern: func(k int, a, b, c []float32, ldc int, beta float32, _ []float32) {
		kernelGeneric(k, a, b, c, ldc, beta)
	}, dot4: dot4Generic, axpy: axpyGeneric}

var (
	implMu  sync.RWMutex
	current *impl
)

func init() {
	variable := "R1_GEMM"
	if os.Getenv(variable) == "" {
		// R1_SIMD caps every vector kernel of the CPU backend.
		variable = "R1_SIMD"
	}
	im, err := fromEnv(variable, os.Getenv(variable))
	if err != nil {
		// A bad value must not stop the program: every kernel computes
		// the same product, so say so on stderr and use the fastest.
		fmt.Fprintf(os.Stderr, "gemm: %v; using %s\n", err, im.name)
	}
	current = im
}

// fromEnv returns the kernel named by value (of the environment variable
// named variable), or the fastest one (and an error if the value names no
// usable kernel).
func fromEnv(variable, value string) (*impl, error) {
	if value == "" {
		return impls[0], nil
	}
	for _, im := range impls {
		if im.name == value {
			return im, nil
		}
	}
	return impls[0], fmt.Errorf("%s=%q: kernel not available on this CPU (want one of %v)", variable, value, Impls())
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

// SetImpl selects the kernel by name ("generic", "avx2", "avx512", "neon").
// It fails if the name is unknown or the CPU lacks the instructions it needs.
func SetImpl(name string) error {
	for _, im := range impls {
		if im.name == name {
			implMu.Lock()
			current = im
			implMu.Unlock()
			return nil
		}
	}
	return fmt.Errorf("gemm: kernel %q is not available on this CPU (want one of %v)", name, Impls())
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where op(X) is X or X^T.
// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides (elements). beta==0 means C is overwritten (NaNs in C ignored).
//
// C must not overlap A or B. Inconsistent sizes (negative dimensions,
// strides narrower than a row, slices too short) are programming errors and
// panic with a message naming the argument; use Check to validate sizes
// that come from outside.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := Check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	implMu.RLock()
	im := current
	implMu.RUnlock()
	sgemm(im, sgemmThreads(im, runtime.GOMAXPROCS(0), transA, transB, m, n, k), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmSerial is Sgemm on the calling goroutine only, for callers that
// already run independent products in parallel (attention heads, batch
// items) and would otherwise have every product split over all cores again.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := Check(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc); err != nil {
		panic(err)
	}
	implMu.RLock()
	im := current
	implMu.RUnlock()
	sgemm(im, 1, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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

// inPlaceA lets the blocked path read A in place (tests turn it off to
// compare the two).
var inPlaceA = true

// readsAInPlace reports whether the blocked path's full tiles of an n-column
// product read op(A) in place: the kernel has the variant, alpha is 1
// (packing folds alpha into A; in place, A is read as it is), and few
// enough panels of B reuse each tile that packing it would not pay back.
// A packed tile is one contiguous stream; in place it is mr rows (op(A) =
// A) or, for Aᵀ, a piece of another row of A every k step, a line or two of
// L1 per step. Measured single-core (BenchmarkSgemmTiny and the llama-7m
// and llama-112m shapes, AVX-512 and AVX2): rows gained 5–57% up to n = 768
// and lost 3% at 1024³ (AVX-512); columns gained 10–45% at n = 128 and lost
// up to 10% at n = 256.
func (im *impl) readsAInPlace(transA bool, alpha float32, n int) bool {
	widest := inPlaceCols
	if transA {
		widest = inPlaceATCols
	}
	return im.canReadAInPlace(transA, alpha) && n <= widest
}

// canReadAInPlace reports whether the kernel has a variant reading op(A) in
// place and alpha allows it (packing folds alpha into A; in place, A is
// read as it is), whatever the product's width.
func (im *impl) canReadAInPlace(transA bool, alpha float32) bool {
	k := im.kernA
	if transA {
		k = im.kernAT
	}
	return inPlaceA && alpha == 1 && k != nil
}

// inPlaceCols and inPlaceATCols are the widest products whose op(A) = A,
// and Aᵀ, is read in place.
const (
	inPlaceCols   = 768
	inPlaceATCols = 128
)

// minParallelFlops is the work below which waking goroutines (microseconds,
// more on a busy machine) costs more than a second core saves: about 40 µs
// of one core's arithmetic. 64³ ran slower on two cores than on one.
const minParallelFlops = 1 << 22

// minParallelSmall is the same bound for the unpacked path (few rows: a
// decode step's matrix-vector products), which is memory-bound: its time is
// reading op(B), so a product worth splitting is far smaller in FLOPs. 1/8
// of minParallelFlops (a 256×1024 weight, 1 MiB, tens of µs to stream on
// one core) puts the per-layer products of batch-1 decode on both cores.
const minParallelSmall = minParallelFlops >> 3

// sgemmThreads is how many of max goroutines Sgemm uses for a product: one
// below the bound of its path. Splitting never changes a result (each
// element of C is computed whole by one goroutine), only the time.
func sgemmThreads(im *impl, max int, transA, transB bool, m, n, k int) int {
	flops := 2 * m * n * k
	wide := im.dot4x4 != nil
	if flops >= minParallelFlops || (flops >= minParallelSmall && (isSmall(m, n, k, transB, wide) || isSmall(n, m, k, !transA, wide))) {
		return max
	}
	return 1
}

// sgemm is Sgemm with the kernel and the number of goroutines given (used
// as is, however small the product), so tests can drive every path and odd
// thread counts.
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
	threads = max(threads, 1)
	p := problem{transpose8: im.transpose8, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
		touch: 4*(m*k+k*n) >= touchMinBytes}
	wide := im.dot4x4 != nil
	if isSmall(m, n, k, transB, wide) {
		p.runSmall(im, threads)
		return
	}
	if isSmall(n, m, k, !transA, wide) {
		t := p.transposed()
		t.runSmall(im, threads)
		return
	}
	p.run(im, threads)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// kcStep is the depth of the slices of k the blocked path works on: equal
// slices of at most about kc, rounded to multiples of eight for the
// transposing copies, rather than kc, kc, …, remainder. It depends on k
// alone, so every row of C sums its products in the same order whatever m.
func (im *impl) kcStep(k int) int {
	step := ceilDiv(k, ceilDiv(k, im.kc))
	if im.kc >= 64 {
		step = ceilDiv(step, 8) * 8
	}
	return step
}

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
// allocate. A call takes one from bPool for its shared packed block of B,
// and each worker one from aPool for its block of A and an edge-tile
// scratch; two pools, so that a worker never gets a buffer whose capacity
// went into the other role and has to allocate again.
type buffers struct {
	a, b, tmp []float32
	aBlock    int // the row block whose A is packed in a (eachItem sets −1)
}

// eachItem runs f on items 0..n−1 with up to threads workers, each taking
// the next item when done (so a worker slowed by other work takes fewer),
// with a pooled buffer holding at least aLen floats of packed A and tmpLen
// of edge-tile scratch.
func eachItem(threads, n, aLen, tmpLen int, f func(buf *buffers, it int)) {
	var next atomic.Int64
	parallel(min(threads, n), func(int) {
		buf := aPool.Get().(*buffers)
		defer aPool.Put(buf)
		buf.a, buf.tmp, buf.aBlock = grow(buf.a, aLen), grow(buf.tmp, tmpLen), -1
		for {
			it := int(next.Add(1)) - 1
			if it >= n {
				return
			}
			f(buf, it)
		}
	})
}

var (
	aPool = sync.Pool{New: func() any { return new(buffers) }}
	bPool = sync.Pool{New: func() any { return new(buffers) }}
)

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// parallel runs f(0..threads-1) concurrently (internal/par: the caller
// and the persistent workers take the parts in turn).
func parallel(threads int, f func(t int)) { par.Do(threads, f) }

// problem holds the operands of one call.
type problem struct {
	transpose8     func(n int, src []float32, ld int, dst []float32, stride int, alpha float32)
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	ldcCol         int // column stride of C if not 1; only the small path sets it
	// inPlace: the blocked path's full tiles read op(A) where it lies
	// (stridedKernel); only a row block's last partial tile is packed.
	inPlace bool
	// touch: packing reads each block ahead once (touch), for operands
	// large enough to come from memory (touchMinBytes).
	touch bool
}

// touchMinBytes is the size of op(A) and op(B) together from which the
// packing loops touch a block before copying it. Smaller operands — one
// attention head's queries and keys, written by the op before — are in
// cache, where the touching pass was all cost: 3% of r1 zero's CPU time.
const touchMinBytes = 512 << 10

// run is the blocked product. For each nc-wide, kc-deep block of op(B),
// the workers first pack it together into one shared buffer, then take
// (mc-row block of A × range of B panels) items from a counter, pack their
// own block of A and sweep the micro-kernel over it. Handing out items
// dynamically keeps both cores busy when one is slowed by other work, and
// packing B once (not once per worker) saves memory traffic.
func (p *problem) run(im *impl, threads int) {
	mr, nr := im.mr, im.nr
	kcStep := im.kcStep(p.k)
	kcMax := min(kcStep, p.k)
	icBlocks, blockRows, mcMax := p.rowBlocks(im, threads)
	p.inPlace = im.readsAInPlace(p.transA, p.alpha, p.n)
	ncMax := min(im.nc, ceilDiv(p.n, nr)*nr)
	shared := bPool.Get().(*buffers)
	defer bPool.Put(shared)
	shared.b = grow(shared.b, ncMax*kcMax)
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
		for pc := 0; pc < p.k; pc += kcStep {
			kc := min(kcStep, p.k-pc)
			bBlock := shared.b[:panels*nr*kc]
			p.packBBlock(bBlock, pc, kc, jc, nc, nr, threads)
			// Only the first slice of k applies beta; later ones add to
			// what the first wrote.
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			eachItem(threads, items, mcMax*kc, mr*nr, func(buf *buffers, it int) {
				icb, ch := it/chunks, it%chunks
				ic, icEnd := blockRows(icb)
				if icb != buf.aBlock {
					p.packBlockA(buf.a, ic, icEnd-ic, pc, kc, mr)
					buf.aBlock = icb
				}
				jr0 := ch * panels / chunks * nr
				jr1 := min((ch+1)*panels/chunks*nr, nc)
				p.macro(im, buf.a, buf.tmp, bBlock, nil, ic, icEnd-ic, pc, jc, jr0, jr1, kc, beta)
			})
		}
	}
}

// rowBlocks cuts m into row blocks of whole tiles, as many as mc asks for
// but a multiple of the worker count and near-equal, so that no worker is
// left alone with the last block: their number, the rows of block b, and
// the most rows in a block.
func (p *problem) rowBlocks(im *impl, threads int) (int, func(b int) (lo, hi int), int) {
	mr := im.mr
	mt := ceilDiv(p.m, mr)
	icBlocks := ceilDiv(p.m, im.mc)
	if threads > 1 {
		icBlocks = min(ceilDiv(icBlocks, threads)*threads, mt)
	}
	blockRows := func(b int) (lo, hi int) {
		return b * mt / icBlocks * mr, min((b+1)*mt/icBlocks*mr, p.m)
	}
	return icBlocks, blockRows, ceilDiv(mt, icBlocks) * mr
}

// macro multiplies the packed block of A (rows ic..ic+mc, in a) by the
// packed B panels covering columns jc+jr0..jc+jr1 into C; tmp is scratch
// for one mr×nr edge tile.
func (p *problem) macro(im *impl, a, tmp, bBlock, after []float32, ic, mc, pc, jc, jr0, jr1, kc int, beta float32) {
	mr, nr := im.mr, im.nr
	for jr := jr0; jr < jr1; jr += nr {
		nrr := min(nr, jr1-jr)
		bp := bBlock[jr*kc : (jr+nr)*kc]
		// While this panel's tiles compute, the next panel streams in, a
		// line per k step: a packed B that is not in cache (a decode
		// step's weights) arrives steadily instead of stalling the first
		// tile of every panel.
		next := after // the panel the caller reads after this range, if any
		if jr+nr < jr1 {
			next = bBlock[(jr+nr)*kc : min((jr+2*nr)*kc, len(bBlock))]
		}
		for ir, t := 0, 0; ir < mc; ir, t = ir+mr, t+1 {
			mrr := min(mr, mc-ir)
			ci := (ic+ir)*p.ldc + jc + jr
			pf := bp
			if off := t * kc * 16; off < len(next) {
				pf = next[off:]
			}
			if p.inPlace && mrr == mr { // a full tile of A, read in place
				var kern stridedKernel
				var aq []float32
				if p.transA {
					kern, aq = im.kernAT, p.a[pc*p.lda+ic+ir:]
				} else {
					kern, aq = im.kernA, p.a[(ic+ir)*p.lda+pc:]
				}
				if nrr == nr {
					kern(kc, aq, p.lda, bp, p.c[ci:ci+(mr-1)*p.ldc+nr], p.ldc, beta, pf)
					continue
				}
				kern(kc, aq, p.lda, bp, tmp, nr, 0, pf) // edge columns: see below
			} else {
				ap := a[ir*kc : (ir+mr)*kc]
				kern, h := im.kern, mr
				if mrr < mr {
					kern, h = im.rowsKernel(mrr)
				}
				if mrr == h && nrr == nr {
					kern(kc, ap, bp, p.c[ci:ci+(h-1)*p.ldc+nr], p.ldc, beta, pf)
					continue
				}
				// Edge tile: compute a whole tile into scratch (the
				// panels are zero-padded) and copy out the part that
				// exists.
				kern(kc, ap, bp, tmp, nr, 0, pf)
			}
			for r := 0; r < mrr; r++ {
				dst := p.c[ci+r*p.ldc : ci+r*p.ldc+nrr]
				src := tmp[r*nr : r*nr+nrr]
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

// packBlockA packs what macro reads of a row block's A from dst: all of it
// (packA), or with p.inPlace only its last, partial tile, at that tile's
// place in dst.
func (p *problem) packBlockA(dst []float32, ic, mc, pc, kc, mr int) {
	full := 0
	if p.inPlace {
		full = mc / mr * mr
	}
	if full < mc {
		p.packA(dst[full*kc:], ic+full, mc-full, pc, kc, mr)
	}
}

// packA copies alpha·op(A)[ic:ic+mc, pc:pc+kc] into dst as consecutive
// kc×mr panels (mr values per k step), zero-padding the last panel's rows.
// Folding alpha in here costs nothing extra and keeps it out of the kernel.
func (p *problem) packA(dst []float32, ic, mc, pc, kc, mr int) {
	alpha := p.alpha
	if p.transA {
		p.packAT(dst, ic, mc, pc, kc, mr)
		return
	}
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : (ir+mr)*kc]
		rows := min(mr, mc-ir)
		if rows < mr {
			clear(panel)
		}
		off := (ic+ir)*p.lda + pc
		p.touchBlock(p.a, off, p.lda, rows, kc)
		if t8 := p.transpose8; t8 != nil && rows >= 8 && kc >= 8 {
			transposeRows(t8, p.a[off:], p.lda, rows, kc, panel, mr, alpha)
			continue
		}
		for r := 0; r < rows; r++ {
			src := p.a[off+r*p.lda : off+r*p.lda+kc]
			for q, v := range src {
				panel[q*mr+r] = alpha * v
			}
		}
	}
}

// packAT is packA for op(A) = Aᵀ: op(A)[i][q] = A[q][i], so each k step of
// a panel is a contiguous piece of a row of A. The block is read row by row
// (each row's mc values once, in order, scattered over the panels), not
// panel by panel, which would read every row once per panel in short
// strided pieces.
func (p *problem) packAT(dst []float32, ic, mc, pc, kc, mr int) {
	alpha := p.alpha
	// Independent loads first (many misses in flight), then the copies.
	p.touchBlock(p.a, pc*p.lda+ic, p.lda, kc, mc)
	full := mc / mr // panels of mr rows; then one partial panel, zero-padded
	if rows := mc - full*mr; rows > 0 {
		clear(dst[full*mr*kc : (full+1)*mr*kc])
	}
	for q := 0; q < kc; q++ {
		src := p.a[(pc+q)*p.lda+ic : (pc+q)*p.lda+ic+mc]
		out := dst[q*mr:]
		switch {
		case alpha == 1 && mr == 14:
			for pi := 0; pi < full; pi++ {
				// Through a local copy: assigned directly, the
				// compiler calls memmove (the arrays might overlap).
				v := *(*[14]float32)(src[pi*14:])
				*(*[14]float32)(out[pi*mr*kc:]) = v
			}
		case alpha == 1 && mr == 6:
			for pi := 0; pi < full; pi++ {
				v := *(*[6]float32)(src[pi*6:])
				*(*[6]float32)(out[pi*mr*kc:]) = v
			}
		default:
			for pi := 0; pi < full; pi++ {
				o := out[pi*mr*kc : pi*mr*kc+mr]
				for r, v := range src[pi*mr : pi*mr+mr] {
					o[r] = alpha * v
				}
			}
		}
		if rest := src[full*mr:]; len(rest) > 0 {
			o := out[full*mr*kc:]
			for r, v := range rest {
				o[r] = alpha * v
			}
		}
	}
}

// packBBlock packs all the panels of op(B)[pc:pc+kc, jc:jc+nc] into dst,
// the panels split between up to threads workers.
func (p *problem) packBBlock(dst []float32, pc, kc, jc, nc, nr, threads int) {
	panels := ceilDiv(nc, nr)
	workers := min(threads, panels)
	parallel(workers, func(t int) {
		p.packB(dst, pc, kc, jc, nc, nr, t*panels/workers, (t+1)*panels/workers)
	})
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
			off := pc*p.ldb + j
			p.touchBlock(p.b, off, p.ldb, kc, cols)
			for q := 0; q < kc; q++ {
				out := panel[q*nr : q*nr+nr]
				copy(out, p.b[off+q*p.ldb:off+q*p.ldb+cols])
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
		off := j*p.ldb + pc
		p.touchBlock(p.b, off, p.ldb, cols, kc)
		if t8 := p.transpose8; t8 != nil && cols >= 8 && kc >= 8 {
			transposeRows(t8, p.b[off:], p.ldb, cols, kc, panel, nr, 1)
			continue
		}
		// Transpose in strips of 16 k steps so that both the source lines
		// and the panel rows being written stay in L1 (a whole panel does
		// not fit there).
		for q0 := 0; q0 < kc; q0 += 16 {
			q1 := min(q0+16, kc)
			for cc := 0; cc < cols; cc++ {
				src := p.b[off+cc*p.ldb+q0 : off+cc*p.ldb+q1]
				for q, v := range src {
					panel[(q0+q)*nr+cc] = v
				}
			}
		}
	}
}

// transposeRows sets dst[q*stride+r] = alpha·src[r*ld+q] for r < rows and
// q < kc (rows, kc >= 8) with t8. Row groups of eight start at 0, 8, … and a
// last group ends at rows, overlapping the one before: the overlapping
// elements are written twice with the same value. The k steps past the last
// multiple of eight are copied in Go.
func transposeRows(t8 func(int, []float32, int, []float32, int, float32), src []float32, ld, rows, kc int, dst []float32, stride int, alpha float32) {
	k8 := kc &^ 7
	for r0 := 0; r0 < rows; r0 += 8 {
		r0 = min(r0, rows-8)
		t8(k8, src[r0*ld:], ld, dst[r0:], stride, alpha)
	}
	for r := 0; r < rows; r++ {
		for q := k8; q < kc; q++ {
			dst[q*stride+r] = alpha * src[r*ld+q]
		}
	}
}

// touchBlock is touch for an operand of p, when p.touch says its
// operands are large enough to come from memory.
func (p *problem) touchBlock(a []float32, off, ld, rows, cols int) {
	if p.touch {
		touch(a, off, ld, rows, cols)
	}
}

// touch reads one value per cache line of the rows×cols block at off (row
// stride ld) before it is packed. The packing loops do a lot of work per
// line, so the CPU's out-of-order window covers only a few lines ahead and
// misses to DRAM are taken nearly one at a time; this loop does almost
// nothing per line, so its misses overlap and the block arrives in cache
// several times faster.
func touch(a []float32, off, ld, rows, cols int) {
	if cols < 1 {
		return
	}
	var s uint32
	for r := 0; r < rows; r++ {
		row := a[off+r*ld : off+r*ld+cols]
		for q := 0; q < len(row); q += 16 {
			s |= math.Float32bits(row[q])
		}
		s |= math.Float32bits(row[len(row)-1])
	}
	// Use the loads so the compiler cannot drop them.
	if s == 1 {
		touchSink.Add(1)
	}
}

var touchSink atomic.Uint32
