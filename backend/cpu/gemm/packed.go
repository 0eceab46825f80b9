package gemm

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// Packed is a right-hand operand op(B) (k×n) stored once in the blocked
// path's panel layout, for products that reuse it many times unchanged: the
// weights of a model while it decodes. SgemmPacked then skips packing B,
// which for a decode step's few rows would cost as much as the product.
//
// Every product through a Packed takes the blocked path, whose rows of C
// are each summed in an order fixed by k alone: row i of C is the same
// bits whatever the other rows and however many there are. Inference relies
// on that so that a sequence's tokens do not depend on the batch it shares.
type Packed struct {
	im       *impl
	k, n     int
	blocks   [][]float32 // (nc-wide column block, kc-deep slice) pairs in run's order
	streamed atomic.Bool // see SetStreamed
}

// SetStreamed says whether each product reads the weight from memory — the
// weights packed together exceed the last-level cache, as every decode step
// of a large model reads all of them — rather than from a cache. Few-row
// products on a streamed weight are split between the cores from a smaller
// size (minSplitWeight): from memory one core reads half of what two do,
// from a cache the split only adds the workers' wake-up.
func (pb *Packed) SetStreamed(streamed bool) { pb.streamed.Store(streamed) }

// Streamed reports SetStreamed's setting (false until set).
func (pb *Packed) Streamed() bool { return pb.streamed.Load() }

// Pack copies op(B) (k×n; B stored n×k when transB) into a Packed for the
// current kernel, using every core. B may change afterwards without
// affecting the copy.
func Pack(transB bool, k, n int, b []float32, ldb int) *Packed {
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if k < 1 || n < 1 {
		panic(fmt.Sprintf("gemm: Pack of a %d×%d matrix", k, n))
	}
	if err := checkMat("B", br, bc, len(b), ldb); err != nil {
		panic(err)
	}
	implMu.RLock()
	im := current
	implMu.RUnlock()
	return pack(im, transB, k, n, b, ldb)
}

func pack(im *impl, transB bool, k, n int, b []float32, ldb int) *Packed {
	p := problem{transpose8: im.transpose8, transB: transB, k: k, n: n, b: b, ldb: ldb, touch: 4*k*n >= touchMinBytes}
	pb := &Packed{im: im, k: k, n: n}
	nr, step := im.nr, im.kcStep(k)
	threads := runtime.GOMAXPROCS(0)
	for jc := 0; jc < n; jc += im.nc {
		nc := min(im.nc, n-jc)
		panels := ceilDiv(nc, nr)
		for pc := 0; pc < k; pc += step {
			kc := min(step, k-pc)
			block := make([]float32, panels*nr*kc)
			p.packBBlock(block, pc, kc, jc, nc, nr, threads)
			pb.blocks = append(pb.blocks, block)
		}
	}
	return pb
}

// SgemmPacked computes C = alpha·A·op(B) + beta·C with op(B) from Pack: A
// is m×k (row stride lda), C m×n (row stride ldc). The result is bit for
// bit Sgemm's on its blocked path (with the kernel Pack used), for any m.
func SgemmPacked(m int, alpha float32, a []float32, lda int, pb *Packed, beta float32, c []float32, ldc int) {
	if err := Check(false, false, m, pb.n, pb.k, len(a), lda, pb.n*pb.k, pb.n, len(c), ldc); err != nil {
		panic(err)
	}
	if m == 0 {
		return
	}
	if beta == 0 {
		beta = 0 // normalise -0, as sgemm does
	}
	if alpha == 0 {
		scaleC(m, pb.n, beta, c, ldc)
		return
	}
	im, streamed := pb.im, pb.Streamed() // read once: kernels, threads and prefetch agree
	if streamed && im.stream != nil {
		im = im.stream
	}
	p := problem{transpose8: im.transpose8, m: m, n: pb.n, k: pb.k, alpha: alpha, a: a, lda: lda, beta: beta, c: c, ldc: ldc, touch: 4*m*pb.k >= touchMinBytes}
	p.runPacked(im, pb, packedThreads(m, pb.n, pb.k, streamed), streamed)
}

// runPacked is run with op(B) from pb. With B already packed there is no
// shared packing step to wait for, so the work is cut once into items —
// (row block, range of panels) — that each worker takes whole, through
// every k slice in order: no barrier per block, and a worker streams its
// panels of B (a decode step's weights, from memory) without pause. Each
// element of C is summed exactly as run sums it.
func (p *problem) runPacked(im *impl, pb *Packed, threads int, streamed bool) {
	mr, nr := im.mr, im.nr
	kcStep := im.kcStep(p.k)
	slices := ceilDiv(p.k, kcStep)
	icBlocks, blockRows, mcMax := p.rowBlocks(im, threads)
	// Full tiles of A are read in place (whatever n: B's panels stream from
	// memory here, and the rows of A stay in cache); packBlockA then packs
	// only a block's last, partial tile.
	p.inPlace = im.canReadAInPlace(false, p.alpha)
	// Few rows (a decode step's): one row block, whose A is packed once
	// for every item. Cutting the rows between the workers would have each
	// of them stream the whole of B from memory, and every item would
	// repack the same A.
	var sharedA []float32 // the packed A of k slice s at s·mcMax·kcStep
	if p.m <= im.mc {
		icBlocks, mcMax = 1, ceilDiv(p.m, mr)*mr
		blockRows = func(int) (int, int) { return 0, p.m }
		shared := bPool.Get().(*buffers)
		defer bPool.Put(shared)
		shared.b = grow(shared.b, slices*mcMax*kcStep)
		sharedA = shared.b
		for s, pc := 0, 0; pc < p.k; s, pc = s+1, pc+kcStep {
			p.packBlockA(sharedA[s*mcMax*kcStep:], 0, p.m, pc, min(kcStep, p.k-pc), mr)
		}
	}
	// Enough items for the workers to even out (each takes the next when
	// done), few enough that the block of A each packs stays amortised.
	panels := ceilDiv(p.n, nr)
	chunks := 1
	if threads > 1 {
		chunks = min(panels, ceilDiv(8*threads, icBlocks))
	}
	items := icBlocks * chunks
	aLen := mcMax * min(kcStep, p.k)
	if sharedA != nil {
		aLen = 0
	}
	eachItem(threads, items, aLen, mr*nr, func(buf *buffers, it int) {
		icb, ch := it/chunks, it%chunks
		ic, icEnd := blockRows(icb)
		j0, j1 := ch*panels/chunks*nr, min((ch+1)*panels/chunks*nr, p.n)
		for s, pc := 0, 0; pc < p.k; s, pc = s+1, pc+kcStep {
			kc := min(kcStep, p.k-pc)
			a := buf.a
			if sharedA != nil {
				a = sharedA[s*mcMax*kcStep:][:mcMax*kc]
			} else {
				p.packBlockA(a, ic, icEnd-ic, pc, kc, mr)
			}
			beta := p.beta // the first slice applies beta, later ones add
			if pc > 0 {
				beta = 1
			}
			// The columns may span several nc-wide blocks of pb.
			for jc := j0 / im.nc * im.nc; jc < j1; jc += im.nc {
				lo, hi := max(j0, jc)-jc, min(j1, jc+im.nc)-jc
				var after []float32
				if streamed {
					after = pb.nextPanel(j0, j1, jc, s, slices, kcStep, im.nc, nr)
				}
				p.macro(im, a, buf.tmp, pb.blocks[jc/im.nc*slices+s], after, ic, icEnd-ic, pc, jc, lo, hi, kc, beta)
			}
		}
	})
}

// minSplitWeight is the weight size (bytes) from which a few-row product
// on a streamed weight (SetStreamed) is split even below minParallelSmall.
// llama-112m's k and v projections at batch 1 (768 KiB each) took 70 µs on
// one core and 44 µs on two, rotating through 400 MB of weights; its
// batch-1 decode went from 51–55 to 57–58 tok/s (3 interleaved runs). The
// same split of llama-7m's 704 KB products, whose 26 MB of weights stay in
// the last-level cache, slowed its batch-1 decode by 2–9% (4 runs).
const minSplitWeight = 512 << 10

// packedThreads splits a product with a packed B between the cores from
// the small path's bound when there are few rows, or whatever its rows when
// its weight is large and read from memory: such a product is a stream over
// B's memory, as a decode step's matrix-vector products are.
func packedThreads(m, n, k int, streamed bool) int {
	flops := 2 * m * n * k
	if flops >= minParallelFlops || (m <= 64 && (flops >= minParallelSmall || streamed && 4*n*k >= minSplitWeight)) {
		return runtime.GOMAXPROCS(0)
	}
	return 1
}

// nextPanel is the panel an item over columns [j0, j1) reads after the
// last one of its range in block (jc, slice s): the first of the next
// block, or else the first of its columns in the next k slice (nil after
// the last). On a streamed weight (SetStreamed) the macro-kernel streams it
// in while the range's last panel computes: an item of one or two panels
// would otherwise stall on every slice's first. A weight in cache gains
// nothing from it (m=1 products lost 2–4%), so it is not fetched there.
func (pb *Packed) nextPanel(j0, j1, jc, s, slices, kcStep, nc, nr int) []float32 {
	var blk []float32
	var lo, kc int
	switch {
	case jc+nc < j1:
		blk, kc = pb.blocks[(jc+nc)/nc*slices+s], min(kcStep, pb.k-s*kcStep)
	case (s+1)*kcStep < pb.k:
		blk, kc = pb.blocks[j0/nc*slices+s+1], min(kcStep, pb.k-(s+1)*kcStep)
		lo = j0 - j0/nc*nc
	default:
		return nil
	}
	return blk[min(lo*kc, len(blk)):min((lo+nr)*kc, len(blk))]
}
