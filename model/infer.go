package model

import (
	"fmt"
	"strings"

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
// stored as dt (see KVCacheDType); attention computes in float32 either way.
func (m *Model) NewKVCache(numBlocks, blockSize int, dt tensor.DType) *KVCache {
	c := &KVCache{BlockSize: blockSize, NumBlocks: numBlocks}
	for range m.Layers {
		c.K = append(c.K, m.Dev.New(dt, numBlocks*blockSize, m.Config.KVHeads, m.Config.HeadDim))
		c.V = append(c.V, m.Dev.New(dt, numBlocks*blockSize, m.Config.KVHeads, m.Config.HeadDim))
	}
	return c
}

// KVCacheDType resolves a KV cache storage name (vLLM's --kv-cache-dtype,
// see ParseKVCacheDType) for m: auto is the model's dtype, and an F32 cache
// needs a model computing in F32 (the CUDA backend keeps BF16 caches).
func (m *Model) KVCacheDType(name string) (tensor.DType, error) {
	dt, set, err := ParseKVCacheDType(name)
	switch {
	case err != nil:
		return 0, err
	case !set:
		return m.DType, nil
	case dt == tensor.F32 && m.DType != tensor.F32:
		return 0, fmt.Errorf("kv cache dtype f32: the %s backend keeps its KV cache in %v", m.Dev.Name(), m.DType)
	}
	return dt, nil
}

// ParseKVCacheDType checks a KV cache storage name: "" or "auto" (set =
// false) is the model's dtype (F32 on the CPU, BF16 on the GPU); "bf16"
// halves a CPU cache's memory and the bytes each decode step reads, at
// bfloat16's 8-bit mantissa for keys and values (what the GPU keeps
// anyway); "f32" is full precision.
func ParseKVCacheDType(name string) (dt tensor.DType, set bool, err error) {
	switch strings.ToLower(name) {
	case "", "auto":
		return 0, false, nil
	case "bf16", "bfloat16":
		return tensor.BF16, true, nil
	case "f32", "float32":
		return tensor.F32, true, nil
	}
	return 0, false, fmt.Errorf("kv cache dtype %q: want auto, bf16 or f32", name)
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
