// elementwise.cu: Copy (dtype conversion), Fill, Scale, Axpy, Add, Mul,
// SumSquares, AllFinite, AddBias, SumRowsAcc (backend/cpu/cpu.go).
//
// Flat kernels take the element count n as long long (weights of large
// models pass 2^31 elements) and walk it with GRID_STRIDE (common.cu), so any
// grid size is correct; kernels.go gives the recommended launch.

// Copy with conversion: dst = src.
#define R1_CONVERT(NAME, TD, TS)                                                   \
    extern "C" __global__ void NAME(TD* __restrict__ dst, const TS* __restrict__ src, long long n) { \
        GRID_STRIDE(i, n) st(dst, i, ld(src, i));                                  \
    }
R1_CONVERT(r1_convert_f32_bf16, bf16, float)
R1_CONVERT(r1_convert_bf16_f32, float, bf16)

// Fill t = v.
#define R1_FILL(NAME, T) \
    extern "C" __global__ void NAME(T* __restrict__ t, float v, long long n) { GRID_STRIDE(i, n) st(t, i, v); }
R1_FILL(r1_fill_f32, float)
R1_FILL(r1_fill_bf16, bf16)

// Integer fill converts like Go's int32(v): truncation toward zero.
extern "C" __global__ void r1_fill_i32(int* __restrict__ t, float v, long long n) {
    int iv = (int)v;
    GRID_STRIDE(i, n) t[i] = iv;
}

// Scale t *= s.
#define R1_SCALE(NAME, T) \
    extern "C" __global__ void NAME(T* __restrict__ t, float s, long long n) { GRID_STRIDE(i, n) st(t, i, ld(t, i) * s); }
R1_SCALE(r1_scale_f32, float)
R1_SCALE(r1_scale_bf16, bf16)

// Axpy y += a·x (y's dtype first in the name).
#define R1_AXPY(NAME, TY, TX)                                                            \
    extern "C" __global__ void NAME(TY* __restrict__ y, float a, const TX* __restrict__ x, long long n) { \
        GRID_STRIDE(i, n) st(y, i, ld(y, i) + a * ld(x, i));                             \
    }
R1_AXPY(r1_axpy_f32_f32, float, float)
R1_AXPY(r1_axpy_f32_bf16, float, bf16)
R1_AXPY(r1_axpy_bf16_bf16, bf16, bf16)

// Add out = a + b. out may alias a or b, so no __restrict__: each element
// is read before it is written by the same thread.
#define R1_ADD(NAME, T)                                                              \
    extern "C" __global__ void NAME(T* out, const T* a, const T* b, long long n) {   \
        GRID_STRIDE(i, n) st(out, i, ld(a, i) + ld(b, i));                           \
    }
R1_ADD(r1_add_f32, float)
R1_ADD(r1_add_bf16, bf16)

// Mul out = a ⊙ b (a dropout mask on activations); aliasing as for Add.
#define R1_MUL(NAME, T)                                                              \
    extern "C" __global__ void NAME(T* out, const T* a, const T* b, long long n) {   \
        GRID_STRIDE(i, n) st(out, i, ld(a, i) * ld(b, i));                           \
    }
R1_MUL(r1_mul_f32, float)
R1_MUL(r1_mul_bf16, bf16)

// SumSquares: partial[blockIdx.x] = Σ t² over the elements this block
// visits, in f64 (the interface promises f64 accumulation). The host sums
// the gridDim.x partials in a fixed order, so the result is deterministic.
#define R1_SUMSQ(NAME, T)                                                                   \
    extern "C" __global__ void NAME(double* __restrict__ partial, const T* __restrict__ t, long long n) { \
        __shared__ double part[32];                                                          \
        double acc = 0.0;                                                                    \
        GRID_STRIDE(i, n) {                                                                  \
            double v = (double)ld(t, i);                                                     \
            acc += v * v;                                                                    \
        }                                                                                    \
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);        \
        int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;                                \
        if (lane == 0) part[warp] = acc;                                                     \
        __syncthreads();                                                                     \
        if (threadIdx.x == 0) {                                                              \
            double s = 0.0;                                                                  \
            for (int w = 0; w < (int)(blockDim.x >> 5); w++) s += part[w];                   \
            partial[blockIdx.x] = s;                                                         \
        }                                                                                    \
    }
R1_SUMSQ(r1_sumsq_f32, float)
R1_SUMSQ(r1_sumsq_bf16, bf16)

// AllFinite: *flag = 1 if some element is NaN or ±Inf. The host zeroes
// flag before the launch; racing writers all store the same value.
#define R1_ALLFINITE(NAME, T)                                                                \
    extern "C" __global__ void NAME(int* __restrict__ flag, const T* __restrict__ t, long long n) { \
        bool bad = false;                                                                     \
        GRID_STRIDE(i, n) bad |= !is_finite(ld(t, i));                                        \
        if (bad) *flag = 1;                                                                   \
    }
R1_ALLFINITE(r1_nonfinite_f32, float)
R1_ALLFINITE(r1_nonfinite_bf16, bf16)

// AddBias: out (N,C) += bias (C).
#define R1_ADDBIAS(NAME, TO, TB)                                                                \
    extern "C" __global__ void NAME(TO* __restrict__ out, const TB* __restrict__ bias, long long n, int c) { \
        GRID_STRIDE(i, n) st(out, i, ld(out, i) + ld(bias, i % c));                             \
    }
R1_ADDBIAS(r1_add_bias_bf16_bf16, bf16, bf16)
R1_ADDBIAS(r1_add_bias_bf16_f32, bf16, float)
R1_ADDBIAS(r1_add_bias_f32_f32, float, float)

// SumRowsAcc: dbias (C) += Σ_n dout (N,C). Block (32, 8): threadIdx.x picks
// a column of the block's 32, threadIdx.y strides over rows; the 8 partial
// sums meet in shared memory, so each column has one writer and no atomics.
// Grid: (ceil(C/32)).
#define R1_SUMROWS(NAME, TD, TS)                                                                          \
    extern "C" __global__ void NAME(TD* __restrict__ dbias, const TS* __restrict__ dout, int n, int c) {  \
        __shared__ float part[8][33];                                                                     \
        int col = blockIdx.x * 32 + threadIdx.x;                                                          \
        float acc = 0.0f;                                                                                 \
        if (col < c)                                                                                      \
            for (int r = threadIdx.y; r < n; r += blockDim.y) acc += ld(dout, (long long)r * c + col);    \
        part[threadIdx.y][threadIdx.x] = acc;                                                             \
        __syncthreads();                                                                                  \
        if (threadIdx.y == 0 && col < c) {                                                                \
            float s = 0.0f;                                                                               \
            for (int y = 0; y < (int)blockDim.y; y++) s += part[y][threadIdx.x];                          \
            st(dbias, col, ld(dbias, col) + s);                                                           \
        }                                                                                                 \
    }
R1_SUMROWS(r1_sum_rows_acc_f32_bf16, float, bf16)
R1_SUMROWS(r1_sum_rows_acc_f32_f32, float, float)
