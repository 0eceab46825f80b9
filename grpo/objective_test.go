package grpo

import (
	"math"
	"testing"

	"github.com/r1go/r1/model"
)

// objective is the GRPO loss as the papers state it, written independently
// of TokenLoss and Weights: for samples o_i with advantages A_i,
//
//	J = agg_i,t [ −min(ρ_it·A_i, clip(ρ_it, 1−ε_low, 1+ε_high)·A_i) + β·(e^{ref−logp} − (ref−logp) − 1) ]
//	ρ_it = exp(logp_it − old_it)
//
// where agg is (1/N)Σ_i (1/|o_i|)Σ_t for "sequence" (GRPO, DeepSeekMath eq. 3)
// and (1/Σ|o_i|)Σ_iΣ_t for "token" (DAPO eq. 8).
func objective(lp, old, ref [][]float64, adv []float64, epsLow, epsHigh, beta float64, agg string) float64 {
	var total float64
	var tokens int
	for _, s := range lp {
		tokens += len(s)
	}
	for i := range lp {
		var sum float64
		for t := range lp[i] {
			rho := math.Exp(lp[i][t] - old[i][t])
			clipped := math.Max(1-epsLow, math.Min(1+epsHigh, rho))
			d := ref[i][t] - lp[i][t]
			sum += -math.Min(rho*adv[i], clipped*adv[i]) + beta*(math.Exp(d)-d-1)
		}
		if agg == "sequence" {
			total += sum / float64(len(lp[i])) / float64(len(lp))
		} else {
			total += sum / float64(tokens)
		}
	}
	return total
}

// The gradient the GRPO update feeds to backward (policyGrad, laid out by
// batchOf, weighted by Weights) equals the derivative of the stated
// objective with respect to every completion token's log-prob, by central
// finite differences in float64, for a hand-made batch with tokens inside
// the trust region, clipped below and above, positive and negative
// advantages, a KL term, and unequal lengths; prompt and padding positions
// get no gradient.
func TestUpdateGradientIsTheObjectives(t *testing.T) {
	const epsLow, epsHigh, beta = 0.2, 0.28, 0.04
	// Completion log-probs under the current (lp), sampling (old) and
	// reference policies. Ratios exp(lp−old): sample 0 (A>0) 1.05 and 0.6
	// (below the clip but the min keeps the unclipped term); sample 1 (A<0)
	// 1.5 (above, unclipped for A<0), 0.6 (clipped low) and 0.905; sample 2
	// (A>0) 1.5 (clipped high).
	lp := [][]float64{{-1.0, -2.0}, {-0.5, -1.5, -3.0}, {-0.2}}
	old := [][]float64{{-1.0488, -1.4892}, {-0.9055, -0.9892, -2.9}, {-0.6055}}
	ref := [][]float64{{-1.1, -1.8}, {-0.7, -1.2, -3.3}, {-0.1}}
	adv := []float64{1.3, -0.8, 0.6}
	prompts := [][]int32{{5, 6, 7}, {8}, {9, 10}}

	layouts := map[string]func([][]int32, []int) (model.Batch, []int32, [][]int){"padded": model.LayoutPadded, "shared": model.LayoutShared}
	for _, c := range []struct{ agg, layout string }{{"sequence", "padded"}, {"token", "padded"}, {"token", "shared"}} {
		agg := c.agg
		t.Run(c.agg+"/"+c.layout, func(t *testing.T) {
			lc := &LossConfig{EpsLow: epsLow, EpsHigh: epsHigh, Beta: beta, Aggregation: agg}
			var seqs []*seqData
			var lengths []int
			for i := range lp {
				ids := append([]int32(nil), prompts[i]...)
				for range lp[i] {
					ids = append(ids, 11)
				}
				seqs = append(seqs, &seqData{ids: ids, promptLen: len(prompts[i]), adv: adv[i], old: old[i], ref: ref[i]})
				lengths = append(lengths, len(lp[i]))
			}
			w, err := Weights(lengths, lc)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range seqs {
				s.weight = w[i]
			}
			b, _, pos := layouts[c.layout](seqIDs(seqs))
			flat := make([]float32, b.B*b.T)
			for i := range flat {
				flat[i] = -7 // prompt and padding positions: must get no gradient
			}
			for i := range lp {
				for j, at := range pos[i] {
					flat[at] = float32(lp[i][j])
				}
			}
			// The objective is evaluated at the float32 values the model
			// hands over, as the update sees them.
			at32 := func() [][]float64 {
				out := make([][]float64, len(lp))
				for i := range lp {
					for j := range lp[i] {
						out[i] = append(out[i], float64(float32(lp[i][j])))
					}
				}
				return out
			}
			st := &lossStats{}
			grad, err := policyGrad(seqs, pos, flat, make([]float32, len(flat)), lc, st)
			if err != nil {
				t.Fatal(err)
			}
			onTarget := map[int]bool{}
			var clipped float64
			for i := range lp {
				for j, at := range pos[i] {
					onTarget[at] = true
					x := at32()
					const h = 1e-6
					x[i][j] += h
					up := objective(x, old, ref, adv, epsLow, epsHigh, beta, agg)
					x[i][j] -= 2 * h
					down := objective(x, old, ref, adv, epsLow, epsHigh, beta, agg)
					want := (up - down) / (2 * h)
					if got := float64(grad[at]); math.Abs(got-want) > 1e-6+1e-5*math.Abs(want) {
						t.Errorf("sample %d token %d: gradient %.9g, the objective's %.9g", i, j, got, want)
					}
				}
			}
			for at, g := range grad {
				if !onTarget[at] && g != 0 {
					t.Errorf("position %d (prompt or padding) gets gradient %g", at, g)
				}
			}
			clipped = st.clipLo + st.clipHi
			if st.clipLo == 0 || st.clipHi == 0 || clipped == st.ntok {
				t.Fatalf("the batch must exercise both clip sides and the unclipped case: low %v high %v of %v", st.clipLo, st.clipHi, st.ntok)
			}
			if want := objective(at32(), old, ref, adv, epsLow, epsHigh, beta, agg); math.Abs(st.loss-want) > 1e-12 {
				t.Errorf("reported loss %.12g, the objective %.12g", st.loss, want)
			}
		})
	}
}
