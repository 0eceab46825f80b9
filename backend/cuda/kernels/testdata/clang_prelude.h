// clang_prelude.h is used ONLY by TestKernelsCompile, which compiles the
// kernels with clang (-nocudainc -nocudalib) as a stand-in for NVRTC.
// NVRTC has every name below built in; clang without the CUDA headers
// lacks them, so they are declared here in terms of clang's NVVM builtins
// and libdevice's __nv_* functions (left as extern calls in the PTX).
#ifdef __clang__
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#include <__clang_cuda_builtin_vars.h>

extern "C" __device__ float __nv_expf(float);
extern "C" __device__ float __nv_logf(float);
extern "C" __device__ float __nv_sqrtf(float);
extern "C" __device__ float __nv_fmaxf(float, float);
extern "C" __device__ float __nv_fminf(float, float);
static __device__ __forceinline__ float expf(float x) { return __nv_expf(x); }
static __device__ __forceinline__ float logf(float x) { return __nv_logf(x); }
static __device__ __forceinline__ float sqrtf(float x) { return __nv_sqrtf(x); }
static __device__ __forceinline__ float fmaxf(float x, float y) { return __nv_fmaxf(x, y); }
static __device__ __forceinline__ float fminf(float x, float y) { return __nv_fminf(x, y); }

static __device__ __forceinline__ float __uint_as_float(unsigned int u) { return __builtin_bit_cast(float, u); }
static __device__ __forceinline__ unsigned int __float_as_uint(float f) { return __builtin_bit_cast(unsigned int, f); }
static __device__ __forceinline__ float __int_as_float(int u) { return __builtin_bit_cast(float, u); }
static __device__ __forceinline__ int __float_as_int(float f) { return __builtin_bit_cast(int, f); }

static __device__ __forceinline__ float __shfl_xor_sync(unsigned m, float v, int o) {
    return __nvvm_shfl_sync_bfly_f32(m, v, o, 0x1f);
}
static __device__ __forceinline__ int __shfl_xor_sync(unsigned m, int v, int o) {
    return __nvvm_shfl_sync_bfly_i32(m, v, o, 0x1f);
}
static __device__ __forceinline__ double __shfl_xor_sync(unsigned m, double v, int o) {
    long long b = __builtin_bit_cast(long long, v);
    int lo = __nvvm_shfl_sync_bfly_i32(m, (int)b, o, 0x1f);
    int hi = __nvvm_shfl_sync_bfly_i32(m, (int)(b >> 32), o, 0x1f);
    return __builtin_bit_cast(double, ((long long)hi << 32) | (unsigned int)lo);
}
static __device__ __forceinline__ float __shfl_sync(unsigned m, float v, int l) {
    return __nvvm_shfl_sync_idx_f32(m, v, l, 0x1f);
}
static __device__ __forceinline__ int __shfl_sync(unsigned m, int v, int l) {
    return __nvvm_shfl_sync_idx_i32(m, v, l, 0x1f);
}
static __device__ __forceinline__ float atomicAdd(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
static __device__ __forceinline__ int atomicAdd(int* p, int v) { return __nvvm_atom_add_gen_i(p, v); }
#endif
#ifdef __clang__
static __device__ __forceinline__ unsigned int __shfl_xor_sync(unsigned m, unsigned int v, int o) {
    return (unsigned int)__nvvm_shfl_sync_bfly_i32(m, (int)v, o, 0x1f);
}
extern "C" __device__ float __nv_floorf(float);
extern "C" __device__ float __nv_ceilf(float);
static __device__ __forceinline__ float floorf(float x) { return __nv_floorf(x); }
static __device__ __forceinline__ float ceilf(float x) { return __nv_ceilf(x); }
#endif
