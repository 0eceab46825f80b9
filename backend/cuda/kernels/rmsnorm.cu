// rmsnorm.cu: RMSNorm forward and backward (backend/cpu/ops.go rmsnorm,
// rmsnormBackward). One block per row; blockDim.x a multiple of 32.

// r1_rmsnorm_fwd: out (N,C) = x·rstd·w, rstd (N) saved for the backward.
// Grid (N), block (256).
extern "C" __global__ void r1_rmsnorm_fwd(bf16* __restrict__ out, float* __restrict__ rstd, const bf16* __restrict__ x,
                                          const bf16* __restrict__ w, int c, float eps) {
    long long row = (long long)blockIdx.x * c;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < c; j += blockDim.x) {
        float v = ld(x, row + j);
        ss += v * v;
    }
    ss = block_sum(ss);
    float r = rms_rstd(ss, c, eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int j = threadIdx.x; j < c; j += blockDim.x) st(out, row + j, ld(x, row + j) * r * ld(w, j));
}

// r1_rmsnorm_bwd_dx: with x̂ = x·rstd, dx (N,C) = rstd·(dy·w − x̂·mean(dy·w·x̂))
// (overwritten). dw is a separate kernel so that each row's block has no
// cross-row writes. Grid (N), block (256).
extern "C" __global__ void r1_rmsnorm_bwd_dx(bf16* __restrict__ dx, const bf16* __restrict__ dout, const bf16* __restrict__ x,
                                             const bf16* __restrict__ w, const float* __restrict__ rstd, int c) {
    long long row = (long long)blockIdx.x * c;
    float r = rstd[blockIdx.x];
    float dot = 0.0f;
    for (int j = threadIdx.x; j < c; j += blockDim.x) dot += ld(dout, row + j) * ld(w, j) * (ld(x, row + j) * r);
    dot = block_sum(dot) / (float)c;
    for (int j = threadIdx.x; j < c; j += blockDim.x) {
        float xv = ld(x, row + j);
        st(dx, row + j, r * (ld(dout, row + j) * ld(w, j) - xv * r * dot));
    }
}

// r1_rmsnorm_bwd_dw: dw (C) += Σ_n dy·x·rstd, column-parallel like
// r1_sum_rows_acc: block (32, 8), grid (ceil(C/32)); f32 weight gradient.
extern "C" __global__ void r1_rmsnorm_bwd_dw(float* __restrict__ dw, const bf16* __restrict__ dout, const bf16* __restrict__ x,
                                             const float* __restrict__ rstd, int n, int c) {
    __shared__ float part[8][33];
    int col = blockIdx.x * 32 + threadIdx.x;
    float acc = 0.0f;
    if (col < c)
        for (int r = threadIdx.y; r < n; r += blockDim.y) {
            long long i = (long long)r * c + col;
            acc += ld(dout, i) * (ld(x, i) * rstd[r]);
        }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < c) {
        float s = 0.0f;
        for (int y = 0; y < (int)blockDim.y; y++) s += part[y][threadIdx.x];
        dw[col] += s;
    }
}
