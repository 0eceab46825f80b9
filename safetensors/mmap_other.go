//go:build !unix

package safetensors

import "os"

// useMmap has no effect where mmap is unavailable; it exists for tests.
var useMmap = false

// mapFile always declines, so Open reads the whole file instead.
func mapFile(*os.File, int) ([]byte, func([]byte) error, error) {
	return nil, nil, errNoMmap
}
