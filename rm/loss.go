// Package rm trains and runs reward models: a transformer with a linear
// score head read at the last real token (Hugging Face's
// *ForSequenceClassification with num_labels 1), trained on preference
// pairs with the Bradley–Terry pairwise loss (Ouyang et al. 2022; the
// optional margin of Llama 2, Touvron et al. 2023) on the shared training
// core, and a batched Scorer used by `r1 rm score` and the "rm" reward.
package rm

import "math"

// logSigmoid is log σ(x), stable for large |x|.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// sigmoid is σ(x) = 1/(1+e^−x).
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// BTLoss is the Bradley–Terry pairwise loss of a batch of pairs, averaged:
//
//	L = (1/P) Σ_k −log σ(r_c,k − r_r,k − m_k)
//
// with r_c, r_r the chosen and rejected scores and m the pair's margin
// (Llama 2's m(r); nil = 0). It returns L and ∂L/∂r_c, ∂L/∂r_r per pair:
// with d = r_c − r_r − m, ∂L/∂r_c = −σ(−d)/P and ∂L/∂r_r = σ(−d)/P.
func BTLoss(chosen, rejected, margin []float64) (loss float64, gChosen, gRejected []float64) {
	p := float64(len(chosen))
	gChosen = make([]float64, len(chosen))
	gRejected = make([]float64, len(chosen))
	for k := range chosen {
		d := chosen[k] - rejected[k]
		if margin != nil {
			d -= margin[k]
		}
		loss -= logSigmoid(d)
		s := sigmoid(-d)
		gChosen[k] = -s / p
		gRejected[k] = s / p
	}
	return loss / p, gChosen, gRejected
}
