package cpu

import (
	"fmt"
	"math"

	"github.com/r1go/r1/tensor"
)

// Embedding: out (N,C) = table (V,C)[ids (N)].
func (*Backend) Embedding(out, table, ids *tensor.Tensor) {
	c, v, id := table.Cols(), table.Rows(), i32(ids)
	if out.Cols() != c || out.Rows() != len(id) {
		panic(fmt.Sprintf("cpu: Embedding out%v table%v ids%v", out.Shape, table.Shape, ids.Shape))
	}
	for _, tok := range id {
		if tok < 0 || int(tok) >= v {
			panic(fmt.Sprintf("cpu: Embedding: token id %d outside vocabulary [0,%d)", tok, v))
		}
	}
	if isF64(out) {
		embedding(f64(out), f64(table), id, c)
		return
	}
	embedding(f32(out), f32(table), id, c)
}

func embedding[T float](o, tb []T, id []int32, c int) {
	for n, tok := range id {
		copy(o[n*c:(n+1)*c], tb[int(tok)*c:(int(tok)+1)*c])
	}
}

// EmbeddingBackward: dtable (V,C) += dout (N,C) scattered by ids (N).
func (*Backend) EmbeddingBackward(dtable, dout, ids *tensor.Tensor) {
	if isF64(dtable) {
		embeddingBackward(f64(dtable), f64(dout), i32(ids), dtable.Cols())
		return
	}
	embeddingBackward(f32(dtable), f32(dout), i32(ids), dtable.Cols())
}

func embeddingBackward[T float](dt, d []T, id []int32, c int) {
	for n, tok := range id {
		row := dt[int(tok)*c : (int(tok)+1)*c]
		src := d[n*c : (n+1)*c]
		for j := range row {
			row[j] += src[j]
		}
	}
}

// RMSNorm: out (N,C) = x·rstd·w, rstd (N).
func (*Backend) RMSNorm(out, rstd, x, w *tensor.Tensor, eps float32) {
	if x.Cols() != w.Numel() || out.Numel() != x.Numel() || rstd.Numel() != x.Rows() {
		panic(fmt.Sprintf("cpu: RMSNorm out%v rstd%v x%v w%v", out.Shape, rstd.Shape, x.Shape, w.Shape))
	}
	if isF64(out) {
		rmsnorm(f64(out), f64(rstd), f64(x), f64(w), float64(eps))
		return
	}
	rmsnormF32(f32(out), f32(rstd), f32(x), f32(w), eps)
}

func rmsnorm[T float](o, rs, xs, ws []T, eps T) {
	c := len(ws)
	parallel(len(rs), 64, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			row := xs[n*c : (n+1)*c]
			var ss T
			for _, v := range row {
				ss += v * v
			}
			r := T(1 / math.Sqrt(float64(ss/T(c)+eps)))
			rs[n] = r
			orow := o[n*c : (n+1)*c]
			for j, v := range row {
				orow[j] = v * r * ws[j]
			}
		}
	})
}

// RMSNormBackward: with x̂ = x·rstd, y = x̂·w:
// dx = rstd·(dy·w − x̂·mean(dy·w·x̂)) (overwritten), dw += Σ_n dy·x̂.
func (*Backend) RMSNormBackward(dx, dw, dout, x, w, rstd *tensor.Tensor) {
	if isF64(dx) {
		rmsnormBackward(f64(dx), f64(dw), f64(dout), f64(x), f64(w), f64(rstd))
		return
	}
	rmsnormBackwardF32(f32(dx), f32(dw), f32(dout), f32(x), f32(w), f32(rstd))
}

func rmsnormBackward[T float](dxs, dws, dy, xs, ws, rs []T) {
	c := len(ws)
	nrows := len(rs)
	// dw is a reduction over rows: each worker sums into its own partial.
	workers := 1
	if nrows >= 128 {
		workers = 2
	}
	partial := make([][]T, workers)
	chunk := (nrows + workers - 1) / workers
	parallel(workers, 1, func(lo, hi int) {
		for wk := lo; wk < hi; wk++ {
			acc := make([]T, c)
			for n := wk * chunk; n < min((wk+1)*chunk, nrows); n++ {
				r := rs[n]
				xr, dyr, dxr := xs[n*c:(n+1)*c], dy[n*c:(n+1)*c], dxs[n*c:(n+1)*c]
				var dot T
				for j := range xr {
					xh := xr[j] * r
					dot += dyr[j] * ws[j] * xh
					acc[j] += dyr[j] * xh
				}
				dot /= T(c)
				for j := range xr {
					dxr[j] = r * (dyr[j]*ws[j] - xr[j]*r*dot)
				}
			}
			partial[wk] = acc
		}
	})
	for _, acc := range partial {
		for j := range dws {
			dws[j] += acc[j]
		}
	}
}

// RoPE rotates x (B,T,H,D) in place; pos (B,T); cos, sin (P, D/2).
func (*Backend) RoPE(x, cos, sin, pos *tensor.Tensor, inverse bool) {
	d, h := x.Shape[3], x.Shape[2]
	ps := i32(pos)
	if cos.Cols() != d/2 || len(ps) != x.Shape[0]*x.Shape[1] {
		panic(fmt.Sprintf("cpu: RoPE x%v cos%v pos%v", x.Shape, cos.Shape, pos.Shape))
	}
	for _, p := range ps {
		if p < 0 || int(p) >= cos.Rows() {
			panic(fmt.Sprintf("cpu: RoPE position %d outside the table [0,%d)", p, cos.Rows()))
		}
	}
	if isF64(x) {
		rope(f64(x), f64(cos), f64(sin), ps, h, d, inverse)
		return
	}
	rope(f32(x), f32(cos), f32(sin), ps, h, d, inverse)
}

func rope[T float](xs, cs, ss []T, ps []int32, h, d int, inverse bool) {
	half := d / 2
	sign := T(1)
	if inverse {
		sign = -1
	}
	parallel(len(ps), 16, func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			p := int(ps[bt])
			cr, sr := cs[p*half:(p+1)*half], ss[p*half:(p+1)*half]
			for hh := 0; hh < h; hh++ {
				v := xs[(bt*h+hh)*d : (bt*h+hh+1)*d]
				for i := 0; i < half; i++ {
					x1, x2 := v[i], v[i+half]
					c, s := cr[i], sign*sr[i]
					v[i] = x1*c - x2*s
					v[i+half] = x2*c + x1*s
				}
			}
		}
	})
}

// SwiGLU: out (N,F) = silu(gate)·up.
func (*Backend) SwiGLU(out, gate, up *tensor.Tensor) {
	mustSameNumel("SwiGLU", out, gate, up)
	if isF64(out) {
		swiglu(f64(out), f64(gate), f64(up))
		return
	}
	swigluPar(f32(out), f32(gate), f32(up))
}

func sigmoid[T float](x T) T { return 1 / (1 + expT(-x)) }

func swiglu[T float](o, g, u []T) {
	parallel(len(o), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o[i] = g[i] * sigmoid(g[i]) * u[i]
		}
	})
}

// SwiGLUBackward: dgate = dout·up·σ(g)(1+g(1−σ(g))), dup = dout·silu(g).
func (*Backend) SwiGLUBackward(dgate, dup, dout, gate, up *tensor.Tensor) {
	mustSameNumel("SwiGLUBackward", dgate, dup, dout, gate, up)
	if isF64(dgate) {
		swigluBackward(f64(dgate), f64(dup), f64(dout), f64(gate), f64(up))
		return
	}
	swigluBackwardPar(f32(dgate), f32(dup), f32(dout), f32(gate), f32(up))
}

func swigluBackward[T float](dg, du, d, g, u []T) {
	parallel(len(d), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sig := sigmoid(g[i])
			du[i] = d[i] * g[i] * sig
			dg[i] = d[i] * u[i] * sig * (1 + g[i]*(1-sig))
		}
	})
}

// LogSoftmaxGather: per row of logits (N,V): logp, lse, entropy (N).
func (*Backend) LogSoftmaxGather(logp, lse, entropy, logits, target *tensor.Tensor) {
	tg, v := i32(target), logits.Cols()
	for _, t := range tg {
		if int(t) >= v {
			panic(fmt.Sprintf("cpu: LogSoftmaxGather: target %d outside vocabulary [0,%d)", t, v))
		}
	}
	if isF64(logits) {
		logSoftmaxGather(f64(logp), f64(lse), f64(entropy), f64(logits), tg, v)
		return
	}
	logSoftmaxGatherF32(f32(logp), f32(lse), f32(entropy), f32(logits), tg, v)
}

func logSoftmaxGather[T float](lp, ls, ent, z []T, tg []int32, v int) {
	parallel(len(tg), 4, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			row := z[n*v : (n+1)*v]
			l, h := rowLSEEntropy(row)
			ls[n] = T(l)
			if ent != nil {
				ent[n] = T(h)
			}
			if t := tg[n]; t >= 0 {
				lp[n] = row[t] - T(l)
			} else {
				lp[n] = 0
			}
		}
	})
}

// rowLSEEntropy returns logsumexp(z) and the entropy of softmax(z),
// accumulated in float64 so that 150k-entry rows stay accurate.
func rowLSEEntropy[T float](z []T) (lse, entropy float64) {
	m := z[0]
	for _, x := range z {
		if x > m {
			m = x
		}
	}
	var s, sz float64
	for _, x := range z {
		d := x - m
		e := float64(expT(d))
		s += e
		if e > 0 { // a −Inf logit has p = 0 and adds nothing (0·−Inf is NaN)
			sz += e * float64(d)
		}
	}
	l := math.Log(s)
	// H = lse − E_p[z], both shifted by m.
	return float64(m) + l, l - sz/s
}

// LogSoftmaxGatherBackward overwrites logits (N,V) with the gradient:
// ∂logp/∂z_j = 1[j=t] − p_j and ∂H/∂z_j = −p_j(log p_j + H).
func (*Backend) LogSoftmaxGatherBackward(logits, lse, target, dlogp, dentropy *tensor.Tensor) {
	if isF64(logits) {
		logSoftmaxGatherBackward(f64(logits), f64(lse), i32(target), f64(dlogp), f64(dentropy), logits.Cols())
		return
	}
	logSoftmaxGatherBackwardF32(f32(logits), f32(lse), i32(target), f32(dlogp), f32(dentropy), logits.Cols())
}

func logSoftmaxGatherBackward[T float](z, ls []T, tg []int32, dlp, dent []T, v int) {
	parallel(len(tg), 4, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			row := z[n*v : (n+1)*v]
			l := ls[n]
			var g, ge T
			if dlp != nil && tg[n] >= 0 {
				g = dlp[n]
			}
			if dent != nil {
				ge = dent[n]
			}
			var h T
			if ge != 0 {
				_, hh := rowLSEEntropy(row)
				h = T(hh)
			}
			for j, x := range row {
				logp := x - l
				p := expT(logp)
				if p == 0 {
					row[j] = 0 // a −Inf logit: no gradient (0·−Inf is NaN)
					continue
				}
				row[j] = -g*p - ge*p*(logp+h)
			}
			if t := tg[n]; t >= 0 {
				row[t] += g
			}
		}
	})
}

// AdamW as PyTorch's torch.optim.AdamW: decoupled decay p ← p(1−lr·wd), then
// p ← p − lr·m̂/(√v̂+eps) with bias-corrected moments.
func (*Backend) AdamW(param, grad, m, v *tensor.Tensor, lr, beta1, beta2, eps, weightDecay float32, step int) {
	p, g, ms, vs := f32(param), f32(grad), f32(m), f32(v)
	bc1 := 1 - math.Pow(float64(beta1), float64(step))
	bc2 := 1 - math.Pow(float64(beta2), float64(step))
	stepSize := float32(float64(lr) / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	c := &adamConsts{beta1: beta1, omb1: 1 - beta1, beta2: beta2, omb2: 1 - beta2,
		sqrtBC2: sqrtBC2, eps: eps, decay: 1 - lr*weightDecay, stepSize: stepSize}
	g, ms, vs = g[:len(p)], ms[:len(p)], vs[:len(p)]
	parallel(len(p), 1<<15, func(lo, hi int) {
		adamwF32(p[lo:hi], g[lo:hi], ms[lo:hi], vs[lo:hi], c)
	})
}

// mustSameNumel is tensor.MustSameNumel with this backend's name.
func mustSameNumel(op string, ts ...*tensor.Tensor) { tensor.MustSameNumel("cpu: "+op, ts...) }
