package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

// sentinel marks padding in C (columns past n, rows past m) that Sgemm must
// never touch.
const sentinel = float32(-12345.5)

type shape struct{ m, n, k int }

// testShapes covers single elements, primes and odd sizes (edge tiles in
// every direction for every kernel), exact tile multiples, and depths that
// cross the kc blocking (see also the small-block test below).
var testShapes = []shape{
	{1, 1, 1}, {1, 1, 7}, {1, 9, 1}, {9, 1, 1}, {2, 3, 4},
	{7, 13, 5}, {14, 32, 16}, {6, 16, 8}, {28, 64, 3}, {13, 31, 17}, {9, 40, 12}, {20, 50, 9},
	{15, 33, 300}, {37, 19, 23}, {129, 65, 257}, {3, 5, 1031}, {31, 47, 2053},
	// Few rows: the unpacked path (see isSmall), with and without whole strips.
	{1, 200, 37}, {4, 131, 300}, {3, 64, 16}, {2, 700, 400}, {1, 4, 17}, {16, 65, 33}, {61, 67, 45},
	// Few columns: the unpacked path on the transposed problem.
	{200, 1, 37}, {131, 4, 300}, {65, 16, 33}, {67, 61, 45}, {700, 2, 400},
}

type variant struct {
	alpha, beta float32
	nanC        bool // fill C with NaN before the call (only with beta == 0)
}

var variants = []variant{
	{1, 0, false}, {1, 0, true}, {1, 1, false}, {-0.5, 2, false}, {0.75, -1, false}, {1.5, 0, true},
}

// reference computes alpha*op(A)*op(B) + beta*C in float64 and the bound
// sum |alpha||op(A)||op(B)| + |beta||C| that scales its rounding error.
func reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			w := float64(alpha) * s
			m := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				m += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j], mag[i*n+j] = w, m
		}
	}
	return want, mag
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.Float64()*2 - 1)
	}
	return s
}

// checkCase runs one product through sgemm and compares it with the float64
// reference. The tolerance is the standard dot-product bound: a float32 sum
// of k products is within (k+2)·eps·Σ|terms| of the exact value (eps = 2^-24,
// +2 for the alpha and beta roundings); we allow 2(k+2)·eps·Σ|terms| so that
// a reordered summation never trips it while a wrong element always does
// (inputs are O(1), so a missing or extra term is ~(k+2)^-1 of Σ|terms|
// larger than that for any k tested here).
func checkCase(t *testing.T, im *impl, threads int, transA, transB bool, sh shape, v variant, pad int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(sh.m*1000003+sh.n*1009+sh.k)))
	m, n, k := sh.m, sh.n, sh.k
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+pad, bc+2*pad, n+3*pad
	// A and B end right after their last element (no row padding), so any
	// read past the matrices indexes out of range and fails the test.
	a := randSlice(r, ar*lda)[:max((ar-1)*lda+ac, 0)]
	b := randSlice(r, br*ldb)[:max((br-1)*ldb+bc, 0)]
	// Extra rows after C catch writes past the last row.
	c := randSlice(r, (m+1)*ldc)
	for i := range c {
		if i/ldc >= m || i%ldc >= n {
			c[i] = sentinel
		} else if v.nanC {
			c[i] = float32(math.NaN())
		}
	}
	want, mag := reference(transA, transB, m, n, k, v.alpha, a, lda, b, ldb, v.beta, c, ldc)
	sgemm(im, threads, transA, transB, m, n, k, v.alpha, a, lda, b, ldb, v.beta, c, ldc)
	eps := math.Pow(2, -24)
	bad := 0
	for i := range c {
		if i/ldc >= m || i%ldc >= n {
			if c[i] != sentinel {
				t.Fatalf("%s: wrote outside C at row %d col %d (ldc %d)", im.name, i/ldc, i%ldc, ldc)
			}
			continue
		}
		w, g := want[(i/ldc)*n+i%ldc], float64(c[i])
		tol := 2 * float64(k+2) * eps * mag[(i/ldc)*n+i%ldc]
		if math.IsNaN(g) || math.Abs(g-w) > tol {
			if bad++; bad <= 3 {
				t.Errorf("C[%d][%d] = %v, want %v (tol %.3g)", i/ldc, i%ldc, g, w, tol)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements wrong", bad, m*n)
	}
}

func TestSgemmAllImpls(t *testing.T) {
	for _, im := range impls {
		for _, sh := range testShapes {
			for ti, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for vi, v := range variants {
					// Bigger shapes get a subset of the alpha/beta variants
					// to keep the float64 reference cheap.
					if sh.m*sh.n*sh.k > 1<<16 && vi%2 == 1 {
						continue
					}
					pad := (vi + ti) % 3 * 3
					threads := 1 + (vi+ti)%3
					name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v/a=%g,b=%g,nan=%v/pad=%d/thr=%d",
						im.name, sh.m, sh.n, sh.k, tr[0], tr[1], v.alpha, v.beta, v.nanC, pad, threads)
					t.Run(name, func(t *testing.T) {
						checkCase(t, im, threads, tr[0], tr[1], sh, v, pad, uint64(vi))
					})
				}
			}
		}
	}
}

// TestSgemmSmallBlocks shrinks the cache blocks so that every blocking loop
// (several mc, kc and nc blocks, including ragged last blocks) runs on
// shapes small enough for a fast reference.
func TestSgemmSmallBlocks(t *testing.T) {
	defer func(v int) { smallMode = v }(smallMode)
	smallMode = smallNever
	for _, base := range impls {
		im := *base
		im.mc, im.kc, im.nc = 2*im.mr, 5, 3*im.nr
		shapes := []shape{{5*im.mr + 3, 4*im.nr + 5, 23}, {2 * im.mr, 3 * im.nr, 10}, {im.mr + 1, 7*im.nr - 1, 6}}
		for _, sh := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, threads := range []int{1, 2, 4} {
					name := fmt.Sprintf("%s/%dx%dx%d/tA=%v,tB=%v/thr=%d", im.name, sh.m, sh.n, sh.k, tr[0], tr[1], threads)
					t.Run(name, func(t *testing.T) {
						checkCase(t, &im, threads, tr[0], tr[1], sh, variant{alpha: 1.25, beta: 0.5}, 1, 7)
					})
				}
			}
		}
	}
}

// TestSgemmPathsForced sends few-row and few-column shapes through both the
// blocked and the unpacked path, whichever isSmall would pick for them.
func TestSgemmPathsForced(t *testing.T) {
	defer func(v int) { smallMode = v }(smallMode)
	shapes := []shape{{1, 1, 1}, {1, 200, 37}, {4, 131, 300}, {2, 700, 400}, {16, 65, 33}, {61, 67, 45}, {200, 1, 37}, {65, 16, 33}, {5, 3, 2}, {8, 8, 5}, {12, 20, 16}}
	for _, mode := range []int{smallNever, smallAlways} {
		smallMode = mode
		for _, im := range impls {
			for _, sh := range shapes {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					name := fmt.Sprintf("mode=%d/%s/%dx%dx%d/tA=%v,tB=%v", mode, im.name, sh.m, sh.n, sh.k, tr[0], tr[1])
					t.Run(name, func(t *testing.T) {
						checkCase(t, im, 2, tr[0], tr[1], sh, variant{alpha: -1, beta: 0.5}, 2, 3)
					})
				}
			}
		}
	}
}

// TestSgemmPublic goes through the exported entry points with the kernel
// chosen by SetImpl, as the CPU backend does, and checks the thread split
// against the serial result bit for bit (each element is computed by one
// goroutine with the same blocking, so they must agree exactly).
func TestSgemmPublic(t *testing.T) {
	defer func(name string) {
		if err := SetImpl(name); err != nil {
			t.Fatal(err)
		}
	}(Impl())
	m, n, k := 200, 180, 120
	if 2*m*n*k < minParallelFlops {
		t.Fatalf("shape too small to run in parallel through Sgemm")
	}
	r := rand.New(rand.NewPCG(1, 2))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	for _, name := range Impls() {
		if err := SetImpl(name); err != nil {
			t.Fatal(err)
		}
		if Impl() != name {
			t.Fatalf("Impl() = %q after SetImpl(%q)", Impl(), name)
		}
		got := make([]float32, m*n)
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
		got1 := make([]float32, m*n)
		SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, got1, n)
		im := implByName(t, name)
		serial := make([]float32, m*n)
		sgemm(im, 1, false, false, m, n, k, 1, a, k, b, n, 0, serial, n)
		for i := range got {
			if got[i] != serial[i] || got1[i] != serial[i] {
				t.Fatalf("%s: element %d: Sgemm %v, SgemmSerial %v, serial sgemm %v", name, i, got[i], got1[i], serial[i])
			}
		}
	}
	if err := SetImpl("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("SetImpl(nope) = %v, want an error naming it", err)
	}
}

func implByName(t *testing.T, name string) *impl {
	for _, im := range impls {
		if im.name == name {
			return im
		}
	}
	t.Fatalf("no impl %q", name)
	return nil
}

func TestSgemmDegenerate(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	// k == 0 and alpha == 0 reduce to C = beta*C without reading A or B.
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 3, c, 2)
	if c[0] != 3 || c[3] != 12 {
		t.Errorf("k=0: C = %v, want [3 6 9 12]", c)
	}
	Sgemm(false, false, 2, 2, 1, 0, []float32{float32(math.NaN()), 1}, 1, []float32{1, 1}, 2, 0, c, 2)
	for _, v := range c {
		if v != 0 {
			t.Errorf("alpha=0, beta=0: C = %v, want zeros", c)
			break
		}
	}
	// m == 0 touches nothing.
	Sgemm(true, true, 0, 5, 5, 1, nil, 1, make([]float32, 25), 5, 1, nil, 5)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name                      string
		tA, tB                    bool
		m, n, k                   int
		la, lda, lb, ldb, lc, ldc int
		want                      string // substring of the error; "" for none
	}{
		{"ok", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 3, ""},
		{"ok transposed", true, true, 2, 3, 4, 8, 2, 12, 4, 6, 3, ""},
		{"ok strided", false, false, 2, 3, 4, 9, 5, 12, 3, 8, 5, ""},
		{"negative", false, false, -1, 3, 4, 8, 4, 12, 3, 6, 3, "negative"},
		{"lda narrow", false, false, 2, 3, 4, 8, 3, 12, 3, 6, 3, "lda=3"},
		{"lda narrow transA", true, false, 2, 3, 4, 8, 1, 12, 3, 6, 3, "lda=1"},
		{"a short", false, false, 2, 3, 4, 7, 4, 12, 3, 6, 3, "len(a)=7"},
		{"b short", false, true, 2, 3, 4, 8, 4, 11, 4, 6, 3, "len(b)=11"},
		{"c short", false, false, 2, 3, 4, 8, 4, 12, 3, 5, 3, "len(c)=5"},
		{"ldc narrow", false, false, 2, 3, 4, 8, 4, 12, 3, 6, 2, "ldc=2"},
		{"empty k", false, false, 2, 3, 0, 0, 1, 0, 3, 6, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.tA, tt.tB, tt.m, tt.n, tt.k, tt.la, tt.lda, tt.lb, tt.ldb, tt.lc, tt.ldc)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestSgemmPanicsOnBadSizes(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "len(c)") {
			t.Fatalf("recovered %v, want a panic naming len(c)", r)
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		value   string
		want    string // kernel name
		wantErr bool
	}{
		{"", impls[0].name, false},
		{"generic", "generic", false},
		{"avx1024", impls[0].name, true},
		{"GENERIC", impls[0].name, true},
	}
	for _, name := range Impls() {
		tests = append(tests, struct {
			value   string
			want    string
			wantErr bool
		}{name, name, false})
	}
	for _, tt := range tests {
		im, err := fromEnv("R1_GEMM", tt.value)
		if im.name != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("fromEnv(%q) = %s, %v; want %s, error %v", tt.value, im.name, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "R1_GEMM") {
			t.Errorf("fromEnv(%q) error %q does not name R1_GEMM", tt.value, err)
		}
	}
}

// TestEnvSelectsImpl checks the default kernel when the suite runs under
// R1_GEMM=name (as CI does for each path); without it, the fastest.
func TestEnvSelectsImpl(t *testing.T) {
	want := os.Getenv("R1_GEMM")
	if want == "" {
		want = impls[0].name
	}
	if got := Impl(); got != want {
		t.Fatalf("Impl() = %q, want %q (R1_GEMM=%q)", got, want, os.Getenv("R1_GEMM"))
	}
}

// FuzzSgemm checks that any sizes Check accepts run without panicking and
// give the reference result, on every kernel; sizes are folded into small
// ranges so each case stays cheap.
func FuzzSgemm(f *testing.F) {
	f.Add(false, false, uint8(3), uint8(5), uint8(7), uint8(7), uint8(5), uint8(5), uint8(0))
	f.Add(true, true, uint8(17), uint8(33), uint8(2), uint8(20), uint8(2), uint8(40), uint8(3))
	f.Add(false, true, uint8(1), uint8(70), uint8(30), uint8(30), uint8(31), uint8(70), uint8(1))
	f.Add(true, false, uint8(0), uint8(4), uint8(0), uint8(1), uint8(4), uint8(4), uint8(2))
	f.Fuzz(func(t *testing.T, tA, tB bool, m8, n8, k8, lda8, ldb8, ldc8, short uint8) {
		m, n, k := int(m8%80), int(n8%80), int(k8%80)
		lda, ldb, ldc := int(lda8%90), int(ldb8%90), int(ldc8%90)
		ar, ac, br, bc := m, k, k, n
		if tA {
			ar, ac = k, m
		}
		if tB {
			br, bc = n, k
		}
		size := func(rows, ld int) int { return max(rows*ld, 0) }
		la, lb, lc := size(ar, lda), size(br, ldb), size(m, ldc)
		// short trims one slice so that Check sometimes has to refuse.
		switch short % 4 {
		case 1:
			la = max(la-1, 0)
		case 2:
			lb = max(lb-1, 0)
		case 3:
			lc = max(lc-1, 0)
		}
		if err := Check(tA, tB, m, n, k, la, lda, lb, ldb, lc, ldc); err != nil {
			if ac > 0 && bc > 0 && n > 0 && lda >= ac && ldb >= bc && ldc >= n && short%4 == 0 {
				t.Fatalf("Check refused consistent sizes: %v", err)
			}
			return
		}
		r := rand.New(rand.NewPCG(uint64(m), uint64(n*100+k)))
		a, b, c := randSlice(r, la), randSlice(r, lb), randSlice(r, lc)
		want, mag := reference(tA, tB, m, n, k, 1.5, a, lda, b, ldb, 0.5, c, ldc)
		for _, im := range impls {
			got := append([]float32(nil), c...)
			sgemm(im, 2, tA, tB, m, n, k, 1.5, a, lda, b, ldb, 0.5, got, ldc)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					tol := 2 * float64(k+2) * math.Pow(2, -24) * mag[i*n+j]
					if d := math.Abs(float64(got[i*ldc+j]) - want[i*n+j]); !(d <= tol) {
						t.Fatalf("%s: C[%d][%d] = %v, want %v", im.name, i, j, got[i*ldc+j], want[i*n+j])
					}
				}
			}
		}
	})
}

// TestSgemmSmallSplit: a decode step's matrix-vector products (one to a few
// rows against a weight stored as Wᵀ) are split between the cores from
// minParallelSmall up, tiny ones are not, and the split result equals the
// serial one bit for bit at every SIMD level.
func TestSgemmSmallSplit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, c := range []struct {
		m, n, k int
		transB  bool
		want    int
	}{
		{1, 1024, 256, true, 2},  // 7M-class gate/up projection, batch 1
		{1, 2048, 768, true, 2},  // 112M-class
		{3, 1280, 768, true, 2},  // fused qkv, batch 3
		{1, 256, 256, true, 1},   // 0.13 MFLOP: not worth waking a goroutine
		{1, 1024, 256, false, 2}, // the axpy form
		{64, 64, 64, false, 1},   // blocked path keeps its own bound
	} {
		for _, im := range impls {
			if got := sgemmThreads(im, 2, false, c.transB, c.m, c.n, c.k); got != c.want {
				t.Errorf("%s %dx%dx%d transB=%v: %d goroutines, want %d", im.name, c.m, c.n, c.k, c.transB, got, c.want)
			}
			r := rand.New(rand.NewPCG(3, uint64(c.n)))
			a, b := randSlice(r, c.m*c.k), randSlice(r, c.k*c.n)
			ldb := c.n
			if c.transB {
				ldb = c.k
			}
			split, serial := make([]float32, c.m*c.n), make([]float32, c.m*c.n)
			sgemm(im, 2, false, c.transB, c.m, c.n, c.k, 1, a, c.k, b, ldb, 0, split, c.n)
			sgemm(im, 1, false, c.transB, c.m, c.n, c.k, 1, a, c.k, b, ldb, 0, serial, c.n)
			for i := range split {
				if split[i] != serial[i] {
					t.Fatalf("%s %dx%dx%d: element %d: split %v, serial %v", im.name, c.m, c.n, c.k, i, split[i], serial[i])
				}
			}
		}
	}
}

// TestSgemmInPlaceA: reading op(A) in place gives the packed path's result
// bit for bit (the same FMA chain per element), with ragged last tiles in
// both directions, several mc/kc/nc blocks, both layouts of A and B, padded
// leading dimensions and beta 0, 1 and 0.5; and a kernel that has the
// variant takes it when alpha is 1.
func TestSgemmInPlaceA(t *testing.T) {
	defer func(v bool, s int) { inPlaceA, smallMode = v, s }(inPlaceA, smallMode)
	smallMode = smallNever
	for _, base := range impls {
		if base.kernA == nil {
			continue
		}
		for _, tA := range []bool{false, true} {
			inPlaceA = true
			if !base.readsAInPlace(tA, 1, 64) || base.readsAInPlace(tA, 1.5, 64) {
				t.Fatalf("%s transA=%v: reads A in place with alpha 1: %v, with 1.5: %v", base.name, tA, base.readsAInPlace(tA, 1, 64), base.readsAInPlace(tA, 1.5, 64))
			}
		}
		small := *base
		small.mc, small.kc, small.nc = 2*small.mr, 7, 3*small.nr
		for _, im := range []*impl{base, &small} {
			mr, nr := im.mr, im.nr
			shapes := []shape{{3*mr + 2, 2*nr + 5, 19}, {2 * mr, 4 * nr, 16}, {mr, nr, 1}, {5*mr + 1, nr - 3, 40}, {mr - 1, 3 * nr, 9}, {129, 65, 257}}
			for _, sh := range shapes {
				for ti, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, beta := range []float32{0, 1, 0.5} {
						r := rand.New(rand.NewPCG(uint64(ti), uint64(sh.m*131+sh.n*7+sh.k)))
						m, n, k := sh.m, sh.n, sh.k
						ar, ac := m, k
						if tr[0] {
							ar, ac = k, m
						}
						br, bc := k, n
						if tr[1] {
							br, bc = n, k
						}
						lda, ldb, ldc := ac+3, bc+1, n+2
						a := randSlice(r, ar*lda)[:(ar-1)*lda+ac]
						b := randSlice(r, br*ldb)[:(br-1)*ldb+bc]
						c0 := randSlice(r, m*ldc)
						got, want := append([]float32(nil), c0...), append([]float32(nil), c0...)
						inPlaceA = true
						sgemm(im, 2, tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, beta, got, ldc)
						inPlaceA = false
						sgemm(im, 2, tr[0], tr[1], m, n, k, 1, a, lda, b, ldb, beta, want, ldc)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s kc=%d %v tA=%v tB=%v beta=%g: C[%d][%d] = %v in place, %v packed", im.name, im.kc, sh, tr[0], tr[1], beta, i/ldc, i%ldc, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}
