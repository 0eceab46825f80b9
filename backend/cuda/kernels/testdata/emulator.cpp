// emulator.cpp runs the CUDA kernels of KernelSource() on the host, one
// OS thread per CUDA thread, so that TestKernelsEmulated can compare every
// kernel with backend/cpu without a GPU. It is a test tool, not a CUDA
// implementation: blocks run one after another; __syncthreads is a
// std::barrier over the block; warp shuffles exchange values through a
// per-warp slot array and a barrier of the warp's 32 threads;
// __shared__ variables are statics (one instance, as blocks never overlap).
// It checks the kernels' logic (indexing, tiling, masking, reductions,
// barriers and shuffles in warp-uniform control flow), not GPU timing,
// memory model subtleties or the exact rounding of the GPU's expf.
//
// The Go test appends the kernel source and a generated dispatch function
// (emu_dispatch) after this prelude, compiles with g++ -std=c++20, and
// talks to the program on stdin/stdout:
//
//   launch NAME gx gy gz bx by bz NARGS
//   then per argument:  buf KIND N v...   (KIND f32|bf16|i32|f64; values hex bits)
//                      alias J (argument J's buffer) | null | i32 V | i64 V | f32 HEX
// and reads back, for each buf argument in order, its N values in hex.
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <math.h>

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
static dim3 blockIdx, blockDim, gridDim;
static thread_local dim3 threadIdx;

#define __global__
#define __device__
#define __shared__ static
#define __forceinline__ inline

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

// The barriers of the running block. Threads that return early drop out
// of both (arrive_and_drop), as exited threads do on the GPU.
static std::unique_ptr<std::barrier<>> block_bar;
static std::vector<std::unique_ptr<std::barrier<>>> warp_bar;
static std::vector<std::vector<double>> warp_slot;  // [warp][phase·32 + lane]

static inline unsigned int linear_tid() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

static inline void __syncthreads() { block_bar->arrive_and_wait(); }

// shfl costs one barrier: consecutive shuffles alternate between two slot
// rows, and no lane can write row p again before every lane has passed
// the barrier of the shuffle in between, i.e. has read row p.
static thread_local unsigned int shfl_phase;

template <typename T>
static T shfl(T v, int src_lane) {
    unsigned int tid = linear_tid(), w = tid / 32, lane = tid % 32;
    double* row = &warp_slot[w][32 * (shfl_phase & 1)];
    shfl_phase++;
    row[lane] = (double)v;  // exact for float, int and double
    warp_bar[w]->arrive_and_wait();
    return (T)row[src_lane & 31];
}
template <typename T>
static inline T __shfl_xor_sync(unsigned, T v, int o) {
    return shfl(v, (int)(linear_tid() % 32) ^ o);
}
template <typename T>
static inline T __shfl_sync(unsigned, T v, int l) {
    return shfl(v, l);
}
// double shuffles (SumSquares) go through the same slots; doubles are
// exact there.

static inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
static inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }

// run launches body over the grid.
static void run(dim3 grid, dim3 block, const std::function<void()>& body) {
    gridDim = grid;
    blockDim = block;
    unsigned int nt = block.x * block.y * block.z, nw = (nt + 31) / 32;
    for (unsigned int bz = 0; bz < grid.z; bz++)
        for (unsigned int by = 0; by < grid.y; by++)
            for (unsigned int bx = 0; bx < grid.x; bx++) {
                blockIdx.x = bx;
                blockIdx.y = by;
                blockIdx.z = bz;
                block_bar = std::make_unique<std::barrier<>>(nt);
                warp_bar.clear();
                warp_slot.assign(nw, std::vector<double>(64));
                for (unsigned int w = 0; w < nw; w++)
                    warp_bar.push_back(std::make_unique<std::barrier<>>(w + 1 < nw || nt % 32 == 0 ? 32 : nt % 32));
                std::vector<std::thread> ts;
                for (unsigned int t = 0; t < nt; t++) {
                    ts.emplace_back([&, t] {
                        shfl_phase = 0;
                        threadIdx.x = t % block.x;
                        threadIdx.y = (t / block.x) % block.y;
                        threadIdx.z = t / (block.x * block.y);
                        body();
                        block_bar->arrive_and_drop();
                        warp_bar[t / 32]->arrive_and_drop();
                    });
                }
                for (auto& th : ts) th.join();
            }
}

// Arg is one kernel argument as read from stdin.
struct Arg {
    std::string kind;  // buffers: f32 bf16 i32 f64; null; scalars: si32 si64 sf32
    std::vector<float> f;
    std::vector<unsigned short> h;
    std::vector<int> i;
    std::vector<double> d;
    long long iv = 0;
    float fv = 0;
    Arg* alias = nullptr;  // "alias J": the same buffer as argument J
    void* ptr() {
        if (alias) return alias->ptr();
        if (kind == "f32") return f.data();
        if (kind == "bf16") return h.data();
        if (kind == "i32") return i.data();
        if (kind == "f64") return d.data();
        return nullptr;
    }
};

static bool emu_dispatch(const std::string& name, dim3 grid, dim3 block, std::vector<Arg>& a);

static bool read_arg(Arg& a) {
    char kind[16];
    if (std::scanf("%15s", kind) != 1) return false;
    std::string k = kind;
    if (k == "null" || k == "alias") {
        a.kind = k;
        return k == "null" || std::scanf("%lld", &a.iv) == 1;
    }
    if (k == "i32" || k == "i64") {
        a.kind = "s" + k;
        return std::scanf("%lld", &a.iv) == 1;
    }
    if (k == "f32") {
        unsigned int u;
        a.kind = "sf32";
        if (std::scanf("%x", &u) != 1) return false;
        a.fv = __uint_as_float(u);
        return true;
    }
    if (k != "buf") return false;
    long long n;
    if (std::scanf("%15s %lld", kind, &n) != 2 || n < 0) return false;
    a.kind = kind;
    for (long long j = 0; j < n; j++) {
        unsigned long long u;
        if (std::scanf("%llx", &u) != 1) return false;
        if (a.kind == "f32") a.f.push_back(__uint_as_float((unsigned int)u));
        else if (a.kind == "bf16") a.h.push_back((unsigned short)u);
        else if (a.kind == "i32") a.i.push_back((int)(unsigned int)u);
        else if (a.kind == "f64") {
            double d;
            std::memcpy(&d, &u, 8);
            a.d.push_back(d);
        } else return false;
    }
    return true;
}

int main() {
    char cmd[16], name[128];
    while (std::scanf("%15s", cmd) == 1) {
        dim3 g, b;
        int nargs;
        if (std::strcmp(cmd, "launch") != 0 ||
            std::scanf("%127s %u %u %u %u %u %u %d", name, &g.x, &g.y, &g.z, &b.x, &b.y, &b.z, &nargs) != 8) {
            std::fprintf(stderr, "emulator: malformed command\n");
            return 2;
        }
        std::vector<Arg> args(nargs);
        for (size_t j = 0; j < args.size(); j++) {
            Arg& a = args[j];
            if (!read_arg(a) || (a.kind == "alias" && (a.iv < 0 || (size_t)a.iv >= j))) {
                std::fprintf(stderr, "emulator: malformed argument for %s\n", name);
                return 2;
            }
            if (a.kind == "alias") a.alias = &args[a.iv];
        }
        if (!emu_dispatch(name, g, b, args)) {
            std::fprintf(stderr, "emulator: unknown kernel %s\n", name);
            return 2;
        }
        for (auto& a : args) {
            for (float v : a.f) std::printf("%08x\n", __float_as_uint(v));
            for (unsigned short v : a.h) std::printf("%04x\n", v);
            for (int v : a.i) std::printf("%08x\n", (unsigned int)v);
            for (double v : a.d) {
                unsigned long long u;
                std::memcpy(&u, &v, 8);
                std::printf("%016llx\n", u);
            }
        }
        std::printf("end\n");
        std::fflush(stdout);
    }
    return 0;
}
