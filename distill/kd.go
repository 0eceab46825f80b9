package distill

import (
	"fmt"
	"math"
)

// Divergences of logit distillation between the teacher's next-token
// distribution p and the student's q = softmax(z), per position:
//
//	forward  KL(p‖q) = Σ p (log p − log q)        (mean-seeking; classic KD)
//	reverse  KL(q‖p) = Σ q (log q − log p)        (mode-seeking; MiniLLM)
//	jsd      JSD_β(p‖q) = β KL(p‖m) + (1−β) KL(q‖m),  m = β p + (1−β) q
//	         (generalised JSD of GKD, Agarwal et al. 2024; β = 0 is taken as
//	         forward KL and β = 1 as reverse KL, as TRL's GKD trainer does,
//	         since the mixture formula degenerates to 0 there)
//
// Gradients with respect to the student's logits z go through the softmax:
// with g = ∂L/∂q, ∂L/∂z_j = q_j (g_j − Σ_k q_k g_k). For forward KL this is
// q − p; for reverse KL q_j (log q_j − log p_j − KL(q‖p)); for JSD_β,
// g_j = (1−β)(log q_j − log m_j) (the p terms cancel against m).
const (
	Forward = "forward"
	Reverse = "reverse"
	JSD     = "jsd"
)

// CheckDivergence validates a divergence name and β.
func CheckDivergence(kind string, beta float64) error {
	switch kind {
	case Forward, Reverse:
		return nil
	case JSD:
		if !(beta >= 0 && beta <= 1) {
			return fmt.Errorf("kd beta %v: expected a number in [0, 1]", beta)
		}
		return nil
	}
	return fmt.Errorf("kd %q: expected forward, reverse or jsd", kind)
}

// logSoftmax writes log softmax(z) into out.
func logSoftmax(out []float64, z []float32) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(s)
	for i, v := range z {
		out[i] = float64(v) - lse
	}
}

// Divergence computes the divergence kind between the teacher's log-probs
// tlogp (V) and the student's logits z (V) and writes ∂loss/∂z into grad
// (V). Work is float64; entries where a distribution is 0 (log −Inf)
// contribute 0·log 0 = 0. scratch must hold 2V floats.
func Divergence(kind string, beta float64, z []float32, tlogp, grad, scratch []float64) float64 {
	v := len(z)
	lq := scratch[:v]
	g := scratch[v : 2*v]
	logSoftmax(lq, z)
	if kind == JSD && beta == 0 {
		kind = Forward
	}
	if kind == JSD && beta == 1 {
		kind = Reverse
	}
	var loss float64
	switch kind {
	case Forward:
		for j := range z {
			p, q := math.Exp(tlogp[j]), math.Exp(lq[j])
			if p > 0 {
				loss += p * (tlogp[j] - lq[j])
			}
			grad[j] = q - p
		}
		return loss
	case Reverse:
		for j := range z {
			q := math.Exp(lq[j])
			g[j] = 0
			if q > 0 {
				g[j] = lq[j] - tlogp[j]
				loss += q * g[j]
			}
		}
	case JSD:
		for j := range z {
			p, q := math.Exp(tlogp[j]), math.Exp(lq[j])
			m := beta*p + (1-beta)*q
			if m == 0 {
				g[j] = 0
				continue
			}
			lm := math.Log(m)
			if p > 0 {
				loss += beta * p * (tlogp[j] - lm)
			}
			if q > 0 {
				loss += (1 - beta) * q * (lq[j] - lm)
			}
			g[j] = (1 - beta) * (lq[j] - lm)
		}
	default:
		panic("distill: unknown divergence " + kind)
	}
	// Softmax backward: ∂L/∂z_j = q_j (g_j − Σ_k q_k g_k).
	var dot float64
	for j := range z {
		dot += math.Exp(lq[j]) * g[j]
	}
	for j := range z {
		grad[j] = math.Exp(lq[j]) * (g[j] - dot)
	}
	return loss
}
