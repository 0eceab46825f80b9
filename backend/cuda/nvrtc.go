package cuda

import (
	"fmt"
	"runtime"
	"unsafe"
)

// nvrtc holds the NVRTC entry points (nvrtc.h) and implements compiler.
type nvrtc struct {
	path string

	nvrtcVersion, nvrtcGetErrorString                     uintptr
	nvrtcCreateProgram, nvrtcCompileProgram               uintptr
	nvrtcGetProgramLogSize, nvrtcGetProgramLog            uintptr
	nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcDestroyProgram uintptr

	major, minor int32
}

func loadNVRTC(env searchEnv) (*nvrtc, error) {
	if platformError != nil {
		return nil, platformError
	}
	h, path, err := env.load(specNVRTC, dlopen)
	if err != nil {
		return nil, err
	}
	n := &nvrtc{path: path}
	s := func(dst *uintptr, name string) symbol { return symbol{dst: dst, names: []string{name}} }
	// nvrtcGetCUBIN appeared in NVRTC 11.1; older ones can only emit PTX,
	// which would be JIT-compiled by the driver on every start.
	if err := resolve(h, path, "r1 needs NVRTC 11.1 or newer (for nvrtcGetCUBIN)", []symbol{
		s(&n.nvrtcVersion, "nvrtcVersion"), s(&n.nvrtcGetErrorString, "nvrtcGetErrorString"),
		s(&n.nvrtcCreateProgram, "nvrtcCreateProgram"), s(&n.nvrtcCompileProgram, "nvrtcCompileProgram"),
		s(&n.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"), s(&n.nvrtcGetProgramLog, "nvrtcGetProgramLog"),
		s(&n.nvrtcGetCUBINSize, "nvrtcGetCUBINSize"), s(&n.nvrtcGetCUBIN, "nvrtcGetCUBIN"),
		s(&n.nvrtcDestroyProgram, "nvrtcDestroyProgram"),
	}); err != nil {
		return nil, err
	}
	// nvrtcResult nvrtcVersion(int *major, int *minor)
	if err := n.call("nvrtcVersion", n.nvrtcVersion, uintptr(unsafe.Pointer(&n.major)), uintptr(unsafe.Pointer(&n.minor))); err != nil {
		return nil, err
	}
	return n, nil
}

//go:uintptrescapes
func (n *nvrtc) call(name string, fn uintptr, args ...uintptr) error {
	r := ccall(fn, args...)
	if r == 0 { // NVRTC_SUCCESS
		return nil
	}
	code := int(int32(r))
	// const char *nvrtcGetErrorString(nvrtcResult result)
	return &libError{Lib: "nvrtc", Call: name, Code: code, Name: goString(ccall(n.nvrtcGetErrorString, uintptr(code)))}
}

func (n *nvrtc) version() string { return fmt.Sprintf("nvrtc %d.%d", n.major, n.minor) }

// compile builds src into a CUBIN for arch ("sm_90"): compiling straight
// to the device's own SASS means the driver never JIT-compiles PTX.
func (n *nvrtc) compile(src, name, arch string, opts []string) ([]byte, error) {
	all := append([]string{"--gpu-architecture=" + arch}, opts...)
	cs := make([][]byte, len(all))
	ptrs := make([]uintptr, len(all))
	for i, o := range all {
		cs[i] = cString(o)
		ptrs[i] = uintptr(unsafe.Pointer(&cs[i][0]))
	}
	csrc, cname := cString(src), cString(name)

	var prog uintptr
	// nvrtcCreateProgram(nvrtcProgram *prog, const char *src, const char *name,
	//                    int numHeaders, const char * const *headers, const char * const *includeNames)
	if err := n.call("nvrtcCreateProgram", n.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(&csrc[0])), uintptr(unsafe.Pointer(&cname[0])), 0, 0, 0); err != nil {
		return nil, fmt.Errorf("%w (program %s)", err, name)
	}
	defer n.call("nvrtcDestroyProgram", n.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog)))

	// nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char * const *options)
	cerr := n.call("nvrtcCompileProgram", n.nvrtcCompileProgram, prog, uintptr(len(ptrs)), uintptr(unsafe.Pointer(&ptrs[0])))
	runtime.KeepAlive(cs)
	if cerr != nil {
		return nil, fmt.Errorf("%w: compiling %s for %s with %q:\n%s", cerr, name, arch, all, n.log(prog))
	}
	var size uintptr
	if err := n.call("nvrtcGetCUBINSize", n.nvrtcGetCUBINSize, prog, uintptr(unsafe.Pointer(&size))); err != nil {
		return nil, fmt.Errorf("%w (program %s, arch %s)", err, name, arch)
	}
	if size == 0 {
		return nil, fmt.Errorf("nvrtc: %s compiled for %s produced no CUBIN (is %s a real architecture, not compute_XY?)", name, arch, arch)
	}
	cubin := make([]byte, size)
	if err := n.call("nvrtcGetCUBIN", n.nvrtcGetCUBIN, prog, uintptr(unsafe.Pointer(&cubin[0]))); err != nil {
		return nil, fmt.Errorf("%w (program %s, arch %s)", err, name, arch)
	}
	return cubin, nil
}

func (n *nvrtc) log(prog uintptr) string {
	var size uintptr
	if n.call("nvrtcGetProgramLogSize", n.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&size))) != nil || size <= 1 {
		return "(no compiler log)"
	}
	b := make([]byte, size)
	if n.call("nvrtcGetProgramLog", n.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&b[0]))) != nil {
		return "(compiler log unavailable)"
	}
	if b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}
