package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// touch creates empty files (the search only looks at names).
func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func testEnv(vars map[string]string, systemDirs ...string) searchEnv {
	return searchEnv{getenv: func(k string) string { return vars[k] }, glob: filepath.Glob, systemDirs: systemDirs}
}

func TestCandidatesOrder(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	sys := filepath.Join(root, "sys")
	touch(t,
		filepath.Join(home, "lib64", "libnvrtc.so.12"),
		filepath.Join(home, "lib64", "libnvrtc-builtins.so.12"), // must not match
		filepath.Join(sys, "cuda-12.9", "lib64", "libnvrtc.so.12.9.41"),
		filepath.Join(sys, "cuda-12.10", "lib64", "libnvrtc.so.12.10.2"),
		filepath.Join(sys, "cuda-12.10", "lib64", "libnvrtc.so"),
		filepath.Join(sys, "cuda-12.10", "lib64", "libnvrtc.so.13"),
		filepath.Join(sys, "multiarch", "libcublasLt.so.12"),
	)
	env := testEnv(map[string]string{"CUDA_HOME": home}, filepath.Join(sys, "cuda-*", "lib64"), filepath.Join(sys, "multiarch"))
	tests := []struct {
		spec libSpec
		want []string
	}{
		{specNVRTC, []string{
			"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12",
			filepath.Join(home, "lib64", "libnvrtc.so.12"),
			// cuda-12.10 is newer than cuda-12.9 although it sorts before it as text.
			filepath.Join(sys, "cuda-12.10", "lib64", "libnvrtc.so.13"),
			filepath.Join(sys, "cuda-12.10", "lib64", "libnvrtc.so.12.10.2"),
			filepath.Join(sys, "cuda-12.10", "lib64", "libnvrtc.so"),
			filepath.Join(sys, "cuda-12.9", "lib64", "libnvrtc.so.12.9.41"),
		}},
		{specLt, []string{"libcublasLt.so", "libcublasLt.so.13", "libcublasLt.so.12", filepath.Join(sys, "multiarch", "libcublasLt.so.12")}},
		{specDriver, []string{"libcuda.so.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.spec.what, func(t *testing.T) {
			if got := env.candidates(tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("candidates:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDirsEnvFirstAndDeduplicated(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a")
	env := testEnv(map[string]string{"CUDA_HOME": a, "CUDA_PATH": a}, filepath.Join(a, "lib64"), filepath.Join(root, "none-*"))
	want := []string{filepath.Join(a, "lib64"), filepath.Join(a, "lib")}
	if got := env.dirs(); !reflect.DeepEqual(got, want) {
		t.Errorf("dirs = %q, want %q", got, want)
	}
}

func TestDirsPythonEnvironments(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv")
	home := filepath.Join(root, "home")
	conda := filepath.Join(root, "conda")
	venvLib := filepath.Join(venv, "lib", "python3.12", "site-packages", "nvidia", "cuda_nvrtc", "lib")
	homeLib := filepath.Join(home, ".local", "lib", "python3.10", "site-packages", "nvidia", "cublas", "lib")
	touch(t, filepath.Join(venvLib, "libnvrtc.so.12"), filepath.Join(homeLib, "libcublasLt.so.12"))
	env := testEnv(map[string]string{"VIRTUAL_ENV": venv, "HOME": home, "CONDA_PREFIX": conda})
	want := []string{venvLib, filepath.Join(conda, "lib"), homeLib}
	if got := env.dirs(); !reflect.DeepEqual(got, want) {
		t.Errorf("dirs = %q, want %q", got, want)
	}
	if c := env.candidates(specNVRTC); c[len(c)-1] != filepath.Join(venvLib, "libnvrtc.so.12") {
		t.Errorf("NVRTC candidates %q lack the virtualenv's wheel", c)
	}
}

func TestLoadPicksFirstLoadable(t *testing.T) {
	root := t.TempDir()
	bad := filepath.Join(root, "bad", "libcublasLt.so.13")
	good := filepath.Join(root, "good", "libcublasLt.so.12")
	touch(t, bad, good)
	env := testEnv(nil, filepath.Join(root, "bad"), filepath.Join(root, "good"))
	var tried []string
	open := func(p string) (uintptr, error) {
		tried = append(tried, p)
		if p == good {
			return 42, nil
		}
		return 0, errors.New(p + ": wrong ELF class")
	}
	h, path, err := env.load(specLt, open)
	if err != nil || h != 42 || path != good {
		t.Fatalf("load = %d, %q, %v; want 42, %q, nil", h, path, err, good)
	}
	want := []string{"libcublasLt.so", "libcublasLt.so.13", "libcublasLt.so.12", bad, good}
	if !reflect.DeepEqual(tried, want) {
		t.Errorf("tried %q, want %q", tried, want)
	}
}

func TestLoadErrorNamesEverything(t *testing.T) {
	root := t.TempDir()
	broken := filepath.Join(root, "lib64", "libnvrtc.so.12")
	touch(t, broken)
	env := testEnv(map[string]string{"CUDA_HOME": root}, "/nonexistent/cuda/lib64")
	open := func(p string) (uintptr, error) { return 0, errors.New("cannot open " + p) }
	_, _, err := env.load(specNVRTC, open)
	if err == nil {
		t.Fatal("load succeeded with no loadable library")
	}
	msg := err.Error()
	for _, want := range []string{"NVRTC", "libnvrtc.so.12", filepath.Join(root, "lib64"), "/nonexistent/cuda/lib64", "--device cpu", "cannot open " + broken} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	// A bare soname failing only means "not in the loader path": noise.
	if strings.Contains(msg, "cannot open libnvrtc.so.13") {
		t.Errorf("error %q lists a bare soname's load failure", msg)
	}
}

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"cuda-12.9", "cuda-12.10", true},
		{"cuda-12.10", "cuda-12.9", false},
		{"libx.so", "libx.so.12", true},
		{"libx.so.12.4", "libx.so.13", true},
		{"libx.so.13", "libx.so.13", false},
		{"", "a", true},
		{"a", "", false},
		{"cuda-11.8", "cuda-12.0", true},
	}
	for _, tc := range tests {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
