package ppo

import "math"

// The PPO quantities on one rollout, as TRL's PPOTrainer and OpenRLHF
// compute them for language models: a sample's completion is an episode
// whose state s_t is the prompt and the first t completion tokens, whose
// action is token t, and whose reward arrives per token.

// TokenRewards are the per-token rewards of one completion of n tokens:
// −β·(logp_t − ref_t) at every token (the k1 estimate of the KL to the
// reference, so that the return penalises drifting from it, Ziegler et al.
// 2019) plus the sequence's score at the last token. ref may be nil when β
// is 0.
func TokenRewards(score float64, logp, ref []float64, beta float64) []float64 {
	r := make([]float64, len(logp))
	if beta != 0 {
		for t := range r {
			r[t] = -beta * (logp[t] - ref[t])
		}
	}
	if len(r) > 0 {
		r[len(r)-1] += score
	}
	return r
}

// GAE is generalized advantage estimation (Schulman et al. 2016) over one
// episode: values[t] = V(s_t), and the state after the last token is
// terminal (value 0).
//
//	δ_t = r_t + γ·V(s_{t+1}) − V(s_t)
//	A_t = δ_t + γλ·A_{t+1}          (A_n = 0)
//	R_t = A_t + V(s_t)              the value target (the λ-return)
func GAE(rewards, values []float64, gamma, lambda float64) (adv, ret []float64) {
	n := len(rewards)
	adv, ret = make([]float64, n), make([]float64, n)
	var next, last float64 // V(s_{t+1}), A_{t+1}
	for t := n - 1; t >= 0; t-- {
		delta := rewards[t] + gamma*next - values[t]
		last = delta + gamma*lambda*last
		adv[t] = last
		ret[t] = last + values[t]
		next = values[t]
	}
	return adv, ret
}

// whitenEps keeps whitening finite when every advantage is equal.
const whitenEps = 1e-8

// Whiten shifts x to mean 0 and scales it to variance 1 over all tokens of
// the batch: (x − mean)/sqrt(var + 1e-8), with the unbiased (n−1)
// variance — TRL's masked_whiten. A single value is only centred.
func Whiten(x []float64) []float64 {
	out := make([]float64, len(x))
	if len(x) == 0 {
		return out
	}
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) == 1 {
		out[0] = x[0] - mean
		return out
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x)-1)+whitenEps)
	for i, v := range x {
		out[i] = (v - mean) * inv
	}
	return out
}

// ValueLoss is the clipped value loss at one token (PPO2's value clipping,
// as TRL and OpenRLHF use it):
//
//	ℓ = ½·max((v − R)², (v_clip − R)²),   v_clip = old + clip(v − old, −c, c)
//
// with ∂ℓ/∂v and whether the clipped term was the larger one (then v is
// outside old ± c and moving it further away from R would not be rewarded:
// the gradient is 0). c ≤ 0 switches the clipping off.
func ValueLoss(v, old, ret, clipRange float64) (loss, grad float64, clipped bool) {
	unc := (v - ret) * (v - ret)
	if clipRange <= 0 {
		return 0.5 * unc, v - ret, false
	}
	vc := old + math.Min(math.Max(v-old, -clipRange), clipRange)
	clp := (vc - ret) * (vc - ret)
	if clp > unc { // vc ≠ v: v lies outside the clip range, vc is constant in v
		return 0.5 * clp, 0, true
	}
	return 0.5 * unc, v - ret, false
}

// ExplainedVariance is 1 − Var(target − pred)/Var(target): 1 for a perfect
// value function, 0 for one no better than the mean, negative for worse.
// NaN when the targets do not vary.
func ExplainedVariance(pred, target []float64) float64 {
	if len(pred) < 2 {
		return math.NaN()
	}
	vt := variance(target, nil)
	if vt == 0 {
		return math.NaN()
	}
	return 1 - variance(target, pred)/vt
}

// variance is the population variance of x − y (y nil: of x).
func variance(x, y []float64) float64 {
	d := func(i int) float64 {
		if y == nil {
			return x[i]
		}
		return x[i] - y[i]
	}
	var m float64
	for i := range x {
		m += d(i)
	}
	m /= float64(len(x))
	var s float64
	for i := range x {
		s += (d(i) - m) * (d(i) - m)
	}
	return s / float64(len(x))
}
