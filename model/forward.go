package model

import (
	"fmt"
	"math"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/tensor"
)

// The decoder is written once (decoder below). Its two callers differ only
// in how tokens are laid out and in the attention step:
//
//   - Hidden: a padded (B,T) batch through the tape, dense causal attention
//     with the padding mask, gradients available;
//   - Forward: a flattened step of N new tokens (a batch of one row of N),
//     whose keys and values go into the paged KV cache and whose queries
//     attend over each sequence's cached prefix, with no tape kept.
//
// Heads (heads.go) read the final hidden states.

// attention is a decoder layer's attention step: given layer's q
// (B,T,Hq,D) and k (B,T,Hkv,D) after RoPE and v as projected (…,Hkv·D),
// it returns the output (…,Hq·D), with the residual stream's leading
// shape. Each step makes only the views its own kernels want (dense
// attention takes v as (B,T,Hkv,D), the paged kernels flat (N,H,D)
// views), so neither path pays for the other's on every layer.
type attention func(tp *autograd.Tape, layer int, q, k, v *autograd.Var) *autograd.Var

// pass is one forward pass's inputs on the device in the (B,T) layout; a
// paged step is one row of N tokens, with ids (N) so that the residual
// stream is (N,C).
type pass struct {
	b, t     int
	ids, pos *tensor.Tensor // (B,T) or (N); pos (B,T) or (1,N), I32
	cos, sin *tensor.Tensor // rotary tables covering every position in pos
	attend   attention
	// checkpoint recomputes each layer in the backward pass
	// (Model.GradientCheckpointing; training batches only).
	checkpoint bool
}

// attnScale is 1/√D, the scaled dot product's factor.
func (m *Model) attnScale() float32 { return float32(1 / math.Sqrt(float64(m.Config.HeadDim))) }

// decoder runs the embedding and every layer (pre-norm attention and
// SwiGLU MLP with residuals) and returns the residual stream (B,T,C), or
// (N,C) for a paged step, before the final norm, recording on tp. With
// p.checkpoint each layer is a tape segment (autograd.Checkpoint): its
// activations are recomputed in the backward pass instead of kept.
func (m *Model) decoder(tp *autograd.Tape, p pass) *autograd.Var {
	x := tp.Embedding(m.Embed, p.ids) // (B,T,C)
	for i := range m.Layers {
		if !p.checkpoint {
			x = m.layer(tp, i, x, p)
			continue
		}
		// The recomputation must draw the LoRA dropout masks the first
		// run drew: rewind the adapter's draw counter to where it was,
		// and put it back after.
		var draws uint64
		first := true
		x = tp.Checkpoint(x, func(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
			if a := m.Adapter; a != nil {
				if first {
					draws = a.draws
				} else {
					now := a.draws
					a.draws = draws
					defer func() { a.draws = now }()
				}
			}
			first = false
			return m.layer(tp, i, x, p)
		})
	}
	return x
}

// layer is decoder layer i on the residual stream x: x + attn(norm(x)),
// then + mlp(norm(·)).
func (m *Model) layer(tp *autograd.Tape, i int, x *autograd.Var, p pass) *autograd.Var {
	cfg := m.Config
	eps := float32(cfg.RMSNormEps)
	hq, hkv, d := cfg.Heads, cfg.KVHeads, cfg.HeadDim
	l := &m.Layers[i]
	h := tp.RMSNorm(x, l.AttnNorm, eps)
	q := tp.Reshape(l.Q.Forward(tp, h), p.b, p.t, hq, d)  // (B,T,Hq,D)
	k := tp.Reshape(l.K.Forward(tp, h), p.b, p.t, hkv, d) // (B,T,Hkv,D)
	v := l.V.Forward(tp, h)                               // (…,Hkv·D)
	if cfg.QKNorm {
		q = tp.RMSNorm(q, l.QNorm, eps)
		k = tp.RMSNorm(k, l.KNorm, eps)
	}
	q = tp.RoPE(q, p.cos, p.sin, p.pos)
	k = tp.RoPE(k, p.cos, p.sin, p.pos)
	a := p.attend(tp, i, q, k, v) // (…,Hq·D)
	x = tp.Add(x, l.O.Forward(tp, a))
	h = tp.RMSNorm(x, l.MLPNorm, eps)
	g := tp.SwiGLU(l.Gate.Forward(tp, h), l.Up.Forward(tp, h)) // (B,T,F)
	return tp.Add(x, l.Down.Forward(tp, g))
}

// Hidden runs the transformer on a batch and returns the final-normed hidden
// states (B,T,C), recording on tp for the backward pass. Activations are in
// tp.DType (see NewTape). Everything it allocates belongs to tp (valid
// until tp.Reset).
func (m *Model) Hidden(tp *autograd.Tape, b Batch) (*autograd.Var, error) {
	cfg := m.Config
	if err := b.check(cfg.VocabSize); err != nil {
		return nil, err
	}
	pos := b.positions()
	var maxPos int32
	for _, p := range pos {
		maxPos = max(maxPos, p)
	}
	cos, sin := m.ropeTables(int(maxPos) + 1)
	ids := tp.Own(m.Dev.UploadInt32(b.IDs, b.B, b.T)) // (B,T)
	posT := tp.Own(m.Dev.UploadInt32(pos, b.B, b.T))  // (B,T)
	var mask *tensor.Tensor
	if b.Mask != nil {
		mask = tp.Own(m.Dev.UploadInt32(b.Mask, b.B, b.T)) // (B,T)
	}
	hq, hkv, d := cfg.Heads, cfg.KVHeads, cfg.HeadDim
	scale := m.attnScale()
	x := m.decoder(tp, pass{b: b.B, t: b.T, ids: ids, pos: posT, cos: cos, sin: sin, checkpoint: m.GradientCheckpointing,
		attend: func(tp *autograd.Tape, _ int, q, k, v *autograd.Var) *autograd.Var {
			v = tp.Reshape(v, b.B, b.T, hkv, d)     // (B,T,Hkv,D)
			a := tp.Attention(q, k, v, mask, scale) // (B,T,Hq,D): causal, padding masked
			return tp.Reshape(a, b.B, b.T, hq*d)
		}})
	return tp.RMSNorm(x, m.Norm, float32(cfg.RMSNormEps)), nil
}

// Forward runs one step: writes the new tokens' keys and values into the
// cache, attends over each sequence's cached prefix, and returns logits
// (R,V) for the requested rows, in the model's dtype. No tape is recorded.
// The logits are the caller's to Free; every other temporary of the step
// is freed before Forward returns, so decoding runs in constant memory
// besides the cache.
func (m *Model) Forward(st *Step, cache *KVCache) (*tensor.Tensor, error) {
	cfg := m.Config
	if m.LMHead == nil {
		return nil, fmt.Errorf("model: Forward needs an LM head; this %s has none", m.describeHeads())
	}
	n := len(st.IDs)
	if n == 0 || len(st.Positions) != n || len(st.Slots) != n || len(st.SeqIdx) != n || len(st.Rows) == 0 {
		return nil, fmt.Errorf("model: malformed step: %d ids, %d positions, %d slots, %d seq indices, %d rows",
			n, len(st.Positions), len(st.Slots), len(st.SeqIdx), len(st.Rows))
	}
	var maxPos int32
	seqLens := make([]int32, n)
	for i, p := range st.Positions {
		maxPos = max(maxPos, p)
		seqLens[i] = p + 1
	}
	if int(maxPos) >= st.MaxBlocks*cache.BlockSize {
		return nil, fmt.Errorf("model: position %d does not fit %d blocks of %d", maxPos, st.MaxBlocks, cache.BlockSize)
	}
	for _, id := range st.IDs {
		if id < 0 || int(id) >= cfg.VocabSize {
			return nil, fmt.Errorf("model: token id %d outside the vocabulary [0,%d)", id, cfg.VocabSize)
		}
	}
	dev := m.Dev
	cos, sin := m.ropeTables(int(maxPos) + 1)
	tp := m.NewTape()
	tp.NoGrad = true
	defer tp.Reset()
	// ids, slots, seqIdx, lens (N); pos (1,N): one row of N tokens; table (S,MaxBlocks).
	ids := tp.Own(dev.UploadInt32(st.IDs, n))
	pos := tp.Own(dev.UploadInt32(st.Positions, 1, n))
	slots := tp.Own(dev.UploadInt32(st.Slots, n))
	seqIdx := tp.Own(dev.UploadInt32(st.SeqIdx, n))
	lens := tp.Own(dev.UploadInt32(seqLens, n))
	table := tp.Own(dev.UploadInt32(st.BlockTable, len(st.BlockTable)/st.MaxBlocks, st.MaxBlocks))
	hq, hkv, d := cfg.Heads, cfg.KVHeads, cfg.HeadDim
	scale := m.attnScale()
	x := m.decoder(tp, pass{b: 1, t: n, ids: ids, pos: pos, cos: cos, sin: sin,
		attend: func(tp *autograd.Tape, i int, q, k, v *autograd.Var) *autograd.Var {
			dev.KVWrite(cache.K[i], cache.V[i], k.Val.Reshape(n, hkv, d), v.Val.Reshape(n, hkv, d), slots)
			a := tp.AllocOut(tp.DType, n, hq, d) // (N,Hq,D), every token's row written
			dev.PagedAttention(a, q.Val.Reshape(n, hq, d), cache.K[i], cache.V[i], table, seqIdx, lens, cache.BlockSize, scale)
			return autograd.Const(a.Reshape(n, hq*d))
		}})
	// Only the requested rows go through the final norm and the LM head.
	sel := tp.Embedding(x, tp.Own(dev.UploadInt32(st.Rows, len(st.Rows)))) // (R,C) = x (N,C)[rows]
	h := tp.RMSNorm(sel, m.Norm, float32(cfg.RMSNormEps))
	return tp.Detach(m.LMHead.Forward(tp, h)) // (R,V)
}
