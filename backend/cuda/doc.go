// Package cuda is r1's NVIDIA GPU backend: bindings to the CUDA driver API,
// NVRTC and cuBLASLt loaded at run time through purego (so the r1 binary
// still builds with CGO_ENABLED=0), a device owned by one OS thread, a
// caching allocator, an on-disk cache of NVRTC-compiled kernels, the CUDA C
// kernels of every op (kernels/*.cu) and Backend, the tensor.Backend on top
// of them (bf16 storage, f32 accumulation, GEMMs through cuBLASLt).
//
// The public API is small; everything else is internal to the package:
//   - Probe reports the GPUs and the CUDA libraries found (ProbeInfo,
//     DeviceInfo) without creating a context; its error says what is
//     missing.
//   - New(ordinal) opens one GPU and returns a *Backend, which implements
//     tensor.Backend; Close releases the device.
//
// Status: nothing here has run on a GPU yet. Checked without one: library
// search and error paths, the allocator, the kernel cache and argument
// marshalling (unit tests with fakes); every kernel compiles with clang for
// sm_80 and, run on a host emulator (one OS thread per CUDA thread), matches
// backend/cpu; Backend on a fake device with the emulated kernels matches
// backend/cpu op by op and on a tiny model's logits. The GPU tests are in
// files built with -tags cuda (go test -tags cuda ./backend/cuda/) and skip
// cleanly without a GPU; `r1 --device cuda` stays an error until they pass.
package cuda
