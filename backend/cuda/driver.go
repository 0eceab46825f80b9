package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"
)

// Values from cuda.h (CUDA 12.x/13.x; these enums have been stable since
// they were introduced).
const (
	cuDevAttrMultiprocessorCount = 16 // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	cuDevAttrCCMajor             = 75 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	cuDevAttrCCMinor             = 76 // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
	cuStreamNonBlocking          = 1  // CU_STREAM_NON_BLOCKING
	cuEventDefault               = 0  // CU_EVENT_DEFAULT
	cuStreamCaptureModeThread    = 1  // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
)

// symbol is one C entry point to resolve: the first of names found wins,
// which handles versioned names (cuEventElapsedTime_v2 in CUDA ≥ 12.8,
// the plain name before).
type symbol struct {
	dst      *uintptr
	names    []string
	optional bool
}

// resolve looks every symbol up in the library at handle h (loaded from
// path); a missing required symbol is an error naming it, the file, and
// what is probably wrong.
func resolve(h uintptr, path, need string, syms []symbol) error {
	for _, s := range syms {
		for _, n := range s.names {
			if p, err := dlsym(h, n); err == nil && p != 0 {
				*s.dst = p
				break
			}
		}
		if *s.dst == 0 && !s.optional {
			return fmt.Errorf("cuda: %s has no symbol %s; %s", path, s.names[0], need)
		}
	}
	return nil
}

// driver holds the libcuda entry points.
type driver struct {
	path string

	cuInit, cuDriverGetVersion, cuGetErrorName, cuGetErrorString                           uintptr
	cuDeviceGet, cuDeviceGetCount, cuDeviceGetName, cuDeviceGetAttribute, cuDeviceTotalMem uintptr
	cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease, cuCtxSetCurrent                   uintptr
	cuMemAlloc, cuMemFree, cuMemGetInfo                                                    uintptr
	cuMemcpyHtoD, cuMemcpyDtoH, cuMemcpyDtoD                                               uintptr
	cuMemcpyHtoDAsync, cuMemcpyDtoHAsync, cuMemcpyDtoDAsync                                uintptr
	cuMemsetD8, cuMemsetD32, cuMemsetD8Async, cuMemsetD32Async                             uintptr
	cuStreamCreate, cuStreamSynchronize, cuStreamDestroy                                   uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuLaunchKernel                  uintptr
	cuEventCreate, cuEventRecord, cuEventSynchronize, cuEventElapsedTime, cuEventDestroy   uintptr
	cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiateWithFlags                  uintptr
	cuGraphLaunch, cuGraphExecDestroy, cuGraphDestroy                                      uintptr
}

func loadDriver(env searchEnv) (*driver, error) {
	if platformError != nil {
		return nil, platformError
	}
	h, path, err := env.load(specDriver, dlopen)
	if err != nil {
		return nil, err
	}
	d := &driver{path: path}
	s := func(dst *uintptr, names ...string) symbol { return symbol{dst: dst, names: names} }
	// The _v2 names are what cuda.h's #defines map the plain names to since
	// CUDA 3.2 (memory) / 11 (primary context release) / 10.1 (capture).
	syms := []symbol{
		s(&d.cuInit, "cuInit"), s(&d.cuDriverGetVersion, "cuDriverGetVersion"),
		s(&d.cuGetErrorName, "cuGetErrorName"), s(&d.cuGetErrorString, "cuGetErrorString"),
		s(&d.cuDeviceGet, "cuDeviceGet"), s(&d.cuDeviceGetCount, "cuDeviceGetCount"),
		s(&d.cuDeviceGetName, "cuDeviceGetName"), s(&d.cuDeviceGetAttribute, "cuDeviceGetAttribute"),
		s(&d.cuDeviceTotalMem, "cuDeviceTotalMem_v2"),
		s(&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
		s(&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"),
		s(&d.cuCtxSetCurrent, "cuCtxSetCurrent"),
		s(&d.cuMemAlloc, "cuMemAlloc_v2"), s(&d.cuMemFree, "cuMemFree_v2"), s(&d.cuMemGetInfo, "cuMemGetInfo_v2"),
		s(&d.cuMemcpyHtoD, "cuMemcpyHtoD_v2"), s(&d.cuMemcpyDtoH, "cuMemcpyDtoH_v2"), s(&d.cuMemcpyDtoD, "cuMemcpyDtoD_v2"),
		s(&d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"), s(&d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
		s(&d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
		s(&d.cuMemsetD8, "cuMemsetD8_v2"), s(&d.cuMemsetD32, "cuMemsetD32_v2"),
		s(&d.cuMemsetD8Async, "cuMemsetD8Async"), s(&d.cuMemsetD32Async, "cuMemsetD32Async"),
		s(&d.cuStreamCreate, "cuStreamCreate"), s(&d.cuStreamSynchronize, "cuStreamSynchronize"),
		s(&d.cuStreamDestroy, "cuStreamDestroy_v2"),
		s(&d.cuModuleLoadData, "cuModuleLoadData"), s(&d.cuModuleUnload, "cuModuleUnload"),
		s(&d.cuModuleGetFunction, "cuModuleGetFunction"), s(&d.cuLaunchKernel, "cuLaunchKernel"),
		s(&d.cuEventCreate, "cuEventCreate"), s(&d.cuEventRecord, "cuEventRecord"),
		s(&d.cuEventSynchronize, "cuEventSynchronize"),
		s(&d.cuEventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime"),
		s(&d.cuEventDestroy, "cuEventDestroy_v2"),
		s(&d.cuStreamBeginCapture, "cuStreamBeginCapture_v2"), s(&d.cuStreamEndCapture, "cuStreamEndCapture"),
		s(&d.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags"),
		s(&d.cuGraphLaunch, "cuGraphLaunch"), s(&d.cuGraphExecDestroy, "cuGraphExecDestroy"),
		s(&d.cuGraphDestroy, "cuGraphDestroy"),
	}
	if err := resolve(h, path, "r1 needs an NVIDIA driver supporting CUDA 11.4 or newer", syms); err != nil {
		return nil, err
	}
	return d, nil
}

// call invokes a driver function and turns a non-zero CUresult into an
// *libError naming the call.
//
//go:uintptrescapes
func (d *driver) call(name string, fn uintptr, args ...uintptr) error {
	r := ccall(fn, args...)
	if r == cudaSuccess {
		return nil
	}
	return d.errorFor(name, int(int32(r)))
}

func (d *driver) errorFor(name string, code int) error {
	e := &libError{Lib: "cuda", Call: name, Code: code}
	var p uintptr
	if ccall(d.cuGetErrorName, uintptr(code), uintptr(unsafe.Pointer(&p))) == 0 {
		e.Name = goString(p)
	}
	p = 0
	if ccall(d.cuGetErrorString, uintptr(code), uintptr(unsafe.Pointer(&p))) == 0 {
		e.Msg = goString(p)
	}
	return e
}

// goString copies a NUL-terminated C string (at most 64 KiB, a bound no
// library message comes near) into Go memory. It reads byte by byte so it
// never touches memory past the terminator.
func goString(p uintptr) string {
	if p == 0 {
		return ""
	}
	// Converting through a pointer to the uintptr keeps vet's unsafeptr
	// check quiet; the memory is C's (or pinned by the caller).
	base := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	n := 0
	for n < 1<<16 && *(*byte)(unsafe.Add(base, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(base), n))
}

// cString returns s as a NUL-terminated byte slice for C.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// defaultEnv searches the real file system.
func defaultEnv() searchEnv {
	return searchEnv{getenv: os.Getenv, glob: filepath.Glob, systemDirs: defaultSystemDirs}
}
