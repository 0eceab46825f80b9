package cuda

import (
	"errors"
	"fmt"
)

// errOutOfMemory is wrapped by every error caused by device memory running
// out, whether the driver said so (CUDA_ERROR_OUT_OF_MEMORY) or a fake
// device in a test did; the allocator retries once after emptying its cache.
var errOutOfMemory = errors.New("cuda: out of device memory")

// Result codes from cuda.h (enum cudaError_enum) that the package treats
// specially.
const (
	cudaSuccess          = 0   // CUDA_SUCCESS
	cudaErrorOutOfMemory = 2   // CUDA_ERROR_OUT_OF_MEMORY
	cudaErrorNoDevice    = 100 // CUDA_ERROR_NO_DEVICE
	cudaErrorNotReady    = 600 // CUDA_ERROR_NOT_READY
)

// libError is a failed CUDA driver, NVRTC or cuBLASLt call.
type libError struct {
	Lib  string // "cuda", "nvrtc" or "cublasLt"
	Call string // the C function, e.g. "cuMemAlloc_v2"
	Code int    // the CUresult / nvrtcResult / cublasStatus_t
	Name string // symbolic name when the library could tell, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Msg  string // the library's description, may be empty
}

func (e *libError) Error() string {
	s := fmt.Sprintf("%s: %s failed with %d", e.Lib, e.Call, e.Code)
	if e.Name != "" {
		s += " (" + e.Name + ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is makes errors.Is(err, errOutOfMemory) true for driver OOM results, so
// callers need not know CUresult numbers.
func (e *libError) Is(target error) bool {
	return target == errOutOfMemory && e.Lib == "cuda" && e.Code == cudaErrorOutOfMemory
}
