package grpo

import (
	"fmt"
	"math"
)

// Advantages turns rewards of G samples per prompt (rewards[g*G+i] is sample
// i of prompt g) into advantages.
//
//	scale "group": (r − mean_group) / (std_group + eps)   — GRPO, Shao et al. 2024 (DeepSeekMath)
//	scale "batch": (r − mean_group) / (std_batch + eps)   — Hu et al. 2025 (REINFORCE++-style)
//	scale "none":  r − mean_group                          — Dr. GRPO, Liu et al. 2025
//
// The standard deviation is the unbiased one (n−1), as TRL computes it.
func Advantages(rewards []float64, groupSize int, scale string, eps float64) ([]float64, error) {
	if groupSize <= 0 || len(rewards)%groupSize != 0 {
		return nil, fmt.Errorf("grpo: %d rewards do not split into groups of %d", len(rewards), groupSize)
	}
	adv := make([]float64, len(rewards))
	batchStd := std(rewards)
	for g := 0; g < len(rewards); g += groupSize {
		grp := rewards[g : g+groupSize]
		m := mean(grp)
		var div float64
		switch scale {
		case "group":
			div = std(grp) + eps
		case "batch":
			div = batchStd + eps
		case "none":
			div = 1
		default:
			return nil, fmt.Errorf("grpo: scale_rewards %q: want group, batch or none", scale)
		}
		for i, r := range grp {
			if d := r - m; d != 0 { // equal rewards carry no signal, even with eps = 0
				adv[g+i] = d / div
			}
		}
	}
	return adv, nil
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func std(x []float64) float64 {
	if len(x) < 2 {
		return 0
	}
	m := mean(x)
	var s float64
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)-1))
}

// LossConfig is the policy-loss part of the GRPO objective.
type LossConfig struct {
	// EpsLow, EpsHigh clip the ratio to [1−EpsLow, 1+EpsHigh] (PPO, Schulman
	// et al. 2017; separate bounds are DAPO's clip-higher, Yu et al. 2025).
	EpsLow, EpsHigh float64
	// Beta weighs the per-token k3 KL estimate to the reference policy
	// (Schulman 2020, "Approximating KL divergence"); 0 = no KL term.
	Beta float64
	// Aggregation: "sequence" (mean over each sample's tokens, then over
	// samples — GRPO), "token" (mean over all tokens — DAPO), "constant"
	// (sum / (samples · MaxLen) — Dr. GRPO).
	Aggregation string
	// MaxLen is the denominator length of "constant" (max_new_tokens).
	MaxLen int
}

// Token is one completion token's inputs to the loss.
type Token struct {
	LogP, OldLogP, RefLogP float64 // under the current, sampling and reference policies
	Adv                    float64 // its sample's advantage
}

// TokenLoss is the per-token GRPO objective term (to be minimised)
//
//	ℓ = −min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A) + β·k3,   ρ = exp(logp − old)
//	k3 = exp(ref − logp) − (ref − logp) − 1
//
// with ∂ℓ/∂logp, and whether the clip was active on the low or high side
// (the gradient of a clipped token is zero).
func TokenLoss(t Token, c *LossConfig) (loss, grad float64, clippedLow, clippedHigh bool) {
	ratio := math.Exp(t.LogP - t.OldLogP)
	clipped := math.Min(math.Max(ratio, 1-c.EpsLow), 1+c.EpsHigh)
	unc, clp := ratio*t.Adv, clipped*t.Adv
	if clp < unc { // the min picks the clipped term: constant in logp
		loss = -clp
		clippedLow = ratio < 1-c.EpsLow
		clippedHigh = ratio > 1+c.EpsHigh
	} else {
		loss = -unc
		grad = -unc // ∂(−ρA)/∂logp = −ρA
	}
	if c.Beta != 0 {
		d := t.RefLogP - t.LogP
		loss += c.Beta * (math.Exp(d) - d - 1)
		grad += c.Beta * (1 - math.Exp(d)) // ∂k3/∂logp
	}
	return
}

// KL is the k3 estimate of KL(π‖π_ref) at one token.
func KL(logp, refLogP float64) float64 {
	d := refLogP - logp
	return math.Exp(d) - d - 1
}

// Weights returns the factor that multiplies each token's loss in the
// aggregate, for samples of the given token counts (in the same order as the
// loss will be summed). Σ_tokens weight·ℓ is the batch loss.
func Weights(lengths []int, c *LossConfig) ([]float64, error) {
	total := 0
	for _, n := range lengths {
		total += n
	}
	w := make([]float64, len(lengths))
	for i, n := range lengths {
		switch c.Aggregation {
		case "sequence":
			if n > 0 {
				w[i] = 1 / (float64(n) * float64(len(lengths)))
			}
		case "token":
			if total > 0 {
				w[i] = 1 / float64(total)
			}
		case "constant":
			if c.MaxLen <= 0 {
				return nil, fmt.Errorf("grpo: loss aggregation constant needs max_len > 0")
			}
			w[i] = 1 / (float64(len(lengths)) * float64(c.MaxLen))
		default:
			return nil, fmt.Errorf("grpo: loss_aggregation %q: want sequence, token or constant", c.Aggregation)
		}
	}
	return w, nil
}

// OverlongPenalty is DAPO's soft overlong punishment (Yu et al. 2025): 0
// up to maxLen − cache tokens, then falling linearly to −1 at maxLen.
func OverlongPenalty(length, maxLen, cache int) float64 {
	switch {
	case length <= maxLen-cache:
		return 0
	case length <= maxLen:
		return float64(maxLen-cache-length) / float64(cache)
	}
	return -1
}
