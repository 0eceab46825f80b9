// paged.cu: the paged KV cache of the sampler (backend/cpu/paged.go):
// KVWrite, PagedAttention (prefill and decode are the same call) and
// CopySlots. Caches are (S,Hkv,D) bf16 with S = numBlocks·blockSize slots;
// slot = block·blockSize + offset.
//
// Out-of-range slots, block numbers or lengths cannot panic on the device:
// the kernels skip them (never touching memory outside the cache) and set
// *err = 1 (err may be null) for the host to report.

// r1_kv_write: kcache, vcache[slots[n]] = k, v[n] for rows of Hkv·D
// elements. Grid-stride over N·row.
extern "C" __global__ void r1_kv_write(bf16* __restrict__ kcache, bf16* __restrict__ vcache, const bf16* __restrict__ k,
                                       const bf16* __restrict__ v, const int* __restrict__ slots, int* __restrict__ err,
                                       int n, int row, int num_slots) {
    GRID_STRIDE(e, (long long)n * row) {
        long long tok = e / row, x = e % row;
        int s = slots[tok];
        if (s < 0 || s >= num_slots) {
            if (err) *err = 1;
            continue;
        }
        kcache[(long long)s * row + x] = k[e];
        vcache[(long long)s * row + x] = v[e];
    }
}

// r1_copy_slots: cache[dst[i]] = cache[src[i]] for i < n, rows of `row`
// elements. The pairs run in parallel, so no dst may also be a src of the
// same call (the sampler's copy-on-write pairs never chain).
// Grid-stride over n·row.
extern "C" __global__ void r1_copy_slots(bf16* __restrict__ cache, const int* __restrict__ src, const int* __restrict__ dst,
                                         int* __restrict__ err, int n, int row, int num_slots) {
    GRID_STRIDE(e, (long long)n * row) {
        long long i = e / row, x = e % row;
        int s = src[i], d = dst[i];
        if (s < 0 || s >= num_slots || d < 0 || d >= num_slots) {
            if (err) *err = 1;
            continue;
        }
        cache[(long long)d * row + x] = cache[(long long)s * row + x];
    }
}

#define PAGED_WARPS 4
#define PAGED_HPW 4  // query heads per warp: groups of up to 16 heads
#define PAGED_GMAX (PAGED_WARPS * PAGED_HPW)

// r1_paged_attention: token n of q (N,Hq,D) attends to the first
// seq_lens[n] positions of sequence seq_idx[n], whose keys and values sit
// in the blocks block_table[seq_idx[n]] (num_seqs rows of max_blocks) of the
// caches.
// out (N,Hq,D). A block handles one token and one kv head, with all the
// query heads of its group (≤ 16) so that each cached row is read once;
// keys are walked in tiles of 32 (one per lane) with an online softmax, as
// in r1_attention_fwd. seq_len 0 gives zeros.
// Grid (N, Hkv), block (128). D ≤ ATT_DMAX.
extern "C" __global__ void r1_paged_attention(bf16* __restrict__ out, const bf16* __restrict__ q,
                                              const bf16* __restrict__ kcache, const bf16* __restrict__ vcache,
                                              const int* __restrict__ block_table, const int* __restrict__ seq_idx,
                                              const int* __restrict__ seq_lens, int* __restrict__ err, int hq, int hkv,
                                              int d, int num_seqs, int max_blocks, int block_size, int num_slots,
                                              float scale) {
    __shared__ bf16 sq[PAGED_GMAX][ATT_LD], sk[ATT_BK][ATT_LD], sv[ATT_BK][ATT_LD];
    __shared__ int kvis[ATT_BK];
    int n = blockIdx.x, kh = blockIdx.y, group = hq / hkv;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int len = seq_lens[n], seq = seq_idx[n];
    if (len > max_blocks * block_size || seq < 0 || seq >= num_seqs) {
        if (err && threadIdx.x == 0) *err = 1;
        len = seq < 0 || seq >= num_seqs ? 0 : max_blocks * block_size;  // a bad sequence gives zeros
        seq = 0;
    }
    const int* table = block_table + (long long)seq * max_blocks;
    for (int e = threadIdx.x; e < group * d; e += blockDim.x) {
        int g = e / d, x = e - g * d;
        sq[g][x] = q[((long long)n * hq + kh * group + g) * d + x];
    }
    float m[PAGED_HPW], l[PAGED_HPW], o[PAGED_HPW][ATT_DR];
#pragma unroll
    for (int hh = 0; hh < PAGED_HPW; hh++) {
        m[hh] = neg_inf();
        l[hh] = 0.0f;
#pragma unroll
        for (int r = 0; r < ATT_DR; r++) o[hh][r] = 0.0f;
    }
    for (int j0 = 0; j0 < len; j0 += ATT_BK) {
        __syncthreads();
        // Each row of the tile is one position: its slot comes from the table.
        for (int e = threadIdx.x; e < ATT_BK * d; e += blockDim.x) {
            int r = e / d, x = e - r * d, j = j0 + r;
            bf16 kb = 0, vb = 0;
            if (j < len) {
                int blk = table[j / block_size];
                long long slot = (long long)blk * block_size + j % block_size;
                if (blk >= 0 && slot < num_slots) {
                    kb = kcache[(slot * hkv + kh) * d + x];
                    vb = vcache[(slot * hkv + kh) * d + x];
                }
            }
            sk[r][x] = kb;
            sv[r][x] = vb;
        }
        if (threadIdx.x < ATT_BK) {
            int j = j0 + threadIdx.x, ok = 0;
            if (j < len) {
                int blk = table[j / block_size];
                ok = blk >= 0 && (long long)blk * block_size + j % block_size < num_slots;
                if (!ok && err) *err = 1;
            }
            kvis[threadIdx.x] = ok;
        }
        __syncthreads();
#pragma unroll
        for (int hh = 0; hh < PAGED_HPW; hh++) {
            int g = warp * PAGED_HPW + hh;
            if (g >= group) continue;  // warp-uniform
            float s = kvis[lane] ? att_dot(sq[g], sk[lane], d) * scale : neg_inf();
            float mt = warp_max(s);
            if (mt == neg_inf()) continue;
            float mn = fmaxf(m[hh], mt);
            float alpha = expf(m[hh] - mn);
            float p = expf(s - mn);
            l[hh] = l[hh] * alpha + warp_sum(p);
            m[hh] = mn;
#pragma unroll
            for (int rr = 0; rr < ATT_DR; rr++) o[hh][rr] *= alpha;
            for (int j = 0; j < ATT_BK; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                if (pj == 0.0f) continue;
#pragma unroll
                for (int rr = 0; rr < ATT_DR; rr++) {
                    int x = lane + 32 * rr;
                    if (x < d) o[hh][rr] += pj * bf16_to_f32(sv[j][x]);
                }
            }
        }
    }
#pragma unroll
    for (int hh = 0; hh < PAGED_HPW; hh++) {
        int g = warp * PAGED_HPW + hh;
        if (g >= group) continue;
        float inv = l[hh] > 0.0f ? 1.0f / l[hh] : 0.0f;
        long long base = ((long long)n * hq + kh * group + g) * d;
#pragma unroll
        for (int rr = 0; rr < ATT_DR; rr++) {
            int x = lane + 32 * rr;
            if (x < d) st(out, base + x, o[hh][rr] * inv);
        }
    }
}
