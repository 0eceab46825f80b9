package gemm

// The blocked path packs op(B) into panels, which for a product with only a
// few rows of A (decoding one token at a time, small batches) costs more
// than the product itself, and the mr-row micro-kernel would mostly multiply
// zero padding. Such products are memory-bound matrix-vector work, so they
// read op(B) in place: with B transposed (the usual weight layout, C = X·Wᵀ)
// each output is a dot product of two contiguous rows; otherwise each output
// row is a sum of scaled rows of B.

// smallMode forces the choice between the unpacked and the blocked path for
// tests and benchmarks.
var smallMode = smallAuto

const (
	smallAuto = iota
	smallNever
	smallAlways
)

// axpyCols is the width of the column strips the axpy kernels produce.
const axpyCols = 64

// dot4Func sets out[r] = a[0:k]·b[r*ldb : r*ldb+k] for r = 0..3.
type dot4Func func(k int, a, b []float32, ldb int, out *[4]float32)

// dot4x4Func sets out[4i+j] = a[i*lda : i*lda+k]·b[j*ldb : j*ldb+k] for
// i, j = 0..3.
type dot4x4Func func(k int, a []float32, lda int, b []float32, ldb int, out *[16]float32)

// axpyFunc sets out[j] = Σ_p a[p]·b[p*ldb+j] for j = 0..axpyCols-1.
type axpyFunc func(k int, a, b []float32, ldb int, out *[axpyCols]float32)

// isSmall reports whether a product with m rows of op(A) should take the
// unpacked path; wide says the kernel has dot4x4. The rules come from
// BenchmarkSmallPath on a Zen 4 core: with m <= 4 the blocked path mostly
// multiplies padding; up to 16 rows the unpacked path wins once k is long
// enough to amortise its per-output reductions. With B transposed, packing
// must transpose all of B, so the dot products keep winning for longer:
// with dot4x4 while the rows of A take at most half of L2 (2048×128×1024,
// run as its transpose: 80 against 70 GFLOP/s), and otherwise up to 64
// rows when B is too big for the caches.
func isSmall(m, n, k int, transB, wide bool) bool {
	switch smallMode {
	case smallNever:
		return false
	case smallAlways:
		return true
	}
	switch {
	case m <= 4:
		return true
	case m <= 16 && k >= 256:
		return true
	case transB && wide && k >= 512 && m*k <= 1<<17:
		return true
	case transB && m <= 64 && k >= 256 && n*k >= 1<<21:
		return true
	}
	return false
}

// transposed returns the problem Cᵀ = op(B)ᵀ·op(A)ᵀ, which has the same
// data: op(B)ᵀ is B read with the opposite transposition flag, and Cᵀ is C
// with its strides swapped. Products with few columns become products with
// few rows that way.
func (p *problem) transposed() problem {
	return problem{
		transA: !p.transB, transB: !p.transA,
		m: p.n, n: p.m, k: p.k,
		alpha: p.alpha, beta: p.beta,
		a: p.b, lda: p.ldb, b: p.a, ldb: p.lda,
		c: p.c, ldc: 1, ldcCol: p.ldc,
	}
}

// runSmall computes C without packing op(B); see isSmall.
func (p *problem) runSmall(im *impl, threads int) {
	m, n, k := p.m, p.n, p.k
	buf := aPool.Get().(*buffers)
	defer aPool.Put(buf)
	// Rows of alpha·op(A), contiguous: m·k values, which isSmall keeps
	// within L2 in the cases where they are reread often.
	rows := grow(buf.a, m*k)
	buf.a = rows
	if p.transA {
		// Read A by its stored rows (contiguous) rather than down columns.
		for q := 0; q < k; q++ {
			for i, v := range p.a[q*p.lda : q*p.lda+m] {
				rows[i*k+q] = p.alpha * v
			}
		}
	} else {
		for i := 0; i < m; i++ {
			dst := rows[i*k : i*k+k]
			for q, v := range p.a[i*p.lda : i*p.lda+k] {
				dst[q] = p.alpha * v
			}
		}
	}
	unit := 4
	if !p.transB {
		unit = axpyCols
	}
	// Split the columns among the goroutines on multiples of unit.
	units := ceilDiv(n, unit)
	threads = min(threads, units)
	parallel(threads, func(t int) {
		j0 := min(units*t/threads*unit, n)
		j1 := min(units*(t+1)/threads*unit, n)
		if p.transB {
			p.smallDots(im, rows, j0, j1)
		} else {
			p.smallAxpy(im, rows, j0, j1)
		}
	})
}

// store merges v into C[i][j] according to beta. C's column stride is
// ldcCol when set (the transposed problems of small n), else 1.
func (p *problem) store(i, j int, v float32) {
	c := &p.c[i*p.ldc+j]
	if p.ldcCol != 0 {
		c = &p.c[i*p.ldc+j*p.ldcCol]
	}
	switch p.beta {
	case 0:
		*c = v
	case 1:
		*c += v
	default:
		*c = p.beta**c + v
	}
}

// smallDots computes columns [j0,j1) of C when B is transposed: C[i][j] is
// the dot product of row i of alpha·op(A) with row j of B.
func (p *problem) smallDots(im *impl, rows []float32, j0, j1 int) {
	k := p.k
	var out [4]float32
	j := j0
	for ; j+4 <= j1; j += 4 {
		// The four rows of B stay in L1 while every row of A uses them.
		b := p.b[j*p.ldb : (j+3)*p.ldb+k]
		i := 0
		if im.dot4x4 != nil {
			var out16 [16]float32
			for ; i+4 <= p.m; i += 4 {
				im.dot4x4(k, rows[i*k:(i+4)*k], k, b, p.ldb, &out16)
				for r := 0; r < 4; r++ {
					for c := 0; c < 4; c++ {
						p.store(i+r, j+c, out16[4*r+c])
					}
				}
			}
		}
		for ; i < p.m; i++ {
			im.dot4(k, rows[i*k:i*k+k], b, p.ldb, &out)
			for r, v := range out {
				p.store(i, j+r, v)
			}
		}
	}
	for ; j < j1; j++ {
		// A stride of 0 points the kernel's four rows at the same row.
		b := p.b[j*p.ldb : j*p.ldb+k]
		for i := 0; i < p.m; i++ {
			im.dot4(k, rows[i*k:i*k+k], b, 0, &out)
			p.store(i, j, out[0])
		}
	}
}

// smallAxpy computes columns [j0,j1) of C when B is not transposed: row i of
// C is Σ_q alpha·op(A)[i][q] · (row q of B).
func (p *problem) smallAxpy(im *impl, rows []float32, j0, j1 int) {
	k := p.k
	var out [axpyCols]float32
	j := j0
	for ; j+axpyCols <= j1; j += axpyCols {
		b := p.b[j : (k-1)*p.ldb+j+axpyCols]
		for i := 0; i < p.m; i++ {
			im.axpy(k, rows[i*k:i*k+k], b, p.ldb, &out)
			for c, v := range out {
				p.store(i, j+c, v)
			}
		}
	}
	if j == j1 {
		return
	}
	// Ragged right edge, narrower than one strip: plain Go.
	w := j1 - j
	for i := 0; i < p.m; i++ {
		acc := out[:w]
		clear(acc)
		for q, a := range rows[i*k : i*k+k] {
			for c, v := range p.b[q*p.ldb+j : q*p.ldb+j+w] {
				acc[c] += a * v
			}
		}
		for c, v := range acc {
			p.store(i, j+c, v)
		}
	}
}

// dot4Generic is the portable dot4Func.
func dot4Generic(k int, a, b []float32, ldb int, out *[4]float32) {
	a = a[:k]
	b0 := b[:k]
	b1 := b[ldb : ldb+k]
	b2 := b[2*ldb : 2*ldb+k]
	b3 := b[3*ldb : 3*ldb+k]
	var s0, s1, s2, s3 float32
	for q, v := range a {
		s0 += v * b0[q]
		s1 += v * b1[q]
		s2 += v * b2[q]
		s3 += v * b3[q]
	}
	*out = [4]float32{s0, s1, s2, s3}
}

// axpyGeneric is the portable axpyFunc.
func axpyGeneric(k int, a, b []float32, ldb int, out *[axpyCols]float32) {
	*out = [axpyCols]float32{}
	for q, v := range a[:k] {
		row := b[q*ldb : q*ldb+axpyCols]
		for c := range out {
			out[c] += v * row[c]
		}
	}
}
