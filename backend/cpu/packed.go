package cpu

import (
	"sync"

	"github.com/r1go/r1/backend/cpu/gemm"
	"github.com/r1go/r1/tensor"
)

var _ tensor.WeightPacker = (*Backend)(nil)

// packedWeights holds the weights kept in the GEMM's packed layout
// (tensor.WeightPacker), with a reference count each.
type packedWeights struct {
	mu sync.RWMutex
	m  map[*tensor.Tensor]*packedWeight
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
	b.packs.m[w] = &packedWeight{pb: gemm.Pack(true, in, out, f32(w), in), refs: 1}
	return true
}

// UnpackWeight drops a reference to w's packed copy.
func (b *Backend) UnpackWeight(w *tensor.Tensor) {
	b.packs.mu.Lock()
	defer b.packs.mu.Unlock()
	if pw := b.packs.m[w]; pw != nil {
		if pw.refs--; pw.refs == 0 {
			delete(b.packs.m, w)
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
