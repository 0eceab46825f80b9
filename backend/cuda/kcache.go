package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/r1go/r1/internal/atomicfile"
)

// compiler turns CUDA C source into a CUBIN for one architecture: NVRTC on a
// GPU machine, a fake in tests.
type compiler interface {
	// version identifies the compiler build; it is part of the cache key
	// because a newer NVRTC may generate different (or better) code.
	version() string
	compile(src, name, arch string, opts []string) ([]byte, error)
}

// cubinTrailer ends every cache file: magic, then the SHA-256 of the CUBIN
// before it. The CUBIN stays at offset 0 so the file is still readable by
// cuobjdump; the checksum catches truncated or corrupted files, which would
// otherwise reach cuModuleLoadData and fail far from the cause.
var cubinMagic = []byte("r1cubin1")

const cubinTrailerLen = 8 + sha256.Size

// kernelCache compiles CUDA C once per (source, architecture, options,
// compiler version) and keeps the CUBIN under dir.
type kernelCache struct {
	dir string // "" disables the disk cache
	c   compiler

	mu    sync.Mutex
	stats kernelCacheStats
}

// kernelCacheStats counts cache outcomes.
type kernelCacheStats struct {
	Hits, Misses, Corrupt, WriteErrors int
}

// defaultKernelCacheDir is os.UserCacheDir()/r1/cuda-kernels, or "" when
// the user has no cache directory (then kernels are compiled every run).
func defaultKernelCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "r1", "cuda-kernels")
}

func newKernelCache(dir string, c compiler) *kernelCache {
	return &kernelCache{dir: dir, c: c}
}

// cacheKey hashes everything that changes the generated code. Each part is
// length-prefixed so that no two different inputs concatenate alike.
func cacheKey(src, arch string, opts []string, version string) string {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(src)
	put(arch)
	put(fmt.Sprint(len(opts)))
	for _, o := range opts {
		put(o)
	}
	put(version)
	return hex.EncodeToString(h.Sum(nil))
}

// Path is where the CUBIN for these inputs lives (or would live).
func (k *kernelCache) Path(src, arch string, opts []string) string {
	if k.dir == "" {
		return ""
	}
	return filepath.Join(k.dir, cacheKey(src, arch, opts, k.c.version())+".cubin")
}

// Compile returns the CUBIN for src built for arch (e.g. "sm_90") with the
// extra compiler options opts, from the disk cache when a valid entry
// exists. name is the program name that compiler messages refer to. A cache
// that cannot be written is not an error: the CUBIN is still returned.
func (k *kernelCache) Compile(src, name, arch string, opts []string) ([]byte, error) {
	path := k.Path(src, arch, opts)
	if path != "" {
		if b, err := os.ReadFile(path); err == nil {
			if cubin, ok := splitCubin(b); ok {
				k.count(func(s *kernelCacheStats) { s.Hits++ })
				return cubin, nil
			}
			k.count(func(s *kernelCacheStats) { s.Corrupt++ })
		}
	}
	k.count(func(s *kernelCacheStats) { s.Misses++ })
	cubin, err := k.c.compile(src, name, arch, opts)
	if err != nil {
		return nil, err
	}
	if len(cubin) == 0 {
		return nil, fmt.Errorf("cuda: compiling %s for %s produced an empty CUBIN", name, arch)
	}
	if path != "" {
		if err := k.store(path, cubin); err != nil {
			k.count(func(s *kernelCacheStats) { s.WriteErrors++ })
		}
	}
	return cubin, nil
}

func (k *kernelCache) store(path string, cubin []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(cubin)
	buf := make([]byte, 0, len(cubin)+cubinTrailerLen)
	buf = append(append(append(buf, cubin...), cubinMagic...), sum[:]...)
	return atomicfile.Write(path, buf)
}

// splitCubin checks a cache file's trailer and returns the CUBIN in it.
func splitCubin(b []byte) ([]byte, bool) {
	if len(b) <= cubinTrailerLen {
		return nil, false
	}
	cubin, tr := b[:len(b)-cubinTrailerLen], b[len(b)-cubinTrailerLen:]
	if !bytes.Equal(tr[:8], cubinMagic) {
		return nil, false
	}
	sum := sha256.Sum256(cubin)
	return cubin, bytes.Equal(sum[:], tr[8:])
}

// Stats returns the hit/miss counters.
func (k *kernelCache) Stats() kernelCacheStats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stats
}

func (k *kernelCache) count(f func(*kernelCacheStats)) {
	k.mu.Lock()
	f(&k.stats)
	k.mu.Unlock()
}
