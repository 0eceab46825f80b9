package cpu

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// Instruction-set levels of the vector math; simd is a variable so that the
// tests can run every level this machine supports.
const (
	simdGo = iota
	simdAVX2
	simdAVX512
)

var simd = levelFromEnv(os.Getenv("R1_SIMD"), detectSIMD(), os.Stderr)

func detectSIMD() int {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL:
		return simdAVX512
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return simdAVX2
	}
	return simdGo
}

// levelFromEnv is the vector-math level R1_SIMD asks for (generic, avx2
// or avx512), so that an AVX-512 machine can measure the AVX2 path its
// users' machines take; best is what this CPU supports. A level the CPU
// lacks, or an unknown name, is reported on stderr and best is used: every
// level computes the same results within the kernels' tested tolerances.
func levelFromEnv(value string, best int, stderr io.Writer) int {
	if value == "" {
		return best
	}
	for l, name := range levelNames {
		if name == value {
			if l <= best {
				return l
			}
			break
		}
	}
	fmt.Fprintf(stderr, "cpu: R1_SIMD=%q: not a level this CPU supports (want one of %v); using %s\n", value, levelNames[:best+1], levelNames[best])
	return best
}

// The assembly reads and writes exactly n elements at each pointer; the
// wrappers below guarantee that the slices are that long. The AVX2 kernels
// take n a multiple of 8 and the wrappers finish the tail in Go.

//go:noescape
func expSubSumAVX512(dst, src *float32, n int, m float32) float32

//go:noescape
func expSumDotAVX512(src *float32, n int, m float32) (s, sz float32)

//go:noescape
func maxAVX512(x *float32, n int) float32

//go:noescape
func swigluAVX512(o, gt, u *float32, n int)

//go:noescape
func swigluBackwardAVX512(dg, du, d, gt, u *float32, n int)

//go:noescape
func lsmBackwardAVX512(row *float32, n int, l, ng, nge, h float32)

//go:noescape
func expSubSumAVX2(dst, src *float32, n int, m float32) float32

//go:noescape
func expSumDotAVX2(src *float32, n int, m float32) (s, sz float32)

//go:noescape
func maxAVX2(x *float32, n int) float32

//go:noescape
func swigluAVX2(o, gt, u *float32, n int)

//go:noescape
func swigluBackwardAVX2(dg, du, d, gt, u *float32, n int)

//go:noescape
func lsmBackwardAVX2(row *float32, n int, l, ng, nge, h float32)

func ptr(s []float32) *float32 { return unsafe.SliceData(s) }

// expSubSum sets dst[i] = e^(src[i]−m) and returns Σ dst (float32 lanes:
// callers that sum long rows accumulate blocks in float64).
func expSubSum(dst, src []float32, m float32) float32 {
	n := len(src)
	if n == 0 {
		return 0
	}
	dst = dst[:n]
	switch simd {
	case simdAVX512:
		return expSubSumAVX512(ptr(dst), ptr(src), n, m)
	case simdAVX2:
		k := n &^ 7
		var s float32
		if k > 0 {
			s = expSubSumAVX2(ptr(dst), ptr(src), k, m)
		}
		return s + expSubSumGo(dst[k:], src[k:], m)
	}
	return expSubSumGo(dst, src, m)
}

// expSumDot returns Σ e^(x−m) and Σ e^(x−m)·(x−m).
func expSumDot(src []float32, m float32) (s, sz float32) {
	n := len(src)
	if n == 0 {
		return 0, 0
	}
	switch simd {
	case simdAVX512:
		return expSumDotAVX512(ptr(src), n, m)
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			s, sz = expSumDotAVX2(ptr(src), k, m)
		}
		s2, sz2 := expSumDotGo(src[k:], m)
		return s + s2, sz + sz2
	}
	return expSumDotGo(src, m)
}

// maxF32 returns the largest element of a non-empty x. NaNs are not
// ordered consistently; callers only use the maximum as a shift whose
// result is NaN anyway when the row holds one.
func maxF32(x []float32) float32 {
	n := len(x)
	switch {
	case n < 16:
		return maxGo(x)
	case simd == simdAVX512:
		return maxAVX512(ptr(x), n)
	case simd == simdAVX2:
		k := n &^ 7
		return max(maxAVX2(ptr(x), k), maxGo(x[k-1:]))
	}
	return maxGo(x)
}

// swigluF32 sets o = silu(g)·u.
func swigluF32(o, g, u []float32) {
	n := len(g)
	if n == 0 {
		return
	}
	o, u = o[:n], u[:n]
	switch simd {
	case simdAVX512:
		swigluAVX512(ptr(o), ptr(g), ptr(u), n)
		return
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			swigluAVX2(ptr(o), ptr(g), ptr(u), k)
		}
		swigluGo(o[k:], g[k:], u[k:])
		return
	}
	swigluGo(o, g, u)
}

// swigluBackwardF32 sets du = d·silu(g), dg = d·u·silu'(g).
func swigluBackwardF32(dg, du, d, g, u []float32) {
	n := len(g)
	if n == 0 {
		return
	}
	dg, du, d, u = dg[:n], du[:n], d[:n], u[:n]
	switch simd {
	case simdAVX512:
		swigluBackwardAVX512(ptr(dg), ptr(du), ptr(d), ptr(g), ptr(u), n)
		return
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			swigluBackwardAVX2(ptr(dg), ptr(du), ptr(d), ptr(g), ptr(u), k)
		}
		swigluBackwardGo(dg[k:], du[k:], d[k:], g[k:], u[k:])
		return
	}
	swigluBackwardGo(dg, du, d, g, u)
}

// lsmBackwardF32: see lsmBackwardGo.
func lsmBackwardF32(row []float32, l, ng, nge, h float32) {
	n := len(row)
	if n == 0 {
		return
	}
	switch simd {
	case simdAVX512:
		lsmBackwardAVX512(ptr(row), n, l, ng, nge, h)
		return
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			lsmBackwardAVX2(ptr(row), k, l, ng, nge, h)
		}
		lsmBackwardGo(row[k:], l, ng, nge, h)
		return
	}
	lsmBackwardGo(row, l, ng, nge, h)
}

//go:noescape
func scaleAVX512(x *float32, n int, s float32)

//go:noescape
func axpyAVX512(y *float32, a float32, x *float32, n int)

//go:noescape
func addAVX512(o, a, b *float32, n int)

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func axpyAVX2(y *float32, a float32, x *float32, n int)

//go:noescape
func addAVX2(o, a, b *float32, n int)

// scaleF32 sets x *= s.
func scaleF32(x []float32, s float32) {
	n := len(x)
	if n == 0 {
		return
	}
	switch simd {
	case simdAVX512:
		scaleAVX512(ptr(x), n, s)
		return
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			scaleAVX2(ptr(x), k, s)
		}
		scaleGo(x[k:], s)
		return
	}
	scaleGo(x, s)
}

// axpyF32 sets y += a·x.
func axpyF32(y []float32, a float32, x []float32) {
	n := len(y)
	if n == 0 {
		return
	}
	x = x[:n]
	switch simd {
	case simdAVX512:
		axpyAVX512(ptr(y), a, ptr(x), n)
		return
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			axpyAVX2(ptr(y), a, ptr(x), k)
		}
		axpyGo(y[k:], a, x[k:])
		return
	}
	axpyGo(y, a, x)
}

// addF32 sets o = a + b (o may alias a or b).
func addF32(o, a, b []float32) {
	n := len(o)
	if n == 0 {
		return
	}
	a, b = a[:n], b[:n]
	switch simd {
	case simdAVX512:
		addAVX512(ptr(o), ptr(a), ptr(b), n)
		return
	case simdAVX2:
		k := n &^ 7
		if k > 0 {
			addAVX2(ptr(o), ptr(a), ptr(b), k)
		}
		addGo(o[k:], a[k:], b[k:])
		return
	}
	addGo(o, a, b)
}
