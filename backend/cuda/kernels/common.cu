// common.cu: helpers shared by every kernel file. Source() puts this file
// first; the other files use its functions without an #include, because
// NVRTC compiles one program with no headers at all.
//
// Storage types: bf16 is `unsigned short` (the top 16 bits of an f32),
// f32 is `float`, indices are `int`. All arithmetic is f32.
//
// Everything above the "device-only" marker is plain C++ on scalars: the
// test harness (testdata/harness.cpp) compiles it with g++ on the host
// and compares it with the Go reference (tensor/dtype.go, backend/cpu).

#ifndef R1_HOST_HARNESS
typedef unsigned short bf16;
#endif

// bf16_to_f32 is exact: the bf16 bits are the high half of the f32.
__device__ __forceinline__ float bf16_to_f32(bf16 h) {
    return __uint_as_float(((unsigned int)h) << 16);
}

// f32_to_bf16 rounds to nearest, ties to even; a NaN stays a quiet NaN
// with its sign. Bit-for-bit the same as tensor.F32ToBF16.
__device__ __forceinline__ bf16 f32_to_bf16(float f) {
    unsigned int b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return (bf16)((b >> 16) | 0x40u);
    }
    // Adding 0x7fff plus the lowest kept bit rounds half to even; unsigned
    // wrap-around cannot happen because the largest finite value carries
    // into the Inf exponent, which is the correct rounding.
    return (bf16)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

// Overloads let one kernel body serve both storage types.
__device__ __forceinline__ float ld(const float* p, long long i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, long long i) { return bf16_to_f32(p[i]); }
__device__ __forceinline__ void st(float* p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, long long i, float v) { p[i] = f32_to_bf16(v); }

// neg_inf and is_finite work on bits so that no header is needed.
__device__ __forceinline__ float neg_inf() { return __uint_as_float(0xff800000u); }
__device__ __forceinline__ bool is_finite(float x) {
    return (__float_as_uint(x) & 0x7f800000u) != 0x7f800000u;
}

// sigmoid_f as backend/cpu: 1/(1+exp(−x)).
__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

// swiglu_f: silu(g)·u.
__device__ __forceinline__ float swiglu_f(float g, float u) { return g * sigmoid_f(g) * u; }

// swiglu_bwd_f: dgate = d·u·σ(g)(1+g(1−σ(g))), dup = d·g·σ(g), in the
// CPU reference's order of operations.
__device__ __forceinline__ void swiglu_bwd_f(float d, float g, float u, float* dg, float* du) {
    float sig = sigmoid_f(g);
    *du = d * g * sig;
    *dg = d * u * sig * (1.0f + g * (1.0f - sig));
}

// rms_rstd: 1/sqrt(mean(x²)+eps) from the row's sum of squares.
__device__ __forceinline__ float rms_rstd(float ss, int c, float eps) {
    return 1.0f / sqrtf(ss / (float)c + eps);
}

// rope_pair rotates (x1, x2) by the angle whose cosine and sine are c, s
// (s already negated for the inverse rotation).
__device__ __forceinline__ void rope_pair(float* x1, float* x2, float c, float s) {
    float a = *x1, b = *x2;
    *x1 = a * c - b * s;
    *x2 = b * c + a * s;
}

// adamw_f is one element of PyTorch's AdamW with the host-computed
// constants of backend/cpu: decay = 1−lr·wd, step_size = lr/(1−β1^t),
// sqrt_bc2 = √(1−β2^t). Updates *p, *m, *v in place.
__device__ __forceinline__ void adamw_f(float* p, float g, float* m, float* v, float beta1, float beta2,
                                        float eps, float decay, float step_size, float sqrt_bc2) {
    float mi = beta1 * *m + (1.0f - beta1) * g;
    float vi = beta2 * *v + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    float denom = sqrtf(vi) / sqrt_bc2 + eps;
    *p = *p * decay - step_size * mi / denom;
}

// Online softmax statistics of a set of logits z, relative to their max m:
// s = Σ exp(z−m), t = Σ exp(z−m)·(z−m). Then lse = m + log s and the
// entropy is log s − t/s (backend/cpu rowLSEEntropy). An empty set has
// m = −Inf, s = t = 0.
struct lse_state {
    float m, s, t;
};

__device__ __forceinline__ lse_state lse_empty() {
    lse_state r;
    r.m = neg_inf();
    r.s = 0.0f;
    r.t = 0.0f;
    return r;
}

// lse_merge combines two disjoint sets. Moving a set's reference from m to
// M scales its terms by a = exp(m−M) and shifts each z−m by (m−M), so
// t becomes a·(t + (m−M)·s).
__device__ __forceinline__ lse_state lse_merge(lse_state x, lse_state y) {
    if (x.m == neg_inf()) return y;
    if (y.m == neg_inf()) return x;
    float mm = x.m > y.m ? x.m : y.m;
    float dx = x.m - mm, dy = y.m - mm;
    float ax = expf(dx), ay = expf(dy);
    lse_state r;
    r.m = mm;
    r.s = ax * x.s + ay * y.s;
    r.t = ax * (x.t + dx * x.s) + ay * (y.t + dy * y.s);
    return r;
}

// lse_push adds one logit to a set: lse_merge with {z, 1, 0}, spending one
// exp instead of two. A NaN logit makes the set NaN, as on the CPU.
__device__ __forceinline__ lse_state lse_push(lse_state x, float z) {
    if (z == neg_inf()) return x;
    if (x.m == neg_inf()) {
        x.m = z;
        x.s = 1.0f;
        x.t = 0.0f;
    } else if (z <= x.m) {
        float d = z - x.m, e = expf(d);
        x.s += e;
        x.t += e * d;
    } else {  // z is the new max (or NaN): move the reference to z
        float d = x.m - z, a = expf(d);
        x.t = a * (x.t + d * x.s);
        x.s = a * x.s + 1.0f;
        x.m = z;
    }
    return x;
}

__device__ __forceinline__ float lse_value(lse_state x) { return x.m + logf(x.s); }
__device__ __forceinline__ float lse_entropy(lse_state x) { return logf(x.s) - x.t / x.s; }

#ifndef R1_HOST_HARNESS
// ---- device-only: loops, warp and block reductions ------------------------

// imin: spelled out so as not to depend on which integer min overloads a
// given NVRTC version declares.
__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }

// GRID_STRIDE visits [0,n) with every thread of the grid, so a kernel built
// on it is correct for any grid size.
#define GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

//
// Block reductions need blockDim.x to be a multiple of 32 (at most 1024)
// and must be reached by every thread of the block.

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

__device__ __forceinline__ lse_state warp_lse(lse_state x) {
    for (int o = 16; o > 0; o >>= 1) {
        lse_state y;
        y.m = __shfl_xor_sync(0xffffffffu, x.m, o);
        y.s = __shfl_xor_sync(0xffffffffu, x.s, o);
        y.t = __shfl_xor_sync(0xffffffffu, x.t, o);
        x = lse_merge(x, y);
    }
    return x;
}

// block_sum returns the sum over the block to every thread. The trailing
// barrier lets the caller reduce again with the same scratch.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

__device__ __forceinline__ lse_state block_lse(lse_state x) {
    __shared__ float pm[32], ps[32], pt[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    x = warp_lse(x);
    if (lane == 0) {
        pm[warp] = x.m;
        ps[warp] = x.s;
        pt[warp] = x.t;
    }
    __syncthreads();
    x = lse_empty();
    if (lane < nw) {
        x.m = pm[lane];
        x.s = ps[lane];
        x.t = pt[lane];
    }
    x = warp_lse(x);
    __syncthreads();
    return x;
}

// Attention tiles (attention.cu, paged.cu): see attention.cu's header.
#define ATT_DMAX 128
#define ATT_LD (ATT_DMAX + 2)
#define ATT_BQ 32
#define ATT_BK 32
#define ATT_WARPS 4
#define ATT_QPW (ATT_BQ / ATT_WARPS)  // queries (or keys) per warp
#define ATT_DR (ATT_DMAX / 32)        // dims of a row held by one lane

// att_dot: f32 dot product of two tile rows, summed in index order like
// the CPU reference.
__device__ __forceinline__ float att_dot(const bf16* a, const bf16* b, int d) {
    float s = 0.0f;
    for (int x = 0; x < d; x++) s += bf16_to_f32(a[x]) * bf16_to_f32(b[x]);
    return s;
}

#endif
