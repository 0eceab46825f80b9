// Self-test kernel for the driver bindings (device_cuda_test.go): it takes
// one argument of every type (*Device).Launch marshals, so a wrong size or
// order in the kernelParams array shows up as a wrong result.

// y(n) = a·x(n) + off + stride·i; tag_out[0] = tag.
extern "C" __global__ void r1_selftest(float* y, const float* x, int n, unsigned int stride,
                                       float a, long long off, unsigned long long tag,
                                       unsigned long long* tag_out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        y[i] = a * x[i] + (float)(off + (long long)stride * i);
    }
    if (i == 0) {
        tag_out[0] = tag;
    }
}
