package model

import (
	"fmt"
	"math"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/tensor"
)

// KVCache holds keys and values of every layer in fixed-size blocks of
// slots: layer l's keys are K[l] (NumBlocks·BlockSize, Hkv, D). Which
// blocks belong to which sequence is the caller's business (package sample
// keeps the block tables and reference counts), which is what lets samples
// share a prompt's blocks and lets sequences join and leave a running batch.
type KVCache struct {
	BlockSize, NumBlocks int
	K, V                 []*tensor.Tensor
}

// NewKVCache allocates a cache for m with numBlocks blocks of blockSize.
func (m *Model) NewKVCache(numBlocks, blockSize int) *KVCache {
	c := &KVCache{BlockSize: blockSize, NumBlocks: numBlocks}
	for range m.Layers {
		c.K = append(c.K, m.Dev.New(tensor.F32, numBlocks*blockSize, m.Config.KVHeads, m.Config.HeadDim))
		c.V = append(c.V, m.Dev.New(tensor.F32, numBlocks*blockSize, m.Config.KVHeads, m.Config.HeadDim))
	}
	return c
}

// Bytes is the cache's memory.
func (c *KVCache) Bytes() int64 {
	var n int64
	for i := range c.K {
		n += c.K[i].Bytes() + c.V[i].Bytes()
	}
	return n
}

// Step is one flattened forward pass over new tokens of several sequences
// (prefill chunks and single decode tokens alike), vLLM-style.
type Step struct {
	IDs       []int32 // (N) new tokens
	Positions []int32 // (N) their positions in their sequence
	Slots     []int32 // (N) cache slot receiving each token's k/v
	SeqIdx    []int32 // (N) row of BlockTable of each token's sequence
	// BlockTable (S × MaxBlocks) lists each sequence's cache blocks in order.
	BlockTable []int32
	MaxBlocks  int
	// Rows (R) are the token indices whose logits are wanted (usually the
	// last new token of each sequence).
	Rows []int32
}

// Free releases the cache's blocks; the cache must not be used afterwards.
func (c *KVCache) Free(dev tensor.Backend) {
	for i := range c.K {
		dev.Free(c.K[i])
		dev.Free(c.V[i])
	}
	c.K, c.V = nil, nil
}

// Forward runs one step: writes the new tokens' keys and values into the
// cache, attends over each sequence's cached prefix, and returns logits
// (R,V) for the requested rows. No tape is recorded. The logits are the
// caller's to Free; every other temporary of the step is freed before
// Forward returns, so decoding runs in constant memory besides the cache.
func (m *Model) Forward(st *Step, cache *KVCache) (*tensor.Tensor, error) {
	cfg := m.Config
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
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	defer tp.Reset()
	// ids, slots, seqIdx, lens (N); pos (1,N); table (S,MaxBlocks).
	ids := tp.Own(dev.UploadInt32(st.IDs, n))
	pos := tp.Own(dev.UploadInt32(st.Positions, 1, n))
	slots := tp.Own(dev.UploadInt32(st.Slots, n))
	seqIdx := tp.Own(dev.UploadInt32(st.SeqIdx, n))
	lens := tp.Own(dev.UploadInt32(seqLens, n))
	table := tp.Own(dev.UploadInt32(st.BlockTable, len(st.BlockTable)/st.MaxBlocks, st.MaxBlocks))
	eps := float32(cfg.RMSNormEps)
	d := cfg.HeadDim
	scale := float32(1 / math.Sqrt(float64(d)))
	x := tp.Embedding(m.Embed, ids) // (N,C)
	for i := range m.Layers {
		l := &m.Layers[i]
		h := tp.RMSNorm(x, l.AttnNorm, eps)
		q := tp.Reshape(tp.Linear(h, l.Q, l.QBias), 1, n, cfg.Heads, d)
		k := tp.Reshape(tp.Linear(h, l.K, l.KBias), 1, n, cfg.KVHeads, d)
		v := tp.Linear(h, l.V, l.VBias)
		if cfg.QKNorm {
			q = tp.RMSNorm(q, l.QNorm, eps)
			k = tp.RMSNorm(k, l.KNorm, eps)
		}
		q = tp.RoPE(q, cos, sin, pos)
		k = tp.RoPE(k, cos, sin, pos)
		dev.KVWrite(cache.K[i], cache.V[i], k.Val.Reshape(n, cfg.KVHeads, d), v.Val.Reshape(n, cfg.KVHeads, d), slots)
		a := tp.Own(dev.New(tensor.F32, n, cfg.Heads, d)) // (N,Hq,D)
		dev.PagedAttention(a, q.Val.Reshape(n, cfg.Heads, d), cache.K[i], cache.V[i], table, seqIdx, lens, cache.BlockSize, scale)
		x = tp.Add(x, tp.Linear(autograd.Const(a.Reshape(n, cfg.Heads*d)), l.O, l.OBias))
		h = tp.RMSNorm(x, l.MLPNorm, eps)
		g := tp.SwiGLU(tp.Linear(h, l.Gate, l.GateBias), tp.Linear(h, l.Up, l.UpBias))
		x = tp.Add(x, tp.Linear(g, l.Down, l.DownBias))
	}
	// Only the requested rows go through the final norm and the LM head.
	sel := tp.Embedding(x, tp.Own(dev.UploadInt32(st.Rows, len(st.Rows)))) // (R,C)
	h := tp.RMSNorm(sel, m.Norm, eps)
	return tp.Detach(tp.Linear(h, m.LMHead, nil)) // (R,V)
}
