package model

import (
	"fmt"
	"math"

	"github.com/r1go/r1/autograd"
)

// ErrNonFiniteLoss reports a NaN or infinite loss; callers stop or skip
// the batch instead of corrupting the weights.
var ErrNonFiniteLoss = fmt.Errorf("non-finite loss")

// LMLoss computes the mean next-token cross-entropy over the targets ≥ 0
// and, when tp records, seeds the gradient of scale·loss so that
// tp.Backward() accumulates ∂(scale·loss)/∂weights. scale is 1/(micro-batches)
// under gradient accumulation. It returns the loss and the token count.
// What it records belongs to tp: call tp.Reset after tp.Backward.
func (m *Model) LMLoss(tp *autograd.Tape, b Batch, target []int32, scale float64) (float64, int, error) {
	logp, _, err := m.TokenLogProbs(tp, b, target)
	if err != nil {
		return 0, 0, err
	}
	lp := m.Dev.Download(logp.Val)
	n := 0
	var sum float64
	for i, t := range target {
		if t >= 0 {
			sum -= float64(lp[i])
			n++
		}
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("model: batch has no target tokens")
	}
	loss := sum / float64(n)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, n, fmt.Errorf("%w: %v", ErrNonFiniteLoss, loss)
	}
	if !tp.NoGrad {
		g := make([]float32, len(target))
		for i, t := range target {
			if t >= 0 {
				g[i] = float32(-scale / float64(n))
			}
		}
		tp.SetGrad(logp, g)
	}
	return loss, n, nil
}
