// swiglu.cu: SwiGLU forward and backward (backend/cpu/ops.go swiglu,
// swigluBackward), elementwise over (N,F). Grid-stride; any grid works.

// r1_swiglu_fwd: out = silu(gate)·up.
extern "C" __global__ void r1_swiglu_fwd(bf16* __restrict__ out, const bf16* __restrict__ gate, const bf16* __restrict__ up,
                                         long long n) {
    GRID_STRIDE(i, n) st(out, i, swiglu_f(ld(gate, i), ld(up, i)));
}

// r1_swiglu_bwd: dgate, dup (overwritten) from dout.
extern "C" __global__ void r1_swiglu_bwd(bf16* __restrict__ dgate, bf16* __restrict__ dup, const bf16* __restrict__ dout,
                                         const bf16* __restrict__ gate, const bf16* __restrict__ up, long long n) {
    GRID_STRIDE(i, n) {
        float dg, du;
        swiglu_bwd_f(ld(dout, i), ld(gate, i), ld(up, i), &dg, &du);
        st(dgate, i, dg);
        st(dup, i, du);
    }
}
