// Package dpo is Direct Preference Optimization on the shared training
// core: the policy learns from preference pairs without a reward model
// (Rafailov et al. 2023), with the IPO (Azar et al. 2023) and the
// reference-free SimPO (Meng et al. 2024) losses as options, label
// smoothing (conservative DPO), and the reference model's log-probs
// computed once before training and cached.
package dpo

import (
	"fmt"
	"math"
)

// Loss types.
const (
	Sigmoid = "sigmoid" // DPO
	IPO     = "ipo"
	SimPO   = "simpo"
)

// LossConfig is the objective's knobs.
type LossConfig struct {
	// Type is sigmoid (DPO), ipo or simpo.
	Type string `yaml:"loss_type"`
	// Beta is DPO's β (the KL strength; TRL 0.1), IPO's τ, SimPO's β
	// (the paper uses 2–2.5).
	Beta float64 `yaml:"beta"`
	// LabelSmoothing ε assumes a fraction ε of the labels are flipped
	// (cDPO; sigmoid and simpo): −(1−ε)·log σ(h) − ε·log σ(−h).
	LabelSmoothing float64 `yaml:"label_smoothing"`
	// SimPOGamma is SimPO's target reward margin γ (TRL's simpo_gamma 0.5).
	SimPOGamma float64 `yaml:"simpo_gamma"`
}

// Validate checks the loss config and names the key.
func (c LossConfig) Validate() error {
	switch c.Type {
	case Sigmoid, IPO, SimPO:
	default:
		return fmt.Errorf("loss_type: want sigmoid, ipo or simpo, got %q", c.Type)
	}
	if !(c.Beta > 0) || math.IsInf(c.Beta, 0) {
		return fmt.Errorf("beta: must be > 0, got %g", c.Beta)
	}
	if !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 0.5) {
		return fmt.Errorf("label_smoothing: must be in [0, 0.5), got %g", c.LabelSmoothing)
	}
	if c.Type == IPO && c.LabelSmoothing != 0 {
		return fmt.Errorf("label_smoothing: IPO has no label smoothing; set it to 0")
	}
	return nil
}

// Seq is one response's log-probability under the policy and the
// reference: Logp = Σ_t log π(y_t | x, y_<t) over its Len tokens.
type Seq struct {
	Logp, Ref float64
	Len       int
}

// Result is the loss of a batch of pairs and what it reports.
type Result struct {
	// Loss is the mean over pairs.
	Loss float64
	// GChosen[k], GRejected[k] are ∂Loss/∂Logp of pair k's responses.
	GChosen, GRejected []float64
	// RewardsChosen/Rejected are the implicit rewards: β·(logp − ref)
	// (DPO, IPO) or β·logp/len (SimPO).
	RewardsChosen, RewardsRejected []float64
}

// logSigmoid is log σ(x), stable for large |x|.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Compute is the loss of pairs (chosen[k], rejected[k]), averaged:
//
//	sigmoid: h = β·[(π_c − ref_c) − (π_r − ref_r)],  L = −(1−ε)·log σ(h) − ε·log σ(−h)
//	ipo:     h = (π_c − ref_c) − (π_r − ref_r),      L = (h − 1/(2β))²
//	simpo:   h = β·π_c/|y_c| − β·π_r/|y_r| − γ,      L = −(1−ε)·log σ(h) − ε·log σ(−h)
//
// with π the policy's and ref the reference's sequence log-probs (IPO as
// in the paper, on summed log-probs; TRL averages them per token).
func (c LossConfig) Compute(chosen, rejected []Seq) Result {
	n := len(chosen)
	r := Result{GChosen: make([]float64, n), GRejected: make([]float64, n),
		RewardsChosen: make([]float64, n), RewardsRejected: make([]float64, n)}
	eps, b := c.LabelSmoothing, c.Beta
	for k := 0; k < n; k++ {
		ch, rj := chosen[k], rejected[k]
		var loss, dc, dr float64 // dc, dr: ∂loss_k/∂π_c, ∂loss_k/∂π_r
		switch c.Type {
		case Sigmoid:
			h := b * ((ch.Logp - ch.Ref) - (rj.Logp - rj.Ref))
			loss = -(1-eps)*logSigmoid(h) - eps*logSigmoid(-h)
			dh := -(1-eps)*sigmoid(-h) + eps*sigmoid(h)
			dc, dr = b*dh, -b*dh
			r.RewardsChosen[k], r.RewardsRejected[k] = b*(ch.Logp-ch.Ref), b*(rj.Logp-rj.Ref)
		case IPO:
			h := (ch.Logp - ch.Ref) - (rj.Logp - rj.Ref)
			d := h - 1/(2*b)
			loss = d * d
			dc, dr = 2*d, -2*d
			r.RewardsChosen[k], r.RewardsRejected[k] = b*(ch.Logp-ch.Ref), b*(rj.Logp-rj.Ref)
		case SimPO:
			lc, lr := float64(max(ch.Len, 1)), float64(max(rj.Len, 1))
			h := b*ch.Logp/lc - b*rj.Logp/lr - c.SimPOGamma
			loss = -(1-eps)*logSigmoid(h) - eps*logSigmoid(-h)
			dh := -(1-eps)*sigmoid(-h) + eps*sigmoid(h)
			dc, dr = dh*b/lc, -dh*b/lr
			r.RewardsChosen[k], r.RewardsRejected[k] = b*ch.Logp/lc, b*rj.Logp/lr
		}
		r.Loss += loss / float64(n)
		r.GChosen[k], r.GRejected[k] = dc/float64(n), dr/float64(n)
	}
	return r
}
