package model

import (
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

// NewKVCache allocates a cache for m with numBlocks blocks of blockSize,
// in the model's dtype.
func (m *Model) NewKVCache(numBlocks, blockSize int) *KVCache {
	c := &KVCache{BlockSize: blockSize, NumBlocks: numBlocks}
	for range m.Layers {
		c.K = append(c.K, m.Dev.New(m.DType, numBlocks*blockSize, m.Config.KVHeads, m.Config.HeadDim))
		c.V = append(c.V, m.Dev.New(m.DType, numBlocks*blockSize, m.Config.KVHeads, m.Config.HeadDim))
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
