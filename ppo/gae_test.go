package ppo

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// GAE on a three-token episode, worked by hand:
//
//	γ 0.9, λ 0.8, r = (0, 0, 1), V = (0.5, 0.2, 0.6), V(s_3) = 0
//	δ_2 = 1 − 0.6 = 0.4                A_2 = 0.4
//	δ_1 = 0.9·0.6 − 0.2 = 0.34         A_1 = 0.34 + 0.72·0.4 = 0.628
//	δ_0 = 0.9·0.2 − 0.5 = −0.32        A_0 = −0.32 + 0.72·0.628 = 0.13216
//	R_t = A_t + V_t = (0.63216, 0.828, 1.0)
//
// and the limits: λ = 1, γ = 1 gives Monte-Carlo returns minus the values;
// λ = 0 gives the one-step TD errors.
func TestGAEHandComputed(t *testing.T) {
	r, v := []float64{0, 0, 1}, []float64{0.5, 0.2, 0.6}
	for _, c := range []struct {
		name          string
		gamma, lambda float64
		adv, ret      []float64
	}{
		{"γ0.9 λ0.8", 0.9, 0.8, []float64{0.13216, 0.628, 0.4}, []float64{0.63216, 0.828, 1}},
		{"monte-carlo", 1, 1, []float64{0.5, 0.8, 0.4}, []float64{1, 1, 1}},
		{"td(0)", 1, 0, []float64{-0.3, 0.4, 0.4}, []float64{0.2, 0.6, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			adv, ret := GAE(r, v, c.gamma, c.lambda)
			for i := range adv {
				if !near(adv[i], c.adv[i], 1e-12) || !near(ret[i], c.ret[i], 1e-12) {
					t.Errorf("t=%d: A %.12g R %.12g, want A %.12g R %.12g", i, adv[i], ret[i], c.adv[i], c.ret[i])
				}
			}
		})
	}
}

// The per-token reward is −β·(logp − ref) at every token plus the score at
// the last one.
func TestTokenRewards(t *testing.T) {
	got := TokenRewards(2, []float64{-1, -2, -0.5}, []float64{-1.5, -1, -0.5}, 0.1)
	want := []float64{-0.05, 0.1, 2}
	for i := range want {
		if !near(got[i], want[i], 1e-12) {
			t.Errorf("token %d: %g, want %g", i, got[i], want[i])
		}
	}
	if got := TokenRewards(1, []float64{-1, -2}, nil, 0); got[0] != 0 || got[1] != 1 {
		t.Errorf("β 0: %v, want [0 1]", got)
	}
}

// Whitening: x = (1, 2, 3, 4) has mean 2.5 and unbiased variance 5/3, so
// the whitened values are (x − 2.5)/sqrt(5/3 + 1e-8); equal values become
// 0, a single value is only centred.
func TestWhitenFixtures(t *testing.T) {
	got := Whiten([]float64{1, 2, 3, 4})
	s := math.Sqrt(5.0/3 + 1e-8)
	for i, want := range []float64{-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s} {
		if !near(got[i], want, 1e-12) {
			t.Errorf("whiten[%d] = %.15g, want %.15g", i, got[i], want)
		}
	}
	for _, v := range Whiten([]float64{3, 3, 3}) {
		if v != 0 {
			t.Errorf("equal values whiten to %v, want 0", v)
		}
	}
	if got := Whiten([]float64{7}); got[0] != 0 {
		t.Errorf("one value: %v", got)
	}
}

// The clipped value loss on fixtures: inside the clip range, outside it
// on the side where the clipped term is larger (no gradient), outside it
// where the unclipped term is larger (the full gradient), and unclipped.
func TestValueLossFixtures(t *testing.T) {
	for _, c := range []struct {
		name              string
		v, old, ret, clip float64
		loss, grad        float64
		clipped           bool
	}{
		{"inside", 0.6, 0.5, 2, 0.2, 0.5 * 1.4 * 1.4, -1.4, false},
		{"outside, clipped term larger", 1, 0.5, 2, 0.2, 0.5 * 1.3 * 1.3, 0, true},     // v_clip 0.7
		{"outside, unclipped term larger", 1, 0.5, 0, 0.2, 0.5, 1, false},              // v_clip 0.7, (0.7)² < 1
		{"below, clipped term larger", -0.2, 0.5, -1.5, 0.2, 0.5 * 1.8 * 1.8, 0, true}, // v_clip 0.3
		{"no clipping", 1, 0.5, 2, 0, 0.5, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, g, cl := ValueLoss(c.v, c.old, c.ret, c.clip)
			if !near(l, c.loss, 1e-12) || !near(g, c.grad, 1e-12) || cl != c.clipped {
				t.Errorf("ValueLoss = %.12g, %.12g, %v; want %.12g, %.12g, %v", l, g, cl, c.loss, c.grad, c.clipped)
			}
		})
	}
}

// ∂ValueLoss/∂v equals the central finite difference of the loss, in
// float64, at points on every branch (away from the kinks).
func TestValueLossGradientFiniteDifferences(t *testing.T) {
	const h = 1e-6
	for _, old := range []float64{-0.4, 0.3} {
		for _, ret := range []float64{-1.2, 0.1, 0.9} {
			for v := -1.5; v <= 1.5; v += 0.37 {
				for _, clip := range []float64{0, 0.2} {
					_, g, _ := ValueLoss(v, old, ret, clip)
					up, _, _ := ValueLoss(v+h, old, ret, clip)
					down, _, _ := ValueLoss(v-h, old, ret, clip)
					if want := (up - down) / (2 * h); !near(g, want, 1e-8) {
						t.Errorf("v %g old %g R %g clip %g: gradient %.10g, finite difference %.10g", v, old, ret, clip, g, want)
					}
				}
			}
		}
	}
}

func TestExplainedVariance(t *testing.T) {
	target := []float64{1, 2, 4, 7}
	if ev := ExplainedVariance(target, target); ev != 1 {
		t.Errorf("perfect prediction: %g", ev)
	}
	if ev := ExplainedVariance([]float64{3.5, 3.5, 3.5, 3.5}, target); !near(ev, 0, 1e-12) {
		t.Errorf("the mean as prediction: %g, want 0", ev)
	}
	// Residuals (0, 1, −1, 0): variance 0.5 against the targets' 5.25.
	if ev := ExplainedVariance([]float64{1, 1, 5, 7}, target); !near(ev, 1-0.5/5.25, 1e-12) {
		t.Errorf("got %g, want %g", ev, 1-0.5/5.25)
	}
	if ev := ExplainedVariance([]float64{1, 2}, []float64{3, 3}); !math.IsNaN(ev) {
		t.Errorf("constant targets: %g, want NaN", ev)
	}
}
