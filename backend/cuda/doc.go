// Package cuda is r1's NVIDIA GPU backend: bindings to the CUDA driver API,
// NVRTC and cuBLASLt loaded at run time through purego (so the r1 binary
// still builds with CGO_ENABLED=0), a device owned by one OS thread, a
// caching allocator and an on-disk cache of NVRTC-compiled kernels.
//
// Status: everything in this package that needs libcuda has been compiled
// and checked on machines without a GPU only (library search, error paths,
// allocator, kernel cache and argument marshalling are unit-tested with
// fakes). The GPU tests are in files built with -tags cuda and have not yet
// been run on a GPU.
package cuda
