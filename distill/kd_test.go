package distill

import (
	"math"
	"math/rand/v2"
	"testing"
)

func logProbs(z []float64) []float64 {
	out := make([]float64, len(z))
	z32 := make([]float32, len(z))
	for i, v := range z {
		z32[i] = float32(v)
	}
	logSoftmax(out, z32)
	return out
}

// Hand-computed: teacher p = (1/2, 1/4, 1/4), student q = (1/4, 1/2, 1/4)
// (logits log q).
func TestDivergenceHandComputed(t *testing.T) {
	p := []float64{math.Log(0.5), math.Log(0.25), math.Log(0.25)}
	z := []float32{float32(math.Log(0.25)), float32(math.Log(0.5)), float32(math.Log(0.25))}
	ln2 := math.Log(2)
	// m for β = 1/2: (3/8, 3/8, 1/4).
	jsd := 0.5*(0.5*math.Log(0.5/0.375)+0.25*math.Log(0.25/0.375)) + 0.5*(0.25*math.Log(0.25/0.375)+0.5*math.Log(0.5/0.375))
	tests := []struct {
		kind string
		beta float64
		want float64
		grad []float64 // nil: not hand-computed
	}{
		// KL(p‖q) = ½ ln 2 − ¼ ln 2 = ¼ ln 2; ∂/∂z = q − p.
		{Forward, 0, 0.25 * ln2, []float64{-0.25, 0.25, 0}},
		// KL(q‖p) = −¼ ln 2 + ½ ln 2 = ¼ ln 2; ∂/∂z_j = q_j(log q_j − log p_j − KL).
		{Reverse, 0, 0.25 * ln2, []float64{0.25 * (-ln2 - 0.25*ln2), 0.5 * (ln2 - 0.25*ln2), 0.25 * (-0.25 * ln2)}},
		{JSD, 0.5, jsd, nil},
		{JSD, 0, 0.25 * ln2, []float64{-0.25, 0.25, 0}}, // β = 0: forward KL
		{JSD, 1, 0.25 * ln2, nil},                       // β = 1: reverse KL
	}
	for _, tc := range tests {
		grad := make([]float64, 3)
		got := Divergence(tc.kind, tc.beta, z, p, grad, make([]float64, 6))
		if math.Abs(got-tc.want) > 1e-7 {
			t.Errorf("%s β=%v: loss %.9f, want %.9f", tc.kind, tc.beta, got, tc.want)
		}
		for j, w := range tc.grad {
			if math.Abs(grad[j]-w) > 1e-7 {
				t.Errorf("%s β=%v: grad %v, want %v", tc.kind, tc.beta, grad, tc.grad)
				break
			}
		}
	}
}

// The gradient matches central finite differences of the loss in float64
// (logits rounded to float32 on both sides, so the step is taken on
// float32-representable logits: h = 2⁻¹⁰, tolerance 1e-5 absolute).
func TestDivergenceGradientFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const v = 7
	for _, tc := range []struct {
		kind string
		beta float64
	}{{Forward, 0}, {Reverse, 0}, {JSD, 0.1}, {JSD, 0.5}, {JSD, 0.9}} {
		for trial := range 5 {
			zt := make([]float64, v)
			z := make([]float32, v)
			for i := range z {
				zt[i] = rng.NormFloat64() * 2
				z[i] = float32(rng.NormFloat64() * 2)
			}
			p := logProbs(zt)
			grad := make([]float64, v)
			scratch := make([]float64, 2*v)
			Divergence(tc.kind, tc.beta, z, p, grad, scratch)
			const h = 1.0 / 1024
			for j := range z {
				zp := append([]float32(nil), z...)
				zm := append([]float32(nil), z...)
				zp[j] += h
				zm[j] -= h
				lp := Divergence(tc.kind, tc.beta, zp, p, make([]float64, v), scratch)
				lm := Divergence(tc.kind, tc.beta, zm, p, make([]float64, v), scratch)
				fd := (lp - lm) / float64(float32(z[j]+h)-float32(z[j]-h))
				if math.Abs(fd-grad[j]) > 1e-5 {
					t.Errorf("%s β=%v trial %d: ∂/∂z%d = %.8f, finite difference %.8f", tc.kind, tc.beta, trial, j, grad[j], fd)
				}
			}
		}
	}
}

// A student equal to its teacher has zero loss and zero gradient under
// every divergence.
func TestDivergenceZeroForIdenticalDistributions(t *testing.T) {
	z := []float32{1.5, -0.25, 3, 0, -2}
	zt := make([]float64, len(z))
	for i, v := range z {
		zt[i] = float64(v)
	}
	p := logProbs(zt)
	for _, kind := range []string{Forward, Reverse, JSD} {
		grad := make([]float64, len(z))
		loss := Divergence(kind, 0.5, z, p, grad, make([]float64, 2*len(z)))
		if math.Abs(loss) > 1e-12 {
			t.Errorf("%s: loss %g, want 0", kind, loss)
		}
		for j, g := range grad {
			if math.Abs(g) > 1e-12 {
				t.Errorf("%s: grad[%d] = %g, want 0", kind, j, g)
			}
		}
	}
}
