package cuda

import (
	"math"
	"strings"
	"testing"
	"unsafe"
)

// readParam reads argument i the way a kernel would: follow params[i] and
// load size bytes.
func readParam(kp *kernelParams, i int, size int) uint64 {
	base := kp.ptr(1)
	slot := *(*uintptr)(unsafe.Add(*(*unsafe.Pointer)(unsafe.Pointer(&base)), i*8))
	p := *(*unsafe.Pointer)(unsafe.Pointer(&slot))
	if size == 4 {
		return uint64(*(*uint32)(p))
	}
	return *(*uint64)(p)
}

func TestPackParams(t *testing.T) {
	args := []any{devicePtr(0x7f0000001000), int32(-3), uint32(7), float32(1.5), int64(-1 << 40), uint64(1 << 63)}
	want := []struct {
		size int
		bits uint64
	}{
		{8, 0x7f0000001000},
		{4, uint64(uint32(0xfffffffd))},
		{4, 7},
		{4, uint64(math.Float32bits(1.5))},
		{8, uint64(0xffffff0000000000)},
		{8, 1 << 63},
	}
	kp, err := packParams(args)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got := readParam(kp, i, w.size); got != w.bits {
			t.Errorf("argument %d (%T): kernel would read %#x, want %#x", i, args[i], got, w.bits)
		}
	}
	if kp.ptr(0) != 0 {
		t.Error("no arguments must pass kernelParams = NULL")
	}
}

func TestPackParamsRejects(t *testing.T) {
	tests := []struct {
		arg  any
		want string
	}{
		{int(3), "int"},
		{float64(1), "float64"},
		{uintptr(1), "uintptr"},
		{nil, "<nil>"},
		{[]float32{1}, "[]float32"},
	}
	for _, tc := range tests {
		_, err := packParams([]any{devicePtr(1), tc.arg})
		if err == nil || !strings.Contains(err.Error(), "argument 1") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("packParams(%T) = %v, want an error naming argument 1 and %s", tc.arg, err, tc.want)
		}
	}
}

func TestValidateLaunch(t *testing.T) {
	tests := []struct {
		grid, block [3]uint32
		ok          bool
	}{
		{[3]uint32{1, 1, 1}, [3]uint32{256, 1, 1}, true},
		{[3]uint32{1 << 20, 65535, 65535}, [3]uint32{32, 32, 1}, true},
		{[3]uint32{0, 1, 1}, [3]uint32{256, 1, 1}, false},
		{[3]uint32{1, 1, 1}, [3]uint32{256, 0, 1}, false},
		{[3]uint32{1, 1, 1}, [3]uint32{1025, 1, 1}, false},
		{[3]uint32{1, 1, 1}, [3]uint32{32, 32, 2}, false},
		{[3]uint32{1, 1, 1}, [3]uint32{1, 1, 65}, false},
		{[3]uint32{1, 65536, 1}, [3]uint32{1, 1, 1}, false},
		{[3]uint32{1 << 31, 1, 1}, [3]uint32{1, 1, 1}, false},
	}
	for _, tc := range tests {
		err := validateLaunch("k", tc.grid, tc.block)
		if (err == nil) != tc.ok {
			t.Errorf("validateLaunch(%v, %v) = %v, want ok=%v", tc.grid, tc.block, err, tc.ok)
		}
	}
}
