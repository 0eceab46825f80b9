// rope.cu: rotary position embedding in the HF rotate-half layout
// (backend/cpu/ops.go rope): the pair of element i is i+D/2.

// r1_rope: x (B,T,H,D) rotated in place; pos (B·T) indexes the rows of
// cos, sin (P, D/2); inverse ≠ 0 rotates by −θ (the backward pass). A
// position outside [0,P) leaves its row unchanged and sets *err = 1 (err
// may be null); the host checks err because a kernel cannot panic.
// One thread per pair: grid-stride over B·T·H·(D/2).
extern "C" __global__ void r1_rope(bf16* __restrict__ x, const float* __restrict__ cosv, const float* __restrict__ sinv,
                                   const int* __restrict__ pos, int* __restrict__ err, long long bt, int h, int d, int p,
                                   int inverse) {
    int half = d / 2;
    long long n = bt * h * half;
    float sign = inverse ? -1.0f : 1.0f;
    GRID_STRIDE(k, n) {
        int i = (int)(k % half);
        long long row = k / half;  // (bt, head)
        long long t = row / h;
        int ps = pos[t];
        if (ps < 0 || ps >= p) {
            if (err) *err = 1;
            continue;
        }
        float a = ld(x, row * d + i), b = ld(x, row * d + i + half);
        rope_pair(&a, &b, cosv[(long long)ps * half + i], sign * sinv[(long long)ps * half + i]);
        st(x, row * d + i, a);
        st(x, row * d + i + half, b);
    }
}
