// adamw.cu: fused AdamW on f32 master weights (backend/cpu AdamW,
// adamwGo). The host computes the per-step constants exactly as the CPU
// backend does: decay = 1−lr·wd, step_size = lr/(1−β1^t) and
// sqrt_bc2 = √(1−β2^t), both bias corrections in float64.

// r1_adamw_<grad dtype>: updates p (f32 master), m, v in place from grad
// and, when p16 is not null, writes the bf16 working copy of the new
// weights in the same pass. Grid-stride over n.
#define R1_ADAMW(NAME, TG)                                                                                      \
    extern "C" __global__ void NAME(float* __restrict__ p, bf16* __restrict__ p16, const TG* __restrict__ grad, \
                                    float* __restrict__ m, float* __restrict__ v, long long n, float beta1,      \
                                    float beta2, float eps, float decay, float step_size, float sqrt_bc2) {     \
        GRID_STRIDE(i, n) {                                                                                     \
            float pi = p[i], mi = m[i], vi = v[i];                                                              \
            adamw_f(&pi, ld(grad, i), &mi, &vi, beta1, beta2, eps, decay, step_size, sqrt_bc2);                 \
            p[i] = pi;                                                                                          \
            m[i] = mi;                                                                                          \
            v[i] = vi;                                                                                          \
            if (p16) p16[i] = f32_to_bf16(pi);                                                                  \
        }                                                                                                       \
    }
R1_ADAMW(r1_adamw_f32, float)
R1_ADAMW(r1_adamw_bf16, bf16)
