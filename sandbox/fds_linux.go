//go:build linux

package sandbox

import (
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// markCloexecFrom sets close-on-exec on every descriptor numbered first or
// above, so that the next exec drops them. Go opens its own descriptors
// close-on-exec, so only descriptors inherited without it (a shell's
// `exec 200>file`, a parent's leaked pipe) change: they are what would leak
// into the sandbox. Close-on-exec rather than close, because the Go runtime
// may own some of these descriptors until the exec.
func markCloexecFrom(first int) error {
	// close_range(2) with CLOSE_RANGE_CLOEXEC: Linux 5.11 and later.
	if err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Older kernels: list the open descriptors.
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
				unix.CloseOnExec(fd)
			}
		}
		return nil
	}
	// No /proc either: try every number below the descriptor limit.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	top := lim.Max
	if top > 1<<20 {
		top = 1 << 20
	}
	for fd := first; uint64(fd) < top; fd++ {
		unix.CloseOnExec(fd)
	}
	return nil
}
