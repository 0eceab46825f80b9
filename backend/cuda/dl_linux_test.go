package cuda

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// TestCCallWithLibc exercises the real dlopen/dlsym/ccall path and the C
// string helpers against libc, the one shared library every glibc machine
// has, since libcuda is absent where CI runs.
func TestCCallWithLibc(t *testing.T) {
	h, err := dlopen("libc.so.6")
	if err != nil {
		t.Skipf("no glibc: %v", err)
	}
	var strlen, strchr uintptr
	if err := resolve(h, "libc.so.6", "test", []symbol{
		{dst: &strlen, names: []string{"strlen"}},
		{dst: &strchr, names: []string{"no_such_symbol_r1", "strchr"}},
	}); err != nil {
		t.Fatal(err)
	}
	tests := []string{"", "hello", "ünïcode"}
	for _, s := range tests {
		cs := cString(s)
		n := ccall(strlen, uintptr(unsafe.Pointer(&cs[0])))
		runtime.KeepAlive(cs)
		if int(n) != len(s) {
			t.Errorf("strlen(%q) = %d, want %d", s, n, len(s))
		}
	}
	cs := cString("hello")
	p := ccall(strchr, uintptr(unsafe.Pointer(&cs[0])), 'l')
	if got := goString(p); got != "llo" {
		t.Errorf("goString(strchr(hello, l)) = %q, want %q", got, "llo")
	}
	runtime.KeepAlive(cs)
	if goString(0) != "" {
		t.Error("goString(NULL) is not empty")
	}
	var missing uintptr
	err = resolve(h, "libc.so.6", "need a newer libc", []symbol{{dst: &missing, names: []string{"r1_missing_symbol"}}})
	if err == nil || !contains(err.Error(), "r1_missing_symbol", "libc.so.6", "need a newer libc") {
		t.Errorf("missing symbol error = %v", err)
	}
	var opt uintptr
	if err := resolve(h, "libc.so.6", "", []symbol{{dst: &opt, names: []string{"r1_missing_symbol"}, optional: true}}); err != nil || opt != 0 {
		t.Errorf("optional missing symbol: %v, %#x", err, opt)
	}
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
