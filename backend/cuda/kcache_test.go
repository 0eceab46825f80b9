package cuda

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fakeCompiler "compiles" by describing its inputs, so a test can tell
// which inputs produced a returned CUBIN.
type fakeCompiler struct {
	ver   string
	calls int
	fail  error
}

func (f *fakeCompiler) version() string { return f.ver }

func (f *fakeCompiler) compile(src, name, arch string, opts []string) ([]byte, error) {
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	return []byte(fmt.Sprintf("\x7fELF|%s|%s|%q|%s", arch, src, opts, f.ver)), nil
}

func TestKernelCacheHitMiss(t *testing.T) {
	dir := t.TempDir()
	fc := &fakeCompiler{ver: "nvrtc 12.4"}
	kc := newKernelCache(dir, fc)
	src := `extern "C" __global__ void k(float* x) { x[0] = 1; }`
	first, err := kc.Compile(src, "k.cu", "sm_90", []string{"-O3"})
	if err != nil {
		t.Fatal(err)
	}
	// A new cache over the same directory (a new process) must hit.
	fc2 := &fakeCompiler{ver: "nvrtc 12.4"}
	kc2 := newKernelCache(dir, fc2)
	second, err := kc2.Compile(src, "k.cu", "sm_90", []string{"-O3"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) || fc2.calls != 0 {
		t.Errorf("second compile: calls %d, same bytes %v; want a cache hit", fc2.calls, bytes.Equal(first, second))
	}
	if st := kc2.Stats(); st.Hits != 1 || st.Misses != 0 {
		t.Errorf("stats %+v, want 1 hit", st)
	}
	if _, err := os.Stat(kc.Path(src, "sm_90", []string{"-O3"})); err != nil {
		t.Errorf("cache file missing: %v", err)
	}
}

func TestKernelCacheKeyChanges(t *testing.T) {
	base := func() (string, string, []string, string) {
		return "src", "sm_90", []string{"-O3", "--use_fast_math"}, "nvrtc 12.4"
	}
	src, arch, opts, ver := base()
	k0 := cacheKey(src, arch, opts, ver)
	tests := []struct {
		name string
		key  string
	}{
		{"source", cacheKey("src2", arch, opts, ver)},
		{"arch", cacheKey(src, "sm_80", opts, ver)},
		{"options", cacheKey(src, arch, []string{"-O3"}, ver)},
		{"option order", cacheKey(src, arch, []string{"--use_fast_math", "-O3"}, ver)},
		{"option split", cacheKey(src, arch, []string{"-O3--use_fast_math"}, ver)},
		{"compiler version", cacheKey(src, arch, opts, "nvrtc 12.8")},
		{"boundary shift", cacheKey("srcs", "m_90", opts, ver)},
	}
	for _, tc := range tests {
		if tc.key == k0 {
			t.Errorf("changing the %s did not change the cache key", tc.name)
		}
	}
	if cacheKey(src, arch, opts, ver) != k0 {
		t.Error("cache key is not deterministic")
	}
}

func TestKernelCacheRecompilesWhenInputsDiffer(t *testing.T) {
	fc := &fakeCompiler{ver: "v1"}
	kc := newKernelCache(t.TempDir(), fc)
	calls := []struct {
		arch string
		opts []string
	}{{"sm_90", nil}, {"sm_80", nil}, {"sm_90", []string{"-lineinfo"}}, {"sm_90", nil}}
	for _, c := range calls {
		b, err := kc.Compile("src", "k", c.arch, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("|"+c.arch+"|")) {
			t.Errorf("CUBIN %q is not the one for %s", b, c.arch)
		}
	}
	if fc.calls != 3 {
		t.Errorf("compiler ran %d times, want 3 (the 4th call repeats the 1st)", fc.calls)
	}
}

func TestKernelCacheCorruptFile(t *testing.T) {
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"bit flip", func(b []byte) []byte { c := append([]byte(nil), b...); c[3] ^= 1; return c }},
		{"empty", func([]byte) []byte { return nil }},
		{"trailer only", func(b []byte) []byte { return b[len(b)-cubinTrailerLen:] }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeCompiler{ver: "v1"}
			kc := newKernelCache(t.TempDir(), fc)
			good, err := kc.Compile("src", "k", "sm_90", nil)
			if err != nil {
				t.Fatal(err)
			}
			path := kc.Path("src", "sm_90", nil)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(raw), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := kc.Compile("src", "k", "sm_90", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, good) || fc.calls != 2 || kc.Stats().Corrupt != 1 {
				t.Errorf("after damage: calls %d, stats %+v, same bytes %v; want a recompile", fc.calls, kc.Stats(), bytes.Equal(got, good))
			}
			// The rewritten file is valid again.
			raw, _ = os.ReadFile(path)
			if c, ok := splitCubin(raw); !ok || !bytes.Equal(c, good) {
				t.Errorf("cache file was not repaired")
			}
		})
	}
}

func TestKernelCacheErrors(t *testing.T) {
	boom := errors.New("nvrtc: error: identifier \"x\" is undefined")
	kc := newKernelCache(t.TempDir(), &fakeCompiler{fail: boom})
	if _, err := kc.Compile("src", "k", "sm_90", nil); !errors.Is(err, boom) {
		t.Errorf("compile error = %v, want %v", err, boom)
	}
	// A cache directory that cannot be created still returns the CUBIN.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	kc = newKernelCache(filepath.Join(file, "sub"), &fakeCompiler{ver: "v"})
	b, err := kc.Compile("src", "k", "sm_90", nil)
	if err != nil || len(b) == 0 || kc.Stats().WriteErrors != 1 {
		t.Errorf("unwritable cache: %d bytes, err %v, stats %+v; want the CUBIN and one write error", len(b), err, kc.Stats())
	}
	// No directory at all: compile every time.
	fc := &fakeCompiler{ver: "v"}
	kc = newKernelCache("", fc)
	for i := 0; i < 2; i++ {
		if _, err := kc.Compile("src", "k", "sm_90", nil); err != nil {
			t.Fatal(err)
		}
	}
	if fc.calls != 2 || kc.Path("src", "sm_90", nil) != "" {
		t.Errorf("disabled cache: %d compiles, path %q; want 2 and none", fc.calls, kc.Path("src", "sm_90", nil))
	}
}
