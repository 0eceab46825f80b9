// attention.cu: causal grouped-query attention, flash-attention style
// (backend/cpu/attention.go is the reference). No T×T matrix exists: the
// forward pass keeps an online softmax per query and saves only lse; the
// backward pass recomputes p = exp(scale·q·k − lse).
//
// Layouts: q, out, dout (B,T,Hq,D); k, v (B,T,Hkv,D); lse, delta (B,Hq,T)
// f32; mask (B,T) int, 1 = real token, 0 = padding (null: none).
// Query i sees key j iff j ≤ i and mask[j] ≠ 0; a query that sees no key
// outputs zeros and gets lse = −Inf.
//
// Tiling: 32 queries × 32 keys, a block of 4 warps. The query-side kernels
// give each warp 8 queries and put one key on each lane (lane j computes
// the score of key j, the warp then reduces over its 32 lanes); the key
// side kernel does the mirror image. Tiles live in shared memory as the
// same bf16 bits as in global memory, rows padded by one 32-bit word so
// that lane-per-row reads hit 32 different banks. D ≤ ATT_DMAX.
//
// These are correctness-first CUDA-core kernels (no tensor-core MMA yet).

// ATT_* tile constants and att_dot are in common.cu (paged.cu uses them too).

// att_load_rows copies rows [r0, r0+32) of a (B,T,H,D) tensor (batch b,
// head h) into a tile, zero beyond T.
__device__ __forceinline__ void att_load_rows(bf16 (*tile)[ATT_LD], const bf16* src, int b, int r0, int t, int nh, int h,
                                              int d) {
    for (int e = threadIdx.x; e < 32 * d; e += blockDim.x) {
        int r = e / d, x = e - r * d, i = r0 + r;
        tile[r][x] = i < t ? src[(((long long)b * t + i) * nh + h) * d + x] : (bf16)0;
    }
}

// r1_attention_fwd: out, lse from q, k, v. Grid (ceil(T/32), Hq, B),
// block (128).
extern "C" __global__ void r1_attention_fwd(bf16* __restrict__ out, float* __restrict__ lse, const bf16* __restrict__ q,
                                            const bf16* __restrict__ k, const bf16* __restrict__ v,
                                            const int* __restrict__ mask, int t, int hq, int hkv, int d, float scale) {
    __shared__ bf16 sq[ATT_BQ][ATT_LD], sk[ATT_BK][ATT_LD], sv[ATT_BK][ATT_LD];
    __shared__ int kvis[ATT_BK];
    int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ATT_BQ;
    int kh = h / (hq / hkv);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    att_load_rows(sq, q, b, q0, t, hq, h, d);
    float m[ATT_QPW], l[ATT_QPW], o[ATT_QPW][ATT_DR];
#pragma unroll
    for (int qq = 0; qq < ATT_QPW; qq++) {
        m[qq] = neg_inf();
        l[qq] = 0.0f;
#pragma unroll
        for (int r = 0; r < ATT_DR; r++) o[qq][r] = 0.0f;
    }
    int qlast = imin(q0 + ATT_BQ, t) - 1;
    for (int k0 = 0; k0 <= qlast; k0 += ATT_BK) {
        __syncthreads();  // the previous key tile is consumed
        att_load_rows(sk, k, b, k0, t, hkv, kh, d);
        att_load_rows(sv, v, b, k0, t, hkv, kh, d);
        if (threadIdx.x < ATT_BK) {
            int key = k0 + threadIdx.x;
            kvis[threadIdx.x] = key < t && (!mask || mask[(long long)b * t + key] != 0);
        }
        __syncthreads();
#pragma unroll
        for (int qq = 0; qq < ATT_QPW; qq++) {
            int r = warp * ATT_QPW + qq, i = q0 + r;
            if (i >= t || k0 > i) continue;  // warp-uniform
            int key = k0 + lane;
            float s = neg_inf();
            if (key <= i && kvis[lane]) s = att_dot(sq[r], sk[lane], d) * scale;
            float mt = warp_max(s);
            if (mt == neg_inf()) continue;  // nothing visible in this tile
            float mn = fmaxf(m[qq], mt);
            float alpha = expf(m[qq] - mn);
            float p = expf(s - mn);
            l[qq] = l[qq] * alpha + warp_sum(p);
            m[qq] = mn;
#pragma unroll
            for (int rr = 0; rr < ATT_DR; rr++) o[qq][rr] *= alpha;
            for (int j = 0; j < ATT_BK; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                if (pj == 0.0f) continue;  // warp-uniform: masked or underflowed
#pragma unroll
                for (int rr = 0; rr < ATT_DR; rr++) {
                    int x = lane + 32 * rr;
                    if (x < d) o[qq][rr] += pj * bf16_to_f32(sv[j][x]);
                }
            }
        }
    }
#pragma unroll
    for (int qq = 0; qq < ATT_QPW; qq++) {
        int i = q0 + warp * ATT_QPW + qq;
        if (i >= t) continue;
        float inv = l[qq] > 0.0f ? 1.0f / l[qq] : 0.0f;
        long long base = (((long long)b * t + i) * hq + h) * d;
#pragma unroll
        for (int rr = 0; rr < ATT_DR; rr++) {
            int x = lane + 32 * rr;
            if (x < d) st(out, base + x, o[qq][rr] * inv);
        }
        if (lane == 0) lse[((long long)b * hq + h) * t + i] = l[qq] > 0.0f ? m[qq] + logf(l[qq]) : neg_inf();
    }
}

// r1_attention_bwd_delta: delta (B,Hq,T) = Σ_x dout·out per query, the
// softmax-backward term that both gradient kernels need. One warp per
// query row: grid (ceil(B·T·Hq/4)), block (128).
extern "C" __global__ void r1_attention_bwd_delta(float* __restrict__ delta, const bf16* __restrict__ dout,
                                                  const bf16* __restrict__ out, int b, int t, int hq, int d) {
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);  // (b·T+i)·Hq+h
    if (row >= (long long)b * t * hq) return;  // whole warp leaves together
    int lane = threadIdx.x & 31;
    float s = 0.0f;
    for (int x = lane; x < d; x += 32) s += ld(dout, row * d + x) * ld(out, row * d + x);
    s = warp_sum(s);
    int h = (int)(row % hq);
    long long bt = row / hq;
    long long bi = bt / t, i = bt % t;
    if (lane == 0) delta[(bi * hq + h) * t + i] = s;
}

// att_load_stats copies lse and delta of queries [q0, q0+32) of head h,
// lse = −Inf beyond T so that those queries drop out.
__device__ __forceinline__ void att_load_stats(float* slse, float* sdelta, const float* lse, const float* delta, int b,
                                               int q0, int t, int hq, int h) {
    if (threadIdx.x < ATT_BQ) {
        int i = q0 + threadIdx.x;
        long long o = ((long long)b * hq + h) * t + i;
        slse[threadIdx.x] = i < t ? lse[o] : neg_inf();
        sdelta[threadIdx.x] = i < t ? delta[o] : 0.0f;
    }
}

// r1_attention_bwd_dq: dq (B,T,Hq,D) (overwritten) = scale·Σ_j dS_ij·k_j
// with dS_ij = p_ij·(dout_i·v_j − delta_i). Run r1_attention_bwd_delta
// first. Grid (ceil(T/32), Hq, B), block (128).
extern "C" __global__ void r1_attention_bwd_dq(bf16* __restrict__ dq, const bf16* __restrict__ dout,
                                               const float* __restrict__ lse, const float* __restrict__ delta,
                                               const bf16* __restrict__ q, const bf16* __restrict__ k,
                                               const bf16* __restrict__ v, const int* __restrict__ mask, int t, int hq,
                                               int hkv, int d, float scale) {
    __shared__ bf16 sq[ATT_BQ][ATT_LD], sdo[ATT_BQ][ATT_LD], sk[ATT_BK][ATT_LD], sv[ATT_BK][ATT_LD];
    __shared__ float slse[ATT_BQ], sdelta[ATT_BQ];
    __shared__ int kvis[ATT_BK];
    int b = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * ATT_BQ;
    int kh = h / (hq / hkv);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    att_load_rows(sq, q, b, q0, t, hq, h, d);
    att_load_rows(sdo, dout, b, q0, t, hq, h, d);
    att_load_stats(slse, sdelta, lse, delta, b, q0, t, hq, h);
    float acc[ATT_QPW][ATT_DR];
#pragma unroll
    for (int qq = 0; qq < ATT_QPW; qq++)
#pragma unroll
        for (int r = 0; r < ATT_DR; r++) acc[qq][r] = 0.0f;
    int qlast = imin(q0 + ATT_BQ, t) - 1;
    for (int k0 = 0; k0 <= qlast; k0 += ATT_BK) {
        __syncthreads();
        att_load_rows(sk, k, b, k0, t, hkv, kh, d);
        att_load_rows(sv, v, b, k0, t, hkv, kh, d);
        if (threadIdx.x < ATT_BK) {
            int key = k0 + threadIdx.x;
            kvis[threadIdx.x] = key < t && (!mask || mask[(long long)b * t + key] != 0);
        }
        __syncthreads();
#pragma unroll
        for (int qq = 0; qq < ATT_QPW; qq++) {
            int r = warp * ATT_QPW + qq, i = q0 + r;
            float li = slse[r];
            if (i >= t || k0 > i || li == neg_inf()) continue;  // warp-uniform
            int key = k0 + lane;
            float ds = 0.0f;
            if (key <= i && kvis[lane]) {
                float p = expf(att_dot(sq[r], sk[lane], d) * scale - li);
                ds = p * (att_dot(sdo[r], sv[lane], d) - sdelta[r]) * scale;
            }
            for (int j = 0; j < ATT_BK; j++) {
                float dsj = __shfl_sync(0xffffffffu, ds, j);
                if (dsj == 0.0f) continue;
#pragma unroll
                for (int rr = 0; rr < ATT_DR; rr++) {
                    int x = lane + 32 * rr;
                    if (x < d) acc[qq][rr] += dsj * bf16_to_f32(sk[j][x]);
                }
            }
        }
    }
#pragma unroll
    for (int qq = 0; qq < ATT_QPW; qq++) {
        int i = q0 + warp * ATT_QPW + qq;
        if (i >= t) continue;
        long long base = (((long long)b * t + i) * hq + h) * d;
#pragma unroll
        for (int rr = 0; rr < ATT_DR; rr++) {
            int x = lane + 32 * rr;
            if (x < d) st(dq, base + x, acc[qq][rr]);
        }
    }
}

// r1_attention_bwd_dkdv: dk, dv (B,T,Hkv,D) (overwritten):
// dv_j = Σ_h Σ_i p_ij·dout_i, dk_j = scale·Σ_h Σ_i dS_ij·q_i over the query
// heads h of kv head j's group. A block owns 32 keys of one kv head and
// walks every query tile and head that can see them, so each dk/dv row has
// one writer (no atomics, deterministic). Run r1_attention_bwd_delta first.
// Grid (ceil(T/32), Hkv, B), block (128).
extern "C" __global__ void r1_attention_bwd_dkdv(bf16* __restrict__ dk, bf16* __restrict__ dv,
                                                 const bf16* __restrict__ dout, const float* __restrict__ lse,
                                                 const float* __restrict__ delta, const bf16* __restrict__ q,
                                                 const bf16* __restrict__ k, const bf16* __restrict__ v,
                                                 const int* __restrict__ mask, int t, int hq, int hkv, int d,
                                                 float scale) {
    __shared__ bf16 sq[ATT_BQ][ATT_LD], sdo[ATT_BQ][ATT_LD], sk[ATT_BK][ATT_LD], sv[ATT_BK][ATT_LD];
    __shared__ float slse[ATT_BQ], sdelta[ATT_BQ];
    __shared__ int kvis[ATT_BK];
    int b = blockIdx.z, kh = blockIdx.y, k0 = blockIdx.x * ATT_BK;
    int group = hq / hkv;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    att_load_rows(sk, k, b, k0, t, hkv, kh, d);
    att_load_rows(sv, v, b, k0, t, hkv, kh, d);
    if (threadIdx.x < ATT_BK) {
        int key = k0 + threadIdx.x;
        kvis[threadIdx.x] = key < t && (!mask || mask[(long long)b * t + key] != 0);
    }
    float gk[ATT_QPW][ATT_DR], gv[ATT_QPW][ATT_DR];
#pragma unroll
    for (int kk = 0; kk < ATT_QPW; kk++)
#pragma unroll
        for (int r = 0; r < ATT_DR; r++) gk[kk][r] = gv[kk][r] = 0.0f;
    for (int g = 0; g < group; g++) {
        int h = kh * group + g;
        // Query tiles start at k0: earlier queries cannot see these keys.
        for (int q0 = k0; q0 < t; q0 += ATT_BQ) {
            __syncthreads();
            att_load_rows(sq, q, b, q0, t, hq, h, d);
            att_load_rows(sdo, dout, b, q0, t, hq, h, d);
            att_load_stats(slse, sdelta, lse, delta, b, q0, t, hq, h);
            __syncthreads();
            int i = q0 + lane;  // this lane's query
            float li = slse[lane];
#pragma unroll
            for (int kk = 0; kk < ATT_QPW; kk++) {
                int jj = warp * ATT_QPW + kk, key = k0 + jj;
                if (key >= t || !kvis[jj]) continue;  // warp-uniform
                float p = 0.0f, ds = 0.0f;
                if (i < t && i >= key && li != neg_inf()) {
                    p = expf(att_dot(sq[lane], sk[jj], d) * scale - li);
                    ds = p * (att_dot(sdo[lane], sv[jj], d) - sdelta[lane]) * scale;
                }
                for (int ii = 0; ii < ATT_BQ; ii++) {
                    float pi = __shfl_sync(0xffffffffu, p, ii);
                    float dsi = __shfl_sync(0xffffffffu, ds, ii);
                    if (pi == 0.0f && dsi == 0.0f) continue;
#pragma unroll
                    for (int rr = 0; rr < ATT_DR; rr++) {
                        int x = lane + 32 * rr;
                        if (x < d) {
                            gv[kk][rr] += pi * bf16_to_f32(sdo[ii][x]);
                            gk[kk][rr] += dsi * bf16_to_f32(sq[ii][x]);
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int kk = 0; kk < ATT_QPW; kk++) {
        int key = k0 + warp * ATT_QPW + kk;
        if (key >= t) continue;
        long long base = (((long long)b * t + key) * hkv + kh) * d;
#pragma unroll
        for (int rr = 0; rr < ATT_DR; rr++) {
            int x = lane + 32 * rr;
            if (x < d) {
                st(dk, base + x, gk[kk][rr]);
                st(dv, base + x, gv[kk][rr]);
            }
        }
    }
}
