package tensor

// Backend is a compute device. Every kernel works on whole tensors that the
// backend owns; shapes are documented per kernel in the llm.c style
// (B,T,C) and checked by the backend. Kernels write their outputs in place:
// the caller allocates outputs with New, which lets an autograd tape reuse
// buffers and lets the CUDA backend keep everything on the device.
//
// Conventions shared by all kernels:
//   - Matrices are row-major; an (…, C) tensor is a (Rows, C) matrix.
//   - "acc" outputs (named d*Acc, or documented as +=) accumulate, so that
//     gradients of shared weights and of gradient-accumulation steps add up.
//   - Activations are F32 on the CPU backend; the CUDA backend stores BF16
//     and accumulates in F32. Index tensors (ids, positions, masks) are I32.
type Backend interface {
	// Name is "cpu" or "cuda:N".
	Name() string
	// ComputeDType is the dtype the device prefers for weights, activations
	// and KV caches: F32 on the CPU, BF16 on the GPU. Models default to it.
	ComputeDType() DType

	// --- memory ---

	// New allocates a zeroed tensor.
	New(dt DType, shape ...int) *Tensor
	// Upload copies host float32 data into a new tensor of dtype dt,
	// rounding to nearest even for 16-bit types.
	Upload(data []float32, dt DType, shape ...int) *Tensor
	// UploadInt32 copies host int32 data into a new I32 tensor.
	UploadInt32(data []int32, shape ...int) *Tensor
	// Download copies a tensor to the host as float32.
	Download(t *Tensor) []float32
	// DownloadInt32 copies an I32 tensor to the host.
	DownloadInt32(t *Tensor) []int32
	// Free releases the storage now (the CPU backend leaves it to the GC).
	Free(t *Tensor)
	// SliceRows returns a view of rows [start, end) of t seen as a matrix
	// (Rows, Cols) — the first dimension for 2-D tensors. No copy.
	SliceRows(t *Tensor, start, end int) *Tensor

	// --- elementwise ---

	// Copy dst = src (converting dtype when they differ).
	Copy(dst, src *Tensor)
	// Fill sets every element to v.
	Fill(t *Tensor, v float32)
	// Scale t *= s.
	Scale(t *Tensor, s float32)
	// Axpy y += a·x.
	Axpy(y *Tensor, a float32, x *Tensor)
	// Add out = a + b (out may alias a or b): the residual connection.
	Add(out, a, b *Tensor)
	// Mul out = a ⊙ b, elementwise (out may alias a or b): a dropout mask
	// applied to activations (LoRA's lora_dropout) and its backward pass.
	Mul(out, a, b *Tensor)
	// SumSquares returns Σ t², accumulated in float64 (gradient norms).
	SumSquares(t *Tensor) float64
	// AllFinite reports whether no element is NaN or ±Inf.
	AllFinite(t *Tensor) bool

	// --- linear algebra ---

	// MatMul c = alpha·op(a)·op(b) + beta·c with a, b, c seen as matrices;
	// op(x) is x or xᵀ. A linear layer y = x·Wᵀ is MatMul(y, x, W, false, true, 1, 0).
	MatMul(c, a, b *Tensor, transA, transB bool, alpha, beta float32)
	// AddBias out(N,C) += bias(C).
	AddBias(out, bias *Tensor)
	// SumRowsAcc dbias(C) += Σ_n dout(N,C): the bias gradient.
	SumRowsAcc(dbias, dout *Tensor)

	// --- transformer ops (forward/backward pairs) ---

	// Embedding out(N,C) = table(V,C)[ids(N)]. Ids outside [0,V) are an error
	// reported by panic with the id.
	Embedding(out, table, ids *Tensor)
	// EmbeddingBackward dtable(V,C) += scatter of dout(N,C) by ids(N).
	EmbeddingBackward(dtable, dout, ids *Tensor)

	// RMSNorm out(N,C) = x·rstd·w with rstd(N) = 1/sqrt(mean(x²)+eps) saved
	// for the backward pass.
	RMSNorm(out, rstd, x, w *Tensor, eps float32)
	// RMSNormBackward dx(N,C) = ∂/∂x (overwritten), dw(C) += ∂/∂w.
	RMSNormBackward(dx, dw, dout, x, w, rstd *Tensor)

	// RoPE rotates x(B,T,H,D) in place by the angles of each row's position:
	// pos(B,T) indexes cos/sin tables (P, D/2), HF rotate-half layout (the
	// pair of element i is i+D/2). inverse rotates by −θ: the backward pass.
	RoPE(x, cos, sin, pos *Tensor, inverse bool)

	// Attention is causal grouped-query attention.
	//   q (B,T,Hq,D), k,v (B,T,Hkv,D), Hq a multiple of Hkv;
	//   mask (B,T) I32 segment ids: 0 = padding, k > 0 = the k-th sample of
	//   the row (1 everywhere for an unpacked row; nil: no padding), k < 0
	//   a shared prefix (a prompt stored once before the samples drawn
	//   from it); out (B,T,Hq,D); lse (B,Hq,T) the log-sum-exp of each
	//   query's scores, kept for the backward pass. Query i sees key j iff
	//   j ≤ i, mask[j] ≠ 0 and, when mask[i] ≠ 0, mask[j] = mask[i] or
	//   mask[j] < 0: packed samples never see each other, and all see the
	//   prefix before them. A query that sees no key outputs zeros. (The
	//   CUDA kernels implement only 0/1 masks until they have run on a GPU.)
	Attention(out, lse, q, k, v, mask *Tensor, scale float32)
	// AttentionBackward dq, dk, dv (overwritten) from dout, recomputing the
	// probabilities from q, k and lse (no T×T matrix is kept).
	AttentionBackward(dq, dk, dv, dout, out, lse, q, k, v, mask *Tensor, scale float32)

	// SwiGLU out = silu(gate)·up, all (N,F).
	SwiGLU(out, gate, up *Tensor)
	// SwiGLUBackward dgate, dup (overwritten).
	SwiGLUBackward(dgate, dup, dout, gate, up *Tensor)

	// LogSoftmaxGather, per row of logits(N,V): logp(N) = log softmax at
	// target(N), lse(N) = logsumexp, entropy(N) = −Σ p log p. Targets < 0
	// are ignored (logp 0). The caller chunks N so that N·V stays small.
	LogSoftmaxGather(logp, lse, entropy, logits, target *Tensor)
	// LogSoftmaxGatherBackward overwrites logits(N,V) with ∂loss/∂logits
	// given dlogp(N) and dentropy(N) (either may be nil = zero).
	LogSoftmaxGatherBackward(logits, lse, target, dlogp, dentropy *Tensor)

	// --- inference with a paged KV cache (see package sample) ---

	// KVWrite stores k, v (N,Hkv,D) of N new tokens into the caches
	// kcache, vcache (S,Hkv,D) at slots (N) (slot = block·blockSize + offset).
	KVWrite(kcache, vcache, k, v, slots *Tensor)
	// PagedAttention: token n of q (N,Hq,D) attends causally to the first
	// seqLens[n] positions of sequence seqIdx[n], whose positions live in
	// cache blocks blockTable[seqIdx[n]] (rows of maxBlocks) of blockSize
	// slots each. Prefill (many tokens of one sequence) and decode (one token
	// of many sequences) are the same call. out (N,Hq,D).
	PagedAttention(out, q, kcache, vcache, blockTable, seqIdx, seqLens *Tensor, blockSize int, scale float32)
	// CopySlots copies cache rows src[i] → dst[i] (copy-on-write of a
	// shared, partly filled block when samples of one prompt diverge).
	CopySlots(cache, src, dst *Tensor)

	// --- optimizer ---

	// AdamW updates param, m and v in place from grad (decoupled weight
	// decay, bias correction with step ≥ 1).
	AdamW(param, grad, m, v *Tensor, lr, beta1, beta2, eps, weightDecay float32, step int)
}

// WeightPacker is implemented by backends that can keep a weight matrix W
// (Out,In) in their GEMM's packed layout while it serves many products
// x·Wᵀ unchanged (inference): MatMul(c, a, W, false, true, …) then reads
// the packed copy. Such products are row-independent: a row of c is the
// same bits however many rows a has, so a sequence decodes the same in any
// batch. W must not change while packed.
type WeightPacker interface {
	// PackWeight packs w (packing an already packed w adds a reference)
	// and reports whether it did: false for a weight the backend does not
	// pack (another dtype, or a wrapper around a backend that does not).
	PackWeight(w *Tensor) bool
	// UnpackWeight drops one reference; the last frees the packed copy.
	UnpackWeight(w *Tensor)
}

// UninitAllocator is implemented by backends that can allocate without
// clearing: New's storage is zero, NewUninit's holds whatever the memory
// held (a freed tensor's values). For outputs an op writes whole before
// anything reads them — a product with beta 0 — where clearing is wasted
// work: a decode step's activations, written once per step.
type UninitAllocator interface {
	NewUninit(dt DType, shape ...int) *Tensor
}

// SegmentMasker is implemented by backends whose Attention honours the
// whole mask convention (segment ids of packed samples, negative ids of a
// shared prefix); the others take 0/1 padding masks only.
type SegmentMasker interface {
	SegmentMasks() bool
}

// SegmentMasks reports whether b's Attention takes segment masks.
func SegmentMasks(b Backend) bool {
	s, ok := b.(SegmentMasker)
	return ok && s.SegmentMasks()
}
