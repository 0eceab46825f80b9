// sample.cu: token sampling for decode (sample/pick.go's Pick), one block
// per row of logits (N,V), so the host gets back only the chosen token id
// and its log-probability under softmax(logits/T) over the whole vocabulary.
//
// Pick's order: temperature (T = 0 is greedy and reports the T = 1
// log-prob), then top-k, top-p on the top-k renormalised mass, min-p
// relative to the most likely token, then a draw u·mass over the survivors
// walked from the most likely down (ties by smaller id). With no filter at
// all Pick walks the vocabulary in id order instead; so does this kernel.
//
// No sort: every filter keeps a prefix of the order (p desc, id asc), and p
// is monotone in the logit, so a prefix is "every token whose logit key is
// above cut, plus the first `ties` tokens (by id) whose key equals cut".
// Each cut is found by a bitwise binary search over the 32-bit key with
// one block reduction per bit. The uniform u per row comes from the host's
// generator, as in Pick.
//
// Rounding differs from Pick (f32 block sums instead of f64 running sums),
// so a u that falls within rounding of a boundary may pick the neighbour.

#define SAMPLE_MAX_THREADS 1024

// order_key maps a float to an unsigned int with the same order (NaN
// aside): flip all bits of negatives, set the sign bit of positives.
__device__ __forceinline__ unsigned int order_key(float x) {
    unsigned int u = __float_as_uint(x);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned int k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__device__ __forceinline__ unsigned int block_min_u(unsigned int v) {
    __shared__ unsigned int part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        unsigned int w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w < v ? w : v;
    }
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : 0xffffffffu;
    for (int o = 16; o > 0; o >>= 1) {
        unsigned int w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w < v ? w : v;
    }
    __syncthreads();
    return v;
}

// sample_row is one row's state: logits, temperature and log-partition.
template <typename T>
struct sample_row {
    const T* x;  // the row
    int v;
    float t;     // temperature (1 for greedy)
    float logz;  // log Σ exp(x/t)

    __device__ __forceinline__ float p(float x_) const { return expf(x_ / t - logz); }

    // measure sums, over tokens with key ≥ lo, 1 (count) or p (mass).
    __device__ __forceinline__ float measure(unsigned int lo, bool mass) const {
        float s = 0.0f;
        for (int i = threadIdx.x; i < v; i += blockDim.x) {
            float xi = ld(x, i);
            if (order_key(xi) >= lo) s += mass ? p(xi) : 1.0f;
        }
        return block_sum(s);
    }
};

// cand_set: tokens with key > cut, plus the first `ties` with key == cut.
struct cand_set {
    unsigned int cut;
    float ties;
};

// set_measure is the count or mass of a candidate set.
template <typename T>
__device__ __forceinline__ float set_measure(const sample_row<T>& r, cand_set s, bool mass) {
    float above = s.cut == 0xffffffffu ? 0.0f : r.measure(s.cut + 1, mass);
    // No ties: the cut key may be one no token has (a NaN for key 0).
    return s.ties > 0.0f ? above + s.ties * (mass ? r.p(key_value(s.cut)) : 1.0f) : above;
}

// shrink returns the shortest prefix of s whose count or mass reaches thr
// (≥ thr, or > thr when strict). A thr beyond the whole set keeps s.
template <typename T>
__device__ __forceinline__ cand_set shrink(const sample_row<T>& r, cand_set s, float thr, bool mass, bool strict) {
    float total = set_measure(r, s, mass);
    if (strict ? !(total > thr) : !(total >= thr)) return s;
    // The largest key tau ≥ s.cut whose measure of {key ≥ tau} ∩ s passes.
    unsigned int tau = 0;
    for (int b = 31; b >= 0; b--) {
        unsigned int c = tau | (1u << b);
        float f = c <= s.cut ? total : r.measure(c, mass);
        if (strict ? f > thr : f >= thr) tau = c;
    }
    if (tau < s.cut) tau = s.cut;
    float above = tau == 0xffffffffu ? 0.0f : r.measure(tau + 1, mass);
    float eq = tau == s.cut ? s.ties : r.measure(tau, false) - (tau == 0xffffffffu ? 0.0f : r.measure(tau + 1, false));
    float unit = mass ? r.p(key_value(tau)) : 1.0f;
    float need = strict ? floorf((thr - above) / unit) + 1.0f : ceilf((thr - above) / unit);
    need = fminf(fmaxf(need, 1.0f), eq);
    cand_set out;
    out.cut = tau;
    out.ties = need;
    return out;
}

// find_index returns the first token, in id order, at which the running sum
// of w exceeds target, where w is 1 for tokens with key == tau (mode 0) or
// p (mode 1); v−1 if the sum never does (rounding at the end of the row).
// Each thread scans a contiguous chunk, after a prefix sum of the chunks.
template <typename T>
__device__ __forceinline__ int find_index(const sample_row<T>& r, int mode, unsigned int tau, float target) {
    __shared__ float pre[SAMPLE_MAX_THREADS];
    int chunk = (r.v + blockDim.x - 1) / blockDim.x;
    int lo = threadIdx.x * chunk, hi = imin(lo + chunk, r.v);
    float s = 0.0f;
    for (int i = lo; i < hi; i++) {
        float xi = ld(r.x, i);
        s += mode == 0 ? (order_key(xi) == tau ? 1.0f : 0.0f) : r.p(xi);
    }
    pre[threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.x == 0) {  // exclusive scan; at most 1024 entries
        float acc = 0.0f;
        for (int j = 0; j < (int)blockDim.x; j++) {
            float tmp = pre[j];
            pre[j] = acc;
            acc += tmp;
        }
    }
    __syncthreads();
    unsigned int cand = 0xffffffffu;
    float acc = pre[threadIdx.x];
    if (acc <= target)
        for (int i = lo; i < hi; i++) {
            float xi = ld(r.x, i);
            acc += mode == 0 ? (order_key(xi) == tau ? 1.0f : 0.0f) : r.p(xi);
            if (target < acc) {
                cand = (unsigned int)i;
                break;
            }
        }
    cand = block_min_u(cand);
    return cand == 0xffffffffu ? r.v - 1 : (int)cand;
}

template <typename T>
__device__ __forceinline__ void sample_one(int* token, float* logprob, const T* logits, const float* u, int v, float temperature,
                           int top_k, float top_p, float min_p) {
    sample_row<T> r;
    r.x = logits + (long long)blockIdx.x * v;
    r.v = v;
    r.t = temperature > 0.0f ? temperature : 1.0f;
    lse_state st_ = lse_empty();
    unsigned int kmax = 0;
    for (int i = threadIdx.x; i < v; i += blockDim.x) {
        float xi = ld(r.x, i);
        st_ = lse_push(st_, xi / r.t);
        unsigned int k = order_key(xi);
        kmax = k > kmax ? k : kmax;
    }
    r.logz = lse_value(block_lse(st_));
    kmax = ~block_min_u(~kmax);
    int tok;
    if (temperature <= 0.0f) {
        tok = find_index(r, 0, kmax, 0.0f);  // the first maximum, as Pick
    } else if ((top_k <= 0 || top_k >= v) && top_p >= 1.0f && min_p <= 0.0f) {
        tok = find_index(r, 1, 0, u[blockIdx.x]);
    } else {
        cand_set s;
        s.cut = 0;  // every token: key 0 would be a negative NaN
        s.ties = 0.0f;
        if (top_k > 0 && top_k < v) s = shrink(r, s, (float)top_k, false, false);
        if (top_p < 1.0f) s = shrink(r, s, top_p * set_measure(r, s, true), true, false);
        if (min_p > 0.0f) {
            // Keep p ≥ min_p·p_max: the smallest key that passes, if above
            // the current cut.
            float cutp = min_p * r.p(key_value(kmax));
            unsigned int lo = 0xffffffffu;
            for (int i = threadIdx.x; i < v; i += blockDim.x) {
                float xi = ld(r.x, i);
                unsigned int k = order_key(xi);
                if (r.p(xi) >= cutp && k < lo) lo = k;
            }
            lo = block_min_u(lo);
            if (lo > s.cut) {
                s.cut = lo;
                s.ties = r.measure(lo, false) - (lo == 0xffffffffu ? 0.0f : r.measure(lo + 1, false));
            }
        }
        float target = u[blockIdx.x] * set_measure(r, s, true);
        cand_set e = shrink(r, s, target, true, true);
        tok = find_index(r, 0, e.cut, e.ties - 1.0f);
    }
    if (threadIdx.x == 0) {
        token[blockIdx.x] = tok;
        logprob[blockIdx.x] = ld(r.x, tok) / r.t - r.logz;
    }
}

// r1_sample_<logits dtype>: token (N) int and logprob (N) f32 from logits
// (N,V) and u (N) uniform in [0,1) drawn by the host. temperature 0 is
// greedy; top_k 0 or ≥ V, top_p 1 and min_p 0 switch a filter off.
// Grid (N), block (1024; any multiple of 32 up to SAMPLE_MAX_THREADS works).
#define R1_SAMPLE(NAME, T)                                                                                      \
    extern "C" __global__ void NAME(int* __restrict__ token, float* __restrict__ logprob, const T* __restrict__ logits, \
                                    const float* __restrict__ u, int v, float temperature, int top_k, float top_p,     \
                                    float min_p) {                                                                     \
        sample_one(token, logprob, logits, u, v, temperature, top_k, top_p, min_p);                                    \
    }
R1_SAMPLE(r1_sample_f32, float)
R1_SAMPLE(r1_sample_bf16, bf16)
