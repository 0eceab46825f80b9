//go:build !linux

package cuda

import "errors"

// platformError explains why nothing in this package can work here.
var platformError = errors.New("cuda: CUDA needs linux; the CPU backend will be used (--device cpu)")

func dlopen(path string) (uintptr, error) { return 0, platformError }

func dlsym(h uintptr, name string) (uintptr, error) { return 0, platformError }

// ccall is unreachable without dlopen; it answers CUDA_ERROR_UNKNOWN (999)
// rather than panicking.
func ccall(fn uintptr, args ...uintptr) uintptr { return 999 }
