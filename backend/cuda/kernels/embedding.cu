// embedding.cu: token embedding lookup and its scatter-add gradient
// (backend/cpu/ops.go embedding, embeddingBackward).

// r1_embedding_fwd: out (N,C) = table (V,C)[ids (N)]. An id outside [0,V)
// writes a zero row and sets *err = 1 (err may be null).
// Grid (N), block (256).
extern "C" __global__ void r1_embedding_fwd(bf16* __restrict__ out, const bf16* __restrict__ table, const int* __restrict__ ids,
                                            int* __restrict__ err, int c, int v) {
    int tok = ids[blockIdx.x];
    long long o = (long long)blockIdx.x * c;
    bool ok = tok >= 0 && tok < v;
    if (!ok && err && threadIdx.x == 0) *err = 1;
    for (int j = threadIdx.x; j < c; j += blockDim.x) out[o + j] = ok ? table[(long long)tok * c + j] : (bf16)0;
}

// r1_embedding_bwd: dtable (V,C) f32 += dout (N,C) scattered by ids (N).
// Repeated ids collide, hence atomicAdd (so the summation order, and the
// last bits, vary from run to run). Invalid ids are skipped with *err = 1.
// Grid (N), block (256).
extern "C" __global__ void r1_embedding_bwd(float* __restrict__ dtable, const bf16* __restrict__ dout, const int* __restrict__ ids,
                                            int* __restrict__ err, int c, int v) {
    int tok = ids[blockIdx.x];
    if (tok < 0 || tok >= v) {
        if (err && threadIdx.x == 0) *err = 1;
        return;
    }
    long long o = (long long)blockIdx.x * c;
    for (int j = threadIdx.x; j < c; j += blockDim.x) atomicAdd(&dtable[(long long)tok * c + j], ld(dout, o + j));
}
