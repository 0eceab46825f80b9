//go:build linux

package cuda

import "github.com/ebitengine/purego"

// platformError is nil where CUDA can work.
var platformError error

func dlopen(path string) (uintptr, error) {
	// RTLD_GLOBAL so that libraries loaded later (cuBLASLt needs libcublas
	// symbols, NVRTC its builtins library) resolve against the ones loaded
	// earlier.
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
}

func dlsym(h uintptr, name string) (uintptr, error) { return purego.Dlsym(h, name) }

// ccall calls the C function fn with integer/pointer arguments and returns
// its integer result (CUresult, nvrtcResult, cublasStatus_t, size_t).
// uintptrescapes keeps Go memory whose address is converted in the
// argument list alive and in place for the duration of the call.
//
//go:uintptrescapes
func ccall(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}
