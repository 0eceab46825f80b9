package bench

import "github.com/r1go/r1/model"

// matmulParams counts the weights a token multiplies by: every parameter
// but the input embedding, which a token only looks up one row of (with
// tied embeddings the LM head multiplies by that matrix, so it counts).
func matmulParams(c *model.Config) float64 {
	n := float64(c.NumParams())
	if !c.TieEmbeddings {
		n -= float64(c.VocabSize) * float64(c.Hidden)
	}
	return n
}

// TrainFLOPsPerToken is the work of training on one token of a seq-token
// sequence, forward and backward: 6 FLOPs per multiplied weight plus
// attention's 12·layers·seq·(heads·head_dim) (the PaLM paper's MFU
// count, Chowdhery et al. 2022, appendix B, with the input embedding left
// out as a lookup).
func TrainFLOPsPerToken(c *model.Config, seq int) float64 {
	return 6*matmulParams(c) + 12*float64(c.Layers)*float64(seq)*float64(c.Heads*c.HeadDim)
}

// DecodeStep is the work of one decode step of batch sequences whose
// caches hold ctx positions: FLOPs (2 per multiplied weight per sequence
// plus the scores and the weighted values over the context), and the bytes
// it must read from memory (every weight once, in float32 as the CPU keeps
// them, and each sequence's keys and values at kvBytes per element).
func DecodeStep(c *model.Config, batch int, ctx float64, kvBytes int) (flops, bytes float64) {
	b := float64(batch)
	attn := 4 * float64(c.Layers) * float64(c.Heads*c.HeadDim) * ctx
	flops = b * (2*matmulParams(c) + attn)
	kv := b * ctx * float64(c.Layers) * 2 * float64(c.KVHeads*c.HeadDim) * float64(kvBytes)
	return flops, 4*matmulParams(c) + kv
}

// RooflineTokPerS is the fastest a decode of batch sequences can run on a
// machine with the given float32 peak (GFLOP/s) and read bandwidth (GB/s):
// each step takes at least its FLOPs at the peak and its bytes at the
// bandwidth. Batch 1 is bound by the bytes (the memory-bandwidth floor),
// large batches by the FLOPs.
func RooflineTokPerS(c *model.Config, batch int, ctx float64, kvBytes int, gflops, gbps float64) float64 {
	flops, bytes := DecodeStep(c, batch, ctx, kvBytes)
	step := max(flops/(gflops*1e9), bytes/(gbps*1e9))
	return float64(batch) / step
}
