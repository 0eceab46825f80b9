package autograd

import (
	"fmt"

	"github.com/r1go/r1/tensor"
)

// Embedding: out (N,C) = table (V,C)[ids (N)].
func (tp *Tape) Embedding(table *Var, ids *tensor.Tensor) *Var {
	c := table.Val.Cols()
	out := tp.newVar(append(append([]int(nil), ids.Shape...), c)...)
	tp.Dev.Embedding(out.Val, table.Val, ids)
	tp.record(out, func() {
		tp.Dev.EmbeddingBackward(table.grad(), out.Grad, ids)
	}, table)
	return out
}

// Linear: y (…,Out) = x (…,In) · Wᵀ (W is (Out,In), the HF layout) + b (Out).
func (tp *Tape) Linear(x, w, b *Var) *Var {
	in, outF := w.Val.Cols(), w.Val.Rows()
	if x.Val.Cols() != in {
		panic(fmt.Sprintf("autograd: Linear x%v · W%vᵀ", x.Val.Shape, w.Val.Shape))
	}
	shape := append(append([]int(nil), x.Val.Shape[:len(x.Val.Shape)-1]...), outF)
	y := tp.newOutVar(shape...)
	tp.Dev.MatMul(y.Val, x.Val, w.Val, false, true, 1, 0)
	if b != nil {
		tp.Dev.AddBias(y.Val, b.Val)
	}
	tp.record(y, func() {
		if x.RequiresGrad { // dx (N,In) += dy (N,Out) · W (Out,In)
			tp.Dev.MatMul(x.grad(), y.Grad, w.Val, false, false, 1, 1)
		}
		if w.RequiresGrad { // dW (Out,In) += dyᵀ (Out,N) · x (N,In)
			tp.Dev.MatMul(w.grad(), y.Grad, x.Val, true, false, 1, 1)
		}
		if b != nil && b.RequiresGrad {
			tp.Dev.SumRowsAcc(b.grad(), y.Grad)
		}
	}, x, w, b)
	return y
}

// LoRALinear is a linear layer with a LoRA adapter (Hu et al. 2021):
//
//	y (…,Out) = x·Wᵀ + bias + scale·(xd·Aᵀ)·Bᵀ
//
// with W (Out,In), bias (Out) or nil, A (r,In), B (Out,r), and xd the
// adapter's input: x itself, or x after dropout (MulConst), which the
// adapter path alone sees, as in PEFT. The rank-r product xd·Aᵀ is the only
// activation it keeps besides x and xd; the update scale·B·A is never
// formed. Frozen W and bias (RequiresGrad false) get no gradient.
func (tp *Tape) LoRALinear(x, w, bias, xd, a, b *Var, scale float32) *Var {
	in, outF, r := w.Val.Cols(), w.Val.Rows(), a.Val.Rows()
	if x.Val.Cols() != in || xd.Val.Cols() != in || a.Val.Cols() != in || b.Val.Rows() != outF || b.Val.Cols() != r ||
		xd.Val.Numel() != x.Val.Numel() {
		panic(fmt.Sprintf("autograd: LoRALinear x%v W%v xd%v A%v B%v", x.Val.Shape, w.Val.Shape, xd.Val.Shape, a.Val.Shape, b.Val.Shape))
	}
	shape := append(append([]int(nil), x.Val.Shape[:len(x.Val.Shape)-1]...), outF)
	y := tp.newOutVar(shape...)
	tp.Dev.MatMul(y.Val, x.Val, w.Val, false, true, 1, 0)
	if bias != nil {
		tp.Dev.AddBias(y.Val, bias.Val)
	}
	t := tp.alloc(tp.DType, x.Val.Rows(), r) // (N,r) = xd·Aᵀ
	tp.Dev.MatMul(t, xd.Val, a.Val, false, true, 1, 0)
	tp.Dev.MatMul(y.Val, t, b.Val, false, true, scale, 1) // y += scale·t·Bᵀ
	tp.record(y, func() {
		dy := y.Grad
		if x.RequiresGrad { // dx (N,In) += dy·W
			tp.Dev.MatMul(x.grad(), dy, w.Val, false, false, 1, 1)
		}
		if w.RequiresGrad {
			tp.Dev.MatMul(w.grad(), dy, x.Val, true, false, 1, 1)
		}
		if bias != nil && bias.RequiresGrad {
			tp.Dev.SumRowsAcc(bias.grad(), dy)
		}
		if b.RequiresGrad { // dB (Out,r) += scale·dyᵀ·t
			tp.Dev.MatMul(b.grad(), dy, t, true, false, scale, 1)
		}
		if !a.RequiresGrad && !xd.RequiresGrad {
			return
		}
		dt := tp.alloc(tp.DType, x.Val.Rows(), r) // (N,r) = scale·dy·B
		tp.Dev.MatMul(dt, dy, b.Val, false, false, scale, 0)
		if a.RequiresGrad { // dA (r,In) += dtᵀ·xd
			tp.Dev.MatMul(a.grad(), dt, xd.Val, true, false, 1, 1)
		}
		if xd.RequiresGrad { // dxd (N,In) += dt·A (into x's gradient when xd is x)
			tp.Dev.MatMul(xd.grad(), dt, a.Val, false, false, 1, 1)
		}
		tp.release(dt)
	}, x, w, bias, xd, a, b)
	return y
}

// MulConst: out = x ⊙ m for a constant m of x's shape (a dropout mask:
// 0 where dropped, 1/(1−p) where kept); dx += dout ⊙ m.
func (tp *Tape) MulConst(x *Var, m *tensor.Tensor) *Var {
	tensor.MustSameShape("MulConst", x.Val, m)
	out := tp.newOutVar(x.Val.Shape...)
	tp.Dev.Mul(out.Val, x.Val, m)
	tp.record(out, func() {
		dx := tp.alloc(gradType(x.Val.DType), x.Val.Shape...)
		tp.Dev.Mul(dx, out.Grad, m)
		tp.accumulateTemp(x, dx)
	}, x)
	return out
}

// RMSNorm over the last dimension: y = x / sqrt(mean(x²)+eps) · w.
func (tp *Tape) RMSNorm(x, w *Var, eps float32) *Var {
	y := tp.newOutVar(x.Val.Shape...)
	rstd := tp.alloc(tp.DType, x.Val.Rows()) // (N)
	tp.Dev.RMSNorm(y.Val, rstd, x.Val, w.Val, eps)
	tp.record(y, func() {
		dx := tp.alloc(tp.DType, x.Val.Shape...)
		var dw *tensor.Tensor
		if w.RequiresGrad {
			dw = w.grad()
		} else { // the kernel always writes dw: give it a scratch buffer
			dw = tp.alloc(tp.DType, w.Val.Shape...)
			defer tp.release(dw)
		}
		tp.Dev.RMSNormBackward(dx, dw, y.Grad, x.Val, w.Val, rstd)
		tp.accumulateTemp(x, dx)
	}, x, w)
	return y
}

// RoPE rotates x (B,T,H,D) by the angles of pos (B,T) from the cos/sin
// tables (P, D/2). The backward pass is the inverse rotation.
func (tp *Tape) RoPE(x *Var, cos, sin, pos *tensor.Tensor) *Var {
	y := tp.newOutVar(x.Val.Shape...)
	tp.Dev.Copy(y.Val, x.Val)
	tp.Dev.RoPE(y.Val, cos, sin, pos, false)
	tp.record(y, func() {
		dx := tp.alloc(tp.DType, x.Val.Shape...)
		tp.Dev.Copy(dx, y.Grad)
		tp.Dev.RoPE(dx, cos, sin, pos, true)
		tp.accumulateTemp(x, dx)
	}, x)
	return y
}

// Attention: causal grouped-query attention of q (B,T,Hq,D) over k, v
// (B,T,Hkv,D) with padding mask (B,T) (nil = none); out (B,T,Hq,D).
func (tp *Tape) Attention(q, k, v *Var, mask *tensor.Tensor, scale float32) *Var {
	b, t, hq := q.Val.Shape[0], q.Val.Shape[1], q.Val.Shape[2]
	out := tp.newVar(q.Val.Shape...)
	lse := tp.alloc(tp.DType, b, hq, t) // (B,Hq,T)
	tp.Dev.Attention(out.Val, lse, q.Val, k.Val, v.Val, mask, scale)
	tp.record(out, func() {
		dq := tp.alloc(tp.DType, q.Val.Shape...)
		dk := tp.alloc(tp.DType, k.Val.Shape...)
		dv := tp.alloc(tp.DType, v.Val.Shape...)
		tp.Dev.AttentionBackward(dq, dk, dv, out.Grad, out.Val, lse, q.Val, k.Val, v.Val, mask, scale)
		tp.accumulateTemp(q, dq)
		tp.accumulateTemp(k, dk)
		tp.accumulateTemp(v, dv)
	}, q, k, v)
	return out
}

// SwiGLU: silu(gate)·up, both (N,F).
func (tp *Tape) SwiGLU(gate, up *Var) *Var {
	tensor.MustSameShape("SwiGLU", gate.Val, up.Val)
	out := tp.newOutVar(gate.Val.Shape...)
	tp.Dev.SwiGLU(out.Val, gate.Val, up.Val)
	tp.record(out, func() {
		dg := tp.alloc(tp.DType, gate.Val.Shape...)
		du := tp.alloc(tp.DType, up.Val.Shape...)
		tp.Dev.SwiGLUBackward(dg, du, out.Grad, gate.Val, up.Val)
		tp.accumulateTemp(gate, dg)
		tp.accumulateTemp(up, du)
	}, gate, up)
	return out
}

// Add: the residual connection a + b.
func (tp *Tape) Add(a, b *Var) *Var {
	out := tp.newOutVar(a.Val.Shape...)
	tp.Dev.Add(out.Val, a.Val, b.Val)
	tp.record(out, func() {
		// out's gradient is final once its backward runs, so a may take it
		// over; b adds it (for Add(a, a) that doubles it in place: right).
		if out.gbuf != nil {
			tp.accumulateOwned(a, out.Grad, out.gbuf)
		} else {
			tp.accumulate(a, out.Grad)
		}
		tp.accumulate(b, out.Grad)
	}, a, b)
	return out
}

// DefaultChunkElems bounds the logits held at once by TokenLogProbs
// (rows·V ≤ this): 16M floats = 64 MB, so a 150k vocabulary takes ~111 rows
// per chunk and B×T×V is never materialised. Each chunk streams the whole
// output embedding through the cache (98 MB at llama-112m), so chunks of
// too few rows make the head's products wait on memory: at 4M floats (131
// rows of 32,000) llama-112m trained 319–343 tok/s, at 16M 362–368 for
// +0.1 GB peak RSS, at 32M no faster (r1 bench, interleaved).
const DefaultChunkElems = 1 << 24

// TokenLogProbs computes, for hidden states h (N,C) and the output
// embedding w (V,C), the log-probability of target (N) under softmax(h·wᵀ)
// and the entropy of that distribution, chunk by chunk over the rows. The
// backward pass recomputes each chunk's logits instead of storing them.
// Targets < 0 give logp 0 and no gradient (padding).
func (tp *Tape) TokenLogProbs(h, w *Var, target *tensor.Tensor, chunkElems int) (logp, entropy *Var) {
	n, v := h.Val.Rows(), w.Val.Rows()
	if w.Val.Cols() != h.Val.Cols() || target.Numel() != n {
		panic(fmt.Sprintf("autograd: TokenLogProbs h%v w%v target%v", h.Val.Shape, w.Val.Shape, target.Shape))
	}
	if chunkElems <= 0 {
		chunkElems = DefaultChunkElems
	}
	rows := max(1, chunkElems/v)
	h2 := h.Val.Reshape(n, h.Val.Cols())
	logp, entropy = tp.newVar(n), tp.newVar(n)
	lse := tp.alloc(tp.DType, n)
	forChunks := func(fn func(lo, hi int, logits *tensor.Tensor)) {
		buf := tp.Dev.New(tp.DType, min(rows, n), v)
		for lo := 0; lo < n; lo += rows {
			hi := min(lo+rows, n)
			logits := tp.Dev.SliceRows(buf, 0, hi-lo)
			tp.Dev.MatMul(logits, tp.Dev.SliceRows(h2, lo, hi), w.Val, false, true, 1, 0) // (n,V) = h·wᵀ
			fn(lo, hi, logits)
		}
		tp.Dev.Free(buf)
	}
	forChunks(func(lo, hi int, logits *tensor.Tensor) {
		tp.Dev.LogSoftmaxGather(tp.Dev.SliceRows(logp.Val, lo, hi), tp.Dev.SliceRows(lse, lo, hi),
			tp.Dev.SliceRows(entropy.Val, lo, hi), logits, tp.Dev.SliceRows(target, lo, hi))
	})
	bw := func() {
		var dh *tensor.Tensor
		if h.RequiresGrad {
			dh = h.grad().Reshape(n, h.Val.Cols())
		}
		forChunks(func(lo, hi int, logits *tensor.Tensor) {
			var dlp, dent *tensor.Tensor
			if logp.Grad != nil {
				dlp = tp.Dev.SliceRows(logp.Grad, lo, hi)
			}
			if entropy.Grad != nil {
				dent = tp.Dev.SliceRows(entropy.Grad, lo, hi)
			}
			tp.Dev.LogSoftmaxGatherBackward(logits, tp.Dev.SliceRows(lse, lo, hi), tp.Dev.SliceRows(target, lo, hi), dlp, dent)
			if dh != nil { // dh (n,C) += dlogits (n,V) · w (V,C)
				tp.Dev.MatMul(tp.Dev.SliceRows(dh, lo, hi), logits, w.Val, false, false, 1, 1)
			}
			if w.RequiresGrad { // dw (V,C) += dlogitsᵀ (V,n) · h (n,C)
				tp.Dev.MatMul(w.grad(), logits, tp.Dev.SliceRows(h2, lo, hi), true, false, 1, 1)
			}
		})
	}
	if !tp.NoGrad && (h.RequiresGrad || w.RequiresGrad) {
		logp.RequiresGrad, entropy.RequiresGrad = true, true
		tp.backward = append(tp.backward, step{run: func() {
			if logp.Grad != nil || entropy.Grad != nil {
				bw()
			}
		}, outs: []*Var{logp, entropy}})
	}
	return logp, entropy
}

// GatherRows: out (M,C) = x (N,C)[idx (M)]; the gradient scatters back.
// (The same kernels as Embedding: a table lookup is a row gather.)
func (tp *Tape) GatherRows(x *Var, idx *tensor.Tensor) *Var {
	return tp.Embedding(tp.Reshape(x, x.Val.Rows(), x.Val.Cols()), idx)
}

// ScatterRows: out (N,C) = 0 except out[idx[m]] = in[m] for in (M,C) with
// distinct idx; the gradient gathers. It undoes GatherRows for outputs
// computed on a subset of rows (e.g. log-probs of completion tokens only).
func (tp *Tape) ScatterRows(in *Var, idx *tensor.Tensor, n int) *Var {
	c := in.Val.Cols()
	out := tp.newVar(n, c)
	tp.Dev.EmbeddingBackward(out.Val, in.Val.Reshape(in.Val.Rows(), c), idx)
	tp.record(out, func() {
		din := tp.alloc(tp.DType, in.Val.Rows(), c)
		tp.Dev.Embedding(din, out.Grad, idx)
		if !tp.accumulateOwned(in, din.Reshape(in.Val.Shape...), &gradBuf{t: din}) {
			tp.release(din)
		}
	}, in)
	return out
}
