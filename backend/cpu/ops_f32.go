package cpu

import "math"

// Float32 paths of the elementwise and row kernels in ops.go, built on the
// vector math of vmath.go. The generic versions in ops.go stay as the
// float64 reference (gradient checks) and the tests compare the two.

// swigluPar is swiglu over float32 slices.
func swigluPar(o, g, u []float32) {
	parallel(len(o), 1<<14, func(lo, hi int) {
		swigluF32(o[lo:hi], g[lo:hi], u[lo:hi])
	})
}

// swigluBackwardPar is swigluBackward over float32 slices.
func swigluBackwardPar(dg, du, d, g, u []float32) {
	parallel(len(d), 1<<14, func(lo, hi int) {
		swigluBackwardF32(dg[lo:hi], du[lo:hi], d[lo:hi], g[lo:hi], u[lo:hi])
	})
}

// lseBlock is how many exponentials are summed in float32 lanes before the
// partial sum moves to the float64 total: a 150k-entry vocabulary row then
// loses no more accuracy than the float64 loop of rowLSEEntropy.
const lseBlock = 1024

// rowLSEEntropyF32 is rowLSEEntropy for float32 rows.
func rowLSEEntropyF32(z []float32) (lse, entropy float64) {
	m := maxF32(z)
	var s, sz float64
	for lo := 0; lo < len(z); lo += lseBlock {
		bs, bsz := expSumDot(z[lo:min(lo+lseBlock, len(z))], m)
		s += float64(bs)
		sz += float64(bsz)
	}
	if math.IsNaN(sz) && !math.IsNaN(s) {
		// −Inf logits (masked tokens) make the vector kernel's e·d NaN;
		// the scalar path skips them.
		return rowLSEEntropy(z)
	}
	l := math.Log(s)
	return float64(m) + l, l - sz/s
}

func logSoftmaxGatherF32(lp, ls, ent, z []float32, tg []int32, v int) {
	parallel(len(tg), 4, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			row := z[n*v : (n+1)*v]
			l, h := rowLSEEntropyF32(row)
			ls[n] = float32(l)
			if ent != nil {
				ent[n] = float32(h)
			}
			if t := tg[n]; t >= 0 {
				lp[n] = row[t] - float32(l)
			} else {
				lp[n] = 0
			}
		}
	})
}

func logSoftmaxGatherBackwardF32(z, ls []float32, tg []int32, dlp, dent []float32, v int) {
	parallel(len(tg), 4, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			row := z[n*v : (n+1)*v]
			var g, ge float32
			if dlp != nil && tg[n] >= 0 {
				g = dlp[n]
			}
			if dent != nil {
				ge = dent[n]
			}
			var h float32
			if ge != 0 {
				_, hh := rowLSEEntropyF32(row)
				h = float32(hh)
			}
			lsmBackwardF32(row, ls[n], -g, -ge, h)

			if t := tg[n]; t >= 0 {
				row[t] += g
			}
		}
	})
}

func rmsnormF32(o, rs, xs, ws []float32, eps float32) {
	c := len(ws)
	parallel(len(rs), 64, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			row := xs[n*c : (n+1)*c]
			ss := sumSqF32(row)
			r := float32(1 / math.Sqrt(float64(ss/float32(c)+eps)))
			rs[n] = r
			mulScaleF32(o[n*c:(n+1)*c], row, ws, r)
		}
	})
}

func rmsnormBackwardF32(dxs, dws, dy, xs, ws, rs []float32) {
	c := len(ws)
	nrows := len(rs)
	// dw is a reduction over rows: each worker sums into its own partial.
	workers := 1
	if nrows >= 128 {
		workers = 2
	}
	partial := make([][]float32, workers)
	chunk := (nrows + workers - 1) / workers
	parallel(workers, 1, func(lo, hi int) {
		for wk := lo; wk < hi; wk++ {
			acc := make([]float32, c)
			for n := wk * chunk; n < min((wk+1)*chunk, nrows); n++ {
				r := rs[n]
				xr, dyr := xs[n*c:(n+1)*c], dy[n*c:(n+1)*c]
				dot := rmsBwdDotF32(acc, dyr, xr, ws, r) / float32(c)
				rmsBwdDxF32(dxs[n*c:(n+1)*c], dyr, xr, ws, r, dot)
			}
			partial[wk] = acc
		}
	})
	for _, acc := range partial {
		axpyF32(dws, 1, acc)
	}
}
