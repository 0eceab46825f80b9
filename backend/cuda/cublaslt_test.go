package cuda

import (
	"math"
	"math/rand"
	"testing"
)

// colMajorGemm is what cuBLASLt computes: D = op(A)·op(B) over
// column-major matrices described by (rows, cols, ld) layouts.
func colMajorGemm(lt ltGemm, a, b []float64) []float64 {
	at := func(l ltLayout, x []float64, op int32, i, j int) float64 {
		if op == cublasOpT {
			i, j = j, i
		}
		if uint64(i) >= l.rows || uint64(j) >= l.cols {
			panic("index outside the layout")
		}
		return x[i+j*int(l.ld)]
	}
	c := make([]float64, lt.c.rows*lt.c.cols)
	for i := 0; i < int(lt.m); i++ {
		for j := 0; j < int(lt.n); j++ {
			var s float64
			for p := 0; p < int(lt.k); p++ {
				s += at(lt.a, a, lt.opA, i, p) * at(lt.b, b, lt.opB, p, j)
			}
			c[i+j*int(lt.c.ld)] = s
		}
	}
	return c
}

// TestGemmColMajorMapping checks the row-major → cuBLASLt translation by
// running the translated problem through a column-major reference and
// comparing with a row-major reference of tensor.Backend.MatMul's contract.
func TestGemmColMajorMapping(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, g := range []gemmSpec{
		{M: 3, N: 5, K: 4},
		{M: 3, N: 5, K: 4, TransA: true},
		{M: 3, N: 5, K: 4, TransB: true},
		{M: 3, N: 5, K: 4, TransA: true, TransB: true},
		{M: 1, N: 7, K: 2, TransB: true},
		{M: 6, N: 1, K: 1},
	} {
		// Row-major storage: A is (M,K), or (K,M) when transposed; B likewise.
		a := make([]float64, g.M*g.K)
		b := make([]float64, g.K*g.N)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		aAt := func(i, p int) float64 { // op(A)[i,p]
			if g.TransA {
				return a[p*g.M+i]
			}
			return a[i*g.K+p]
		}
		bAt := func(p, j int) float64 { // op(B)[p,j]
			if g.TransB {
				return b[j*g.K+p]
			}
			return b[p*g.N+j]
		}
		want := make([]float64, g.M*g.N)
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				for p := 0; p < g.K; p++ {
					want[i*g.N+j] += aAt(i, p) * bAt(p, j)
				}
			}
		}
		// cuBLASLt's first operand is our B, its second our A.
		got := colMajorGemm(g.colMajor(), b, a)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%+v: element %d = %g, want %g", g, i, got[i], want[i])
				break
			}
		}
	}
}

func TestGemmSpecValidate(t *testing.T) {
	tests := []struct {
		g  gemmSpec
		ok bool
	}{
		{gemmSpec{M: 1, N: 1, K: 1, AB: dataBF16, C: dataBF16}, true},
		{gemmSpec{M: 1, N: 1, K: 1, AB: dataBF16, C: dataF32}, true},
		{gemmSpec{M: 0, N: 1, K: 1, AB: dataBF16, C: dataBF16}, false},
		{gemmSpec{M: 1, N: -1, K: 1, AB: dataBF16, C: dataBF16}, false},
		{gemmSpec{M: 1, N: 1, K: 1, AB: 7, C: dataBF16}, false},
		{gemmSpec{M: 1, N: 1, K: 1, AB: dataF32, C: dataBF16}, false},
		{gemmSpec{M: 1, N: 1, K: 1}, true}, // zero types: fp32 throughout
	}
	for _, tc := range tests {
		if err := tc.g.validate(); (err == nil) != tc.ok {
			t.Errorf("validate(%+v) = %v, want ok=%v", tc.g, err, tc.ok)
		}
	}
}

func TestPtrAlignAndPlanKey(t *testing.T) {
	tests := []struct {
		p    devicePtr
		want uint32
	}{{0, 256}, {0x7f0000000000, 256}, {0x7f0000000100, 256}, {0x7f0000000080, 128}, {0x7f0000000002, 2}, {0x7f0000000001, 1}, {0x7f0000000030, 16}}
	for _, tc := range tests {
		if got := ptrAlign(tc.p); got != tc.want {
			t.Errorf("ptrAlign(%#x) = %d, want %d", uint64(tc.p), got, tc.want)
		}
	}
	g := gemmSpec{M: 2, N: 2, K: 2, AB: dataBF16, C: dataBF16}
	// cuBLASLt's A is our B: the key lists (B, A, C).
	if k := gemmKeyFor(g, 0x1010, 0x1002, 0x1000); k.align != [3]uint32{2, 16, 256} {
		t.Errorf("key alignments %v, want [2 16 256]", k.align)
	}
	if gemmKeyFor(g, 0x1000, 0x1000, 0x1000) == gemmKeyFor(g, 0x1002, 0x1000, 0x1000) {
		t.Error("an unaligned view shares the aligned buffer's plan")
	}
}
