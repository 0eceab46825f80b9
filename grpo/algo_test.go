package grpo

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestAdvantages(t *testing.T) {
	rewards := []float64{1, 0, 0, 1, 2, 2, 2, 2} // two groups of 4
	// Group 1: mean .5, unbiased std sqrt(1/3)=.57735; group 2: all equal.
	g, _ := Advantages(rewards, 4, "group", 0)
	s := math.Sqrt(1.0 / 3)
	for i, want := range []float64{.5 / s, -.5 / s, -.5 / s, .5 / s, 0, 0, 0, 0} {
		if !near(g[i], want) {
			t.Errorf("group[%d] = %v, want %v", i, g[i], want)
		}
	}
	n, _ := Advantages(rewards, 4, "none", 1e-4)
	for i, want := range []float64{.5, -.5, -.5, .5, 0, 0, 0, 0} {
		if !near(n[i], want) {
			t.Errorf("none[%d] = %v, want %v", i, n[i], want)
		}
	}
	// Batch std of the 8 rewards: mean 1.25, Σ(r−m)² = 5.5, /7.
	b, _ := Advantages(rewards, 4, "batch", 0)
	bs := math.Sqrt(5.5 / 7)
	if !near(b[0], .5/bs) || !near(b[4], 0) {
		t.Errorf("batch = %v", b)
	}
	if _, err := Advantages(rewards, 3, "group", 0); err == nil {
		t.Error("8 rewards in groups of 3 accepted")
	}
	if _, err := Advantages(rewards, 4, "rank", 0); err == nil {
		t.Error("unknown scale accepted")
	}
}

func TestTokenLossClipping(t *testing.T) {
	c := &LossConfig{EpsLow: 0.2, EpsHigh: 0.28}
	cases := []struct {
		name          string
		logp, old, a  float64
		loss, grad    float64
		clipLo, clipH bool
	}{
		// ratio 1 (μ=1): loss −A, gradient −A.
		{"on-policy positive", -1, -1, 2, -2, -2, false, false},
		{"on-policy negative", -1, -1, -0.5, 0.5, 0.5, false, false},
		// ratio e^0.4=1.4918 > 1.28 with A>0: clipped, no gradient.
		{"high clip A>0", -0.6, -1, 1, -1.28, 0, false, true},
		// same ratio with A<0: min picks the unclipped −ρA… loss = ρ·0.5
		{"high ratio A<0 not clipped", -0.6, -1, -0.5, 0.5 * math.Exp(0.4), 0.5 * math.Exp(0.4), false, false},
		// ratio e^−0.5=.6065 < .8 with A<0: clipped at .8.
		{"low clip A<0", -1.5, -1, -1, 0.8, 0, true, false},
		// low ratio with A>0: unclipped.
		{"low ratio A>0 not clipped", -1.5, -1, 1, -math.Exp(-0.5), -math.Exp(-0.5), false, false},
	}
	for _, k := range cases {
		loss, grad, lo, hi := TokenLoss(Token{LogP: k.logp, OldLogP: k.old, Adv: k.a}, c)
		if !near(loss, k.loss) || !near(grad, k.grad) || lo != k.clipLo || hi != k.clipH {
			t.Errorf("%s: loss %v grad %v clip %v/%v, want %v %v %v/%v", k.name, loss, grad, lo, hi, k.loss, k.grad, k.clipLo, k.clipH)
		}
	}
}

func TestTokenLossKL(t *testing.T) {
	c := &LossConfig{EpsLow: 0.2, EpsHigh: 0.2, Beta: 0.1}
	// logp −1, ref −1.5: d = −.5, k3 = e^−.5 + .5 − 1 = .10653.
	loss, grad, _, _ := TokenLoss(Token{LogP: -1, OldLogP: -1, RefLogP: -1.5, Adv: 0}, c)
	k3 := math.Exp(-0.5) + 0.5 - 1
	if !near(loss, 0.1*k3) || !near(grad, 0.1*(1-math.Exp(-0.5))) {
		t.Fatalf("loss %v grad %v, want %v %v", loss, grad, 0.1*k3, 0.1*(1-math.Exp(-0.5)))
	}
	if KL(-1, -1) != 0 {
		t.Fatal("KL of identical policies is not 0")
	}
	// Numeric check of the gradient with A and KL together.
	tok := Token{LogP: -0.9, OldLogP: -1, RefLogP: -1.3, Adv: 0.7}
	_, g, _, _ := TokenLoss(tok, c)
	h := 1e-6
	tp, tm := tok, tok
	tp.LogP += h
	tm.LogP -= h
	lp, _, _, _ := TokenLoss(tp, c)
	lm, _, _, _ := TokenLoss(tm, c)
	if num := (lp - lm) / (2 * h); math.Abs(num-g) > 1e-6 {
		t.Fatalf("gradient %v, numeric %v", g, num)
	}
}

func TestWeights(t *testing.T) {
	lengths := []int{2, 4}
	seq, _ := Weights(lengths, &LossConfig{Aggregation: "sequence"})
	tok, _ := Weights(lengths, &LossConfig{Aggregation: "token"})
	con, _ := Weights(lengths, &LossConfig{Aggregation: "constant", MaxLen: 8})
	// Per-token losses all 1: sequence → mean of per-sample means = 1;
	// token → 1; constant → (2+4)/(2·8) = .375.
	sum := func(w []float64) float64 { return w[0]*2 + w[1]*4 }
	if !near(sum(seq), 1) || !near(sum(tok), 1) || !near(sum(con), 0.375) {
		t.Fatalf("sequence %v token %v constant %v", sum(seq), sum(tok), sum(con))
	}
	// Per-token losses 1 in sample 0 and 0 in sample 1: sequence weighs
	// samples equally (.5), token by tokens (2/6).
	if !near(seq[0]*2, 0.5) || !near(tok[0]*2, 2.0/6) {
		t.Fatalf("sequence %v token %v", seq, tok)
	}
	if _, err := Weights(lengths, &LossConfig{Aggregation: "max"}); err == nil {
		t.Fatal("unknown aggregation accepted")
	}
}

func TestOverlongPenalty(t *testing.T) {
	for _, c := range []struct{ n, want float64 }{{10, 0}, {16, 0}, {18, -0.5}, {20, -1}, {25, -1}} {
		if got := OverlongPenalty(int(c.n), 20, 4); !near(got, c.want) {
			t.Errorf("length %v: %v, want %v", c.n, got, c.want)
		}
	}
}
