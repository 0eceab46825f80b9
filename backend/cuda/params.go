package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// kernelParams is the void** array cuLaunchKernel reads: params[i] points
// at argument i. Pointers and values share one Go allocation so that a
// single runtime.KeepAlive keeps everything the driver reads alive, and the
// pointer slots are plain uintptrs, so no Go pointer is stored in memory
// handed to C. Go's collector does not move heap objects, which is what
// makes passing their addresses to C sound here.
type kernelParams struct {
	buf []uint64 // [0,n): addresses of the values; [n,2n): the values
}

// packParams marshals kernel arguments. Each value takes an 8-byte slot;
// 4-byte types occupy its low half, which is where the kernel reads them on
// the little-endian hosts CUDA supports (x86-64, arm64). Go int is refused
// because its C counterpart is ambiguous: use int32 or int64.
func packParams(args []any) (*kernelParams, error) {
	n := len(args)
	kp := &kernelParams{buf: make([]uint64, 2*n+1)} // +1: never a zero-length array for C
	for i, a := range args {
		var v uint64
		switch x := a.(type) {
		case devicePtr:
			v = uint64(x)
		case int32:
			v = uint64(uint32(x))
		case uint32:
			v = uint64(x)
		case float32:
			v = uint64(math.Float32bits(x))
		case int64:
			v = uint64(x)
		case uint64:
			v = x
		default:
			return nil, fmt.Errorf("cuda: kernel argument %d has Go type %T; want DevicePtr, int32, uint32, float32, int64 or uint64", i, a)
		}
		kp.buf[n+i] = v
		kp.buf[i] = uint64(uintptr(unsafe.Pointer(&kp.buf[n+i])))
	}
	return kp, nil
}

// ptr is the kernelParams argument of cuLaunchKernel (NULL when there are
// no arguments).
func (kp *kernelParams) ptr(n int) uintptr {
	if n == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&kp.buf[0]))
}

// validateLaunch checks a launch configuration against the limits every
// CUDA device since compute capability 3.0 has, so that mistakes surface as
// Go errors naming the kernel rather than CUDA_ERROR_INVALID_VALUE.
func validateLaunch(name string, grid, block [3]uint32) error {
	for i := 0; i < 3; i++ {
		if grid[i] == 0 || block[i] == 0 {
			return fmt.Errorf("cuda: launch %s: grid %v and block %v must have no zero dimension", name, grid, block)
		}
	}
	if t := uint64(block[0]) * uint64(block[1]) * uint64(block[2]); t > 1024 {
		return fmt.Errorf("cuda: launch %s: block %v has %d threads; the limit is 1024", name, block, t)
	}
	if block[2] > 64 {
		return fmt.Errorf("cuda: launch %s: block z dimension %d exceeds 64", name, block[2])
	}
	if grid[1] > 65535 || grid[2] > 65535 {
		return fmt.Errorf("cuda: launch %s: grid %v: y and z are limited to 65535", name, grid)
	}
	if grid[0] > 1<<31-1 {
		return fmt.Errorf("cuda: launch %s: grid x %d exceeds 2^31-1", name, grid[0])
	}
	return nil
}
