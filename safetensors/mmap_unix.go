//go:build unix

package safetensors

import (
	"os"

	"golang.org/x/sys/unix"
)

// useMmap lets tests exercise the read fallback on platforms with mmap.
var useMmap = true

// mapFile maps size bytes of fh read-only. The mapping outlives fh, so the
// caller may close the descriptor right away.
func mapFile(fh *os.File, size int) ([]byte, func([]byte) error, error) {
	if !useMmap {
		return nil, nil, errNoMmap
	}
	b, err := unix.Mmap(int(fh.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, unix.Munmap, nil
}
