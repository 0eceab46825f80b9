package cpu

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/r1go/r1/backend/cpu/gemm"
	"github.com/r1go/r1/tensor"
)

var _ tensor.WeightPacker = (*Backend)(nil)

// packedWeights holds the weights kept in the GEMM's packed layout
// (tensor.WeightPacker), with a reference count each.
type packedWeights struct {
	mu       sync.RWMutex
	m        map[*tensor.Tensor]*packedWeight
	bytes    int64 // the packed weights' float32 storage, all together
	streamed bool  // bytes exceed the last-level cache (setStreamed)
}

type packedWeight struct {
	pb   *gemm.Packed
	refs int
}

// PackWeight packs w (Out,In) as op(B) = wᵀ of x·wᵀ. Only float32 weights
// are packed; others keep the plain path.
func (b *Backend) PackWeight(w *tensor.Tensor) bool {
	if w.DType != tensor.F32 || len(w.Shape) != 2 {
		return false
	}
	b.packs.mu.Lock()
	defer b.packs.mu.Unlock()
	if pw := b.packs.m[w]; pw != nil {
		pw.refs++
		return true
	}
	if b.packs.m == nil {
		b.packs.m = map[*tensor.Tensor]*packedWeight{}
	}
	out, in := w.Rows(), w.Cols()
	pw := &packedWeight{pb: gemm.Pack(true, in, out, f32(w), in), refs: 1}
	b.packs.m[w] = pw
	b.packs.bytes += 4 * int64(w.Numel())
	pw.pb.SetStreamed(b.packs.streamed)
	b.packs.setStreamed()
	return true
}

// UnpackWeight drops a reference to w's packed copy.
func (b *Backend) UnpackWeight(w *tensor.Tensor) {
	b.packs.mu.Lock()
	defer b.packs.mu.Unlock()
	if pw := b.packs.m[w]; pw != nil {
		if pw.refs--; pw.refs == 0 {
			delete(b.packs.m, w)
			b.packs.bytes -= 4 * int64(w.Numel())
			b.packs.setStreamed()
		}
	}
}

// packed returns w's packed copy, or nil.
func (b *Backend) packed(w *tensor.Tensor) *gemm.Packed {
	b.packs.mu.RLock()
	defer b.packs.mu.RUnlock()
	if pw := b.packs.m[w]; pw != nil {
		return pw.pb
	}
	return nil
}

// setStreamed marks every packed weight streamed when together they exceed
// the last-level cache (gemm.Packed.SetStreamed): a decode step then reads
// each from memory. Only a change of that state touches every weight (a
// new one takes the current state as it is packed), so loading a model is
// not quadratic in its weights. p.mu is held.
func (p *packedWeights) setStreamed() {
	streamed := p.bytes > lastLevelCache()
	if streamed == p.streamed {
		return
	}
	p.streamed = streamed
	for _, pw := range p.m {
		pw.pb.SetStreamed(streamed)
	}
}

// lastLevelCache is the size in bytes of this machine's largest cache
// (Linux: the highest level sysfs lists for cpu0), or 32 MiB where that is
// unknown. A variable so that tests can set it.
var lastLevelCache = sync.OnceValue(func() int64 {
	if n := cacheFromSysfs("/sys/devices/system/cpu/cpu0/cache"); n > 0 {
		return n
	}
	return 32 << 20
})

// cacheFromSysfs reads the size of the highest-level data or unified cache
// under dir (index*/level, type, size as in "49152K"); 0 if none.
func cacheFromSysfs(dir string) int64 {
	entries, _ := filepath.Glob(filepath.Join(dir, "index*"))
	best, bestLevel := int64(0), 0
	for _, e := range entries {
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(e, name))
			return strings.TrimSpace(string(b))
		}
		level, err := strconv.Atoi(read("level"))
		if err != nil || read("type") == "Instruction" || level < bestLevel {
			continue
		}
		if n := parseCacheSize(read("size")); n > 0 {
			best, bestLevel = n, level
		}
	}
	return best
}

// parseCacheSize reads sysfs's cache sizes: "49152K", "2M", "512" (bytes);
// 0 for anything else.
func parseCacheSize(s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		s, mult = s[:len(s)-1], 1<<10
	case strings.HasSuffix(s, "M"):
		s, mult = s[:len(s)-1], 1<<20
	case strings.HasSuffix(s, "G"):
		s, mult = s[:len(s)-1], 1<<30
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n * mult
}
