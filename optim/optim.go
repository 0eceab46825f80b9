// Package optim updates weights from gradients: AdamW with fp32 master
// weights (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization"), global gradient-norm clipping, and learning-rate
// schedules with linear warmup.
package optim

import (
	"fmt"
	"math"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/tensor"
)

// AdamWConfig holds the optimizer's hyperparameters.
type AdamWConfig struct {
	// LR is the peak learning rate (the schedule scales it).
	LR float64 `yaml:"lr"`
	// Beta1, Beta2 are Adam's moment decay rates (0.9, 0.999 by default;
	// many LLM recipes use 0.95 for Beta2).
	Beta1 float64 `yaml:"beta1"`
	Beta2 float64 `yaml:"beta2"`
	// Eps is added to √v̂ (1e-8).
	Eps float64 `yaml:"eps"`
	// WeightDecay is decoupled: p ← p·(1 − lr·wd) each step (0.01 by
	// default, as torch.optim.AdamW). Norm weights and biases are exempt when
	// NoDecayNormsAndBiases is set, as most LLM trainers do.
	WeightDecay           float64 `yaml:"weight_decay"`
	NoDecayNormsAndBiases bool    `yaml:"no_decay_norms_and_biases"`
	// MaxGradNorm clips the global L2 norm of all gradients (0 = off).
	MaxGradNorm float64 `yaml:"max_grad_norm"`
}

// DefaultAdamW is torch.optim.AdamW's defaults plus clipping at 1.0.
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, NoDecayNormsAndBiases: true, MaxGradNorm: 1}
}

// Validate checks ranges.
func (c AdamWConfig) Validate() error {
	switch {
	case c.LR < 0 || math.IsNaN(c.LR):
		return fmt.Errorf("optimizer lr must be ≥ 0, got %g", c.LR)
	case c.Beta1 < 0 || c.Beta1 >= 1:
		return fmt.Errorf("optimizer beta1 must be in [0,1), got %g", c.Beta1)
	case c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("optimizer beta2 must be in [0,1), got %g", c.Beta2)
	case c.Eps <= 0:
		return fmt.Errorf("optimizer eps must be > 0, got %g", c.Eps)
	case c.WeightDecay < 0:
		return fmt.Errorf("optimizer weight_decay must be ≥ 0, got %g", c.WeightDecay)
	case c.MaxGradNorm < 0:
		return fmt.Errorf("optimizer max_grad_norm must be ≥ 0, got %g", c.MaxGradNorm)
	}
	return nil
}

// state is one weight's optimizer state. master is the fp32 copy that the
// update is applied to when the weight itself is stored in 16 bits.
type state struct {
	m, v, master *tensor.Tensor
	decay        bool
}

// AdamW is the optimizer. Gradients accumulate in the parameters' Grad
// buffers across backward passes (gradient accumulation); Step applies them
// and clears them.
type AdamW struct {
	Config AdamWConfig
	Params []autograd.Param
	// Steps is the number of updates applied so far (Adam's t).
	Steps int
	dev   tensor.Backend
	state []state
}

// NewAdamW creates the optimizer for params.
func NewAdamW(cfg AdamWConfig, params []autograd.Param) (*AdamW, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("optimizer: no parameters to train")
	}
	o := &AdamW{Config: cfg, Params: params, dev: params[0].Var.Val.Dev}
	for _, p := range params {
		val := p.Var.Val
		s := state{m: o.dev.New(tensor.F32, val.Shape...), v: o.dev.New(tensor.F32, val.Shape...), decay: true}
		if val.DType != tensor.F32 {
			s.master = o.dev.New(tensor.F32, val.Shape...)
			o.dev.Copy(s.master, val)
		}
		if cfg.NoDecayNormsAndBiases && (len(val.Shape) == 1) {
			s.decay = false // 1-D weights are norms and biases
		}
		o.state = append(o.state, s)
	}
	return o, nil
}

// GradNorm is the global L2 norm of all gradients.
func (o *AdamW) GradNorm() float64 {
	var ss float64
	for _, p := range o.Params {
		if p.Var.Grad != nil {
			ss += o.dev.SumSquares(p.Var.Grad)
		}
	}
	return math.Sqrt(ss)
}

// ErrNonFinite is returned by Step when a gradient is NaN or infinite; the
// weights are left untouched so a run can skip the batch or stop cleanly.
var ErrNonFinite = fmt.Errorf("optimizer: non-finite gradient")

// Step scales the accumulated gradients by gradScale (1/accumulation steps
// when the losses were summed), clips them, applies one AdamW update with
// learning rate lr, and zeroes the gradients. It returns the gradient norm
// before clipping.
func (o *AdamW) Step(lr float64, gradScale float64) (float64, error) {
	if gradScale != 1 {
		for _, p := range o.Params {
			if p.Var.Grad != nil {
				o.dev.Scale(p.Var.Grad, float32(gradScale))
			}
		}
	}
	norm := o.GradNorm()
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		o.ZeroGrad()
		return norm, fmt.Errorf("%w (global norm %v)", ErrNonFinite, norm)
	}
	if max := o.Config.MaxGradNorm; max > 0 && norm > max {
		scale := float32(max / (norm + 1e-6))
		for _, p := range o.Params {
			if p.Var.Grad != nil {
				o.dev.Scale(p.Var.Grad, scale)
			}
		}
	}
	o.Steps++
	c := o.Config
	for i, p := range o.Params {
		if p.Var.Grad == nil {
			continue // unused weight this step: Adam state untouched, as PyTorch
		}
		s := o.state[i]
		wd := float32(0)
		if s.decay {
			wd = float32(c.WeightDecay)
		}
		target := p.Var.Val
		if s.master != nil {
			target = s.master
		}
		o.dev.AdamW(target, p.Var.Grad, s.m, s.v, float32(lr), float32(c.Beta1), float32(c.Beta2), float32(c.Eps), wd, o.Steps)
		if s.master != nil {
			o.dev.Copy(p.Var.Val, s.master) // round the fp32 master into storage
		}
	}
	o.ZeroGrad()
	return norm, nil
}

// ZeroGrad clears every gradient.
func (o *AdamW) ZeroGrad() {
	for _, p := range o.Params {
		p.Var.ZeroGrad()
	}
}

// State exposes the moments for checkpointing: for parameter i, its first
// and second moment tensors and the fp32 master copy (nil for fp32 weights).
func (o *AdamW) State(i int) (m, v, master *tensor.Tensor) {
	s := o.state[i]
	return s.m, s.v, s.master
}
