// harness.cpp runs the scalar device functions of common.cu on the host
// (TestKernelMathHost compiles it with g++), so that the same source text
// the GPU compiles is checked against the Go reference. It reads commands
// on stdin and writes results on stdout, floats as 32-bit hex bit patterns
// so that comparisons can be exact.
//
// Commands (counts first, then operands):
//   f2b n x...            -> n bf16 bit patterns of f32_to_bf16(x)
//   b2f                   -> 65536 f32 bit patterns of bf16_to_f32(0..65535)
//   swiglu n (d g u)...   -> n triples: swiglu_f(g,u), dgate, dup
//   adamw n beta1 beta2 eps decay step sqrtbc2 (p g m v)... -> n triples p m v
//   rope n (x1 x2 c s)... -> n pairs
//   rms n c eps ss...     -> n rstd values
//   lse n z...            -> lse, entropy by lse_push in order; then lse,
//                            entropy in the order of a 512-thread block
#include <math.h>
#include <cstdio>
#include <cstring>
#include <vector>

#define R1_HOST_HARNESS 1
#define __device__
#define __forceinline__ inline
typedef unsigned short bf16;
static inline float __uint_as_float(unsigned int u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    std::memcpy(&u, &f, 4);
    return u;
}

#include "../common.cu"

static float rd() {
    unsigned int u;
    if (std::scanf("%x", &u) != 1) return 0;
    return __uint_as_float(u);
}
// butterfly merges 32 states the way warp_lse's xor shuffles do; every
// lane ends with the total.
static void butterfly(lse_state* lanes) {
    for (int o = 16; o > 0; o >>= 1) {
        lse_state next[32];
        for (int l = 0; l < 32; l++) next[l] = lse_merge(lanes[l], lanes[l ^ o]);
        for (int l = 0; l < 32; l++) lanes[l] = next[l];
    }
}

static void wr(float f) { std::printf("%08x\n", __float_as_uint(f)); }

int main() {
    char cmd[32];
    while (std::scanf("%31s", cmd) == 1) {
        if (!std::strcmp(cmd, "b2f")) {
            for (unsigned int h = 0; h < 65536; h++) wr(bf16_to_f32((bf16)h));
            continue;
        }
        int n = 0;
        if (std::scanf("%d", &n) != 1) return 2;
        if (!std::strcmp(cmd, "f2b")) {
            for (int i = 0; i < n; i++) std::printf("%04x\n", (unsigned)f32_to_bf16(rd()));
        } else if (!std::strcmp(cmd, "swiglu")) {
            for (int i = 0; i < n; i++) {
                float d = rd(), g = rd(), u = rd(), dg, du;
                swiglu_bwd_f(d, g, u, &dg, &du);
                wr(swiglu_f(g, u));
                wr(dg);
                wr(du);
            }
        } else if (!std::strcmp(cmd, "adamw")) {
            float b1 = rd(), b2 = rd(), eps = rd(), decay = rd(), step = rd(), sbc2 = rd();
            for (int i = 0; i < n; i++) {
                float p = rd(), g = rd(), m = rd(), v = rd();
                adamw_f(&p, g, &m, &v, b1, b2, eps, decay, step, sbc2);
                wr(p);
                wr(m);
                wr(v);
            }
        } else if (!std::strcmp(cmd, "rope")) {
            for (int i = 0; i < n; i++) {
                float a = rd(), b = rd(), c = rd(), s = rd();
                rope_pair(&a, &b, c, s);
                wr(a);
                wr(b);
            }
        } else if (!std::strcmp(cmd, "rms")) {
            int c = 0;
            if (std::scanf("%d", &c) != 1) return 2;
            float eps = rd();
            for (int i = 0; i < n; i++) wr(rms_rstd(rd(), c, eps));
        } else if (!std::strcmp(cmd, "lse")) {
            std::vector<float> z(n);
            for (int i = 0; i < n; i++) z[i] = rd();
            lse_state seq = lse_empty();
            for (int i = 0; i < n; i++) seq = lse_push(seq, z[i]);
            wr(lse_value(seq));
            wr(lse_entropy(seq));
            // 512 threads, each over a strided share (the launch of
            // r1_logsoftmax_gather_*), then warp_lse within each warp and
            // again over the 16 warp results, as block_lse does.
            lse_state part[512];
            for (int l = 0; l < 512; l++) {
                part[l] = lse_empty();
                for (int i = l; i < n; i += 512) part[l] = lse_push(part[l], z[i]);
            }
            for (int w = 0; w < 16; w++) butterfly(part + 32 * w);
            lse_state warps[32];
            for (int w = 0; w < 32; w++) warps[w] = w < 16 ? part[32 * w] : lse_empty();
            butterfly(warps);
            part[0] = warps[0];
            wr(lse_value(part[0]));
            wr(lse_entropy(part[0]));
        } else {
            std::fprintf(stderr, "harness: unknown command %s\n", cmd);
            return 2;
        }
    }
    return 0;
}
