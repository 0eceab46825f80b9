package cuda

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// libSpec describes one shared library r1 needs and how to look for it.
type libSpec struct {
	what    string   // for messages: "CUDA driver (libcuda)"
	sonames []string // tried first, bare, so the dynamic loader's own search (ld.so.cache, LD_LIBRARY_PATH) applies
	pattern string   // file glob tried in every search directory, e.g. "libnvrtc.so*"
}

var (
	// The driver is installed with the kernel module, in the loader's path;
	// only libcuda.so.1 is ABI-stable (libcuda.so is a dev symlink that may
	// be a link-time stub).
	specDriver = libSpec{what: "CUDA driver (libcuda)", sonames: []string{"libcuda.so.1"}, pattern: "libcuda.so.1"}
	specNVRTC  = libSpec{what: "NVRTC (libnvrtc)", sonames: []string{"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"}, pattern: "libnvrtc.so*"}
	specLt     = libSpec{what: "cuBLASLt (libcublasLt)", sonames: []string{"libcublasLt.so", "libcublasLt.so.13", "libcublasLt.so.12"}, pattern: "libcublasLt.so*"}
)

// searchEnv is what the library search reads from the outside world, so
// that tests can run it against temporary directories.
type searchEnv struct {
	getenv func(string) string
	glob   func(string) ([]string, error)
	// systemDirs are the fixed directories searched after $CUDA_HOME and
	// $CUDA_PATH; their entries may contain glob patterns.
	systemDirs []string
}

// defaultSystemDirs covers the toolkit's default install prefix, versioned
// toolkits side by side, the Debian/Ubuntu multiarch dirs, WSL's driver dir,
// and the NVIDIA wheels pip installs next to PyTorch (which is how many GPU
// machines get NVRTC and cuBLASLt without a toolkit).
var defaultSystemDirs = []string{
	"/usr/local/cuda/lib64",
	"/usr/local/cuda-*/lib64",
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib64",
	"/usr/lib/wsl/lib",
	"/usr/local/lib/python3*/dist-packages/nvidia/*/lib",
	"/usr/local/lib/python3*/site-packages/nvidia/*/lib",
	"/usr/lib/python3/dist-packages/nvidia/*/lib",
}

// dirs returns the directories to search, in order, with glob patterns
// expanded (newest versioned directory first) and duplicates removed.
func (env searchEnv) dirs() []string {
	var pats []string
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if root := env.getenv(v); root != "" {
			pats = append(pats, filepath.Join(root, "lib64"), filepath.Join(root, "lib"))
		}
	}
	// Python environments that installed PyTorch carry NVRTC and cuBLASLt
	// as NVIDIA wheels (nvidia/cuda_nvrtc/lib, nvidia/cublas/lib); conda
	// puts them in $CONDA_PREFIX/lib.
	if v := env.getenv("VIRTUAL_ENV"); v != "" {
		pats = append(pats, filepath.Join(v, "lib", "python3*", "site-packages", "nvidia", "*", "lib"))
	}
	if v := env.getenv("CONDA_PREFIX"); v != "" {
		pats = append(pats, filepath.Join(v, "lib"))
	}
	if v := env.getenv("HOME"); v != "" {
		pats = append(pats, filepath.Join(v, ".local", "lib", "python3*", "site-packages", "nvidia", "*", "lib"))
	}
	pats = append(pats, env.systemDirs...)
	seen := map[string]bool{}
	var out []string
	for _, p := range pats {
		ds := []string{p}
		if strings.ContainsAny(p, "*?[") {
			m, err := env.glob(p)
			if err != nil {
				continue // a malformed pattern only loses that entry
			}
			sortNewestFirst(m)
			ds = m
		}
		for _, d := range ds {
			d = filepath.Clean(d)
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// candidates lists what to hand to dlopen, in order: bare sonames first,
// then every matching file in every search directory (highest version
// first within a directory).
func (env searchEnv) candidates(spec libSpec) []string {
	out := append([]string(nil), spec.sonames...)
	for _, d := range env.dirs() {
		m, err := env.glob(filepath.Join(d, spec.pattern))
		if err != nil {
			continue
		}
		sortNewestFirst(m)
		out = append(out, m...)
	}
	return out
}

// load tries every candidate with open and returns the first handle. The
// error, when nothing loads, names the library, every directory searched
// and the fallback, because the usual reader is someone who asked for
// --device cuda on a machine where that cannot work.
func (env searchEnv) load(spec libSpec, open func(string) (uintptr, error)) (uintptr, string, error) {
	var errs []string
	for _, c := range env.candidates(spec) {
		h, err := open(c)
		if err == nil && h != 0 {
			return h, c, nil
		}
		if err != nil && filepath.IsAbs(c) {
			// Only files that exist but fail to load are worth showing
			// (wrong architecture, missing dependency); bare sonames
			// failing just means "not in the loader path".
			errs = append(errs, err.Error())
		}
	}
	msg := fmt.Sprintf("cuda: %s not found: tried %s through the dynamic loader (LD_LIBRARY_PATH, ld.so.cache) and %s in %s (set CUDA_HOME to add a toolkit); the CPU backend will be used (--device cpu)",
		spec.what, strings.Join(spec.sonames, ", "), spec.pattern, strings.Join(env.dirs(), ", "))
	if len(errs) > 0 {
		msg += "; load errors: " + strings.Join(errs, "; ")
	}
	return 0, "", errors.New(msg)
}

// sortNewestFirst orders paths so that higher version numbers embedded in
// the name come first (cuda-12.10 before cuda-12.9, libx.so.13 before
// libx.so.12.4 before libx.so), comparing numbers numerically.
func sortNewestFirst(paths []string) {
	sort.SliceStable(paths, func(i, j int) bool {
		return versionLess(paths[j], paths[i])
	})
}

// versionLess compares two strings by their runs of digits as numbers and
// everything else as text.
func versionLess(a, b string) bool {
	ta, tb := splitDigits(a), splitDigits(b)
	for k := 0; k < len(ta) && k < len(tb); k++ {
		x, y := ta[k], tb[k]
		if x == y {
			continue
		}
		nx, ex := strconv.ParseUint(x, 10, 64)
		ny, ey := strconv.ParseUint(y, 10, 64)
		if ex == nil && ey == nil && nx != ny {
			return nx < ny
		}
		return x < y
	}
	return len(ta) < len(tb)
}

func splitDigits(s string) []string {
	var out []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || isDigit(s[i]) != isDigit(s[start]) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
