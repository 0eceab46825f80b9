// logsoftmax.cu: token log-probabilities, log-sum-exp and entropy over the
// vocabulary, and their gradient (backend/cpu/ops.go logSoftmaxGather,
// logSoftmaxGatherBackward). One block per row of logits (N,V); each
// thread keeps online softmax statistics (common.cu lse_state) over its
// strided share of the row, then the block merges them: one read of the
// row for the forward pass.

// r1_logsoftmax_gather_fwd: logp (N) = log softmax(logits)[target],
// lse (N), entropy (N, may be null). target < 0 is ignored (logp 0); a
// target ≥ V gives logp 0 and sets *err = 1 (err may be null).
// Grid (N), block (512).
extern "C" __global__ void r1_logsoftmax_gather_fwd(float* __restrict__ logp, float* __restrict__ lse,
                                                    float* __restrict__ entropy, const bf16* __restrict__ logits,
                                                    const int* __restrict__ target, int* __restrict__ err, int v) {
    long long row = (long long)blockIdx.x * v;
    lse_state st_ = lse_empty();
    for (int j = threadIdx.x; j < v; j += blockDim.x) st_ = lse_push(st_, ld(logits, row + j));
    st_ = block_lse(st_);
    if (threadIdx.x != 0) return;
    float l = lse_value(st_);
    lse[blockIdx.x] = l;
    if (entropy) entropy[blockIdx.x] = lse_entropy(st_);
    int t = target[blockIdx.x];
    if (t >= v && err) *err = 1;
    logp[blockIdx.x] = (t >= 0 && t < v) ? ld(logits, row + t) - l : 0.0f;
}

// r1_logsoftmax_gather_bwd overwrites logits (N,V) with ∂loss/∂logits:
// dlogp·(1[j=t] − p_j) − dentropy·p_j·(log p_j + H), with p from the saved
// lse. dlogp, dentropy (N) may be null (= 0). H is recomputed from the
// row only when dentropy is non-zero, as on the CPU.
// Grid (N), block (512).
extern "C" __global__ void r1_logsoftmax_gather_bwd(bf16* __restrict__ logits, const float* __restrict__ lse,
                                                    const int* __restrict__ target, const float* __restrict__ dlogp,
                                                    const float* __restrict__ dentropy, int v) {
    long long row = (long long)blockIdx.x * v;
    int t = target[blockIdx.x];
    float g = (dlogp && t >= 0) ? dlogp[blockIdx.x] : 0.0f;
    float ge = dentropy ? dentropy[blockIdx.x] : 0.0f;
    float h = 0.0f;
    if (ge != 0.0f) {  // uniform per block, so the reduction is reached by all
        lse_state st_ = lse_empty();
        for (int j = threadIdx.x; j < v; j += blockDim.x) st_ = lse_push(st_, ld(logits, row + j));
        h = lse_entropy(block_lse(st_));
    }
    float l = lse[blockIdx.x];
    for (int j = threadIdx.x; j < v; j += blockDim.x) {
        float lp = ld(logits, row + j) - l;
        float p = expf(lp);
        float d = -g * p - ge * p * (lp + h);
        if (j == t) d += g;
        st(logits, row + j, d);
    }
}
