package optim

import (
	"errors"
	"math"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/tensor"
)

var dev = cpu.New()

// TestAdamWMatchesPyTorch: torch.optim.AdamW(lr=0.1, betas=(0.9,0.95),
// eps=1e-8, weight_decay=0.1) on p=[0.5,-1,2,0] with three fixed gradients,
// printed by PyTorch 1.13 (python3-torch):
//
//	p.grad = torch.tensor(g); opt.step(); print(p.tolist())
func TestAdamWMatchesPyTorch(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16} {
		p := autograd.Trainable(dev.Upload([]float32{0.5, -1, 2, 0}, dt, 4))
		o, err := NewAdamW(AdamWConfig{LR: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}, []autograd.Param{{Name: "w", Var: p}})
		if err != nil {
			t.Fatal(err)
		}
		grads := [][]float32{{0.1, -0.2, 0.3, 0}, {1, 1, -1, 0.5}, {-0.3, 0, 0.2, 2}}
		want := [][]float64{
			{0.395, -0.89, 1.88, 0.0},
			{0.3113172, -0.9402533, 1.9126958, -0.073496},
			{0.2667661, -0.9771677, 1.921087, -0.1469356},
		}
		for s, g := range grads {
			p.Grad = dev.Upload(g, tensor.F32, 4)
			if _, err := o.Step(0.1, 1); err != nil {
				t.Fatal(err)
			}
			got := dev.Download(p.Val)
			if dt == tensor.BF16 { // storage rounds; the fp32 master must not
				m, _, master := o.State(0)
				_ = m
				got = dev.Download(master)
			}
			for i := range got {
				if math.Abs(float64(got[i])-want[s][i]) > 2e-6 {
					t.Fatalf("%v step %d param %d: %v, PyTorch %v", dt, s+1, i, got[i], want[s][i])
				}
			}
		}
	}
}

func TestClippingAndNonFinite(t *testing.T) {
	p := autograd.Trainable(dev.Upload([]float32{1, 1}, tensor.F32, 2))
	o, _ := NewAdamW(AdamWConfig{LR: 0, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1}, []autograd.Param{{Name: "w", Var: p}})
	p.Grad = dev.Upload([]float32{3, 4}, tensor.F32, 2)
	norm, err := o.Step(0, 1)
	if err != nil || norm != 5 {
		t.Fatalf("norm %v err %v, want 5", norm, err)
	}
	m, _, _ := o.State(0)
	// m = (1−β1)·clipped grad = 0.1·(0.6, 0.8)
	if got := dev.Download(m); math.Abs(float64(got[0])-0.06) > 1e-6 || math.Abs(float64(got[1])-0.08) > 1e-6 {
		t.Fatalf("first moment %v: gradient not clipped to norm 1", got)
	}
	p.Grad = dev.Upload([]float32{float32(math.NaN()), 1}, tensor.F32, 2)
	if _, err := o.Step(0.1, 1); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("NaN gradient: err %v", err)
	}
	if got := dev.Download(p.Val); got[0] != 1 || got[1] != 1 {
		t.Fatalf("weights changed by a NaN step: %v", got)
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		s    Schedule
		step int
		want float64
	}{
		{Schedule{Kind: "constant"}, 50, 1},
		{Schedule{Kind: "constant", Warmup: 3}, 0, 0.25},
		{Schedule{Kind: "constant", Warmup: 3}, 2, 0.75},
		{Schedule{Kind: "constant", Warmup: 3}, 3, 1},
		{Schedule{Kind: "linear", Total: 10}, 5, 0.5},
		{Schedule{Kind: "linear", Total: 10, MinRatio: 0.1}, 10, 0.1},
		{Schedule{Kind: "cosine", Total: 10}, 5, 0.5},
		{Schedule{Kind: "cosine", Warmup: 2, Total: 12}, 2, 1},
		{Schedule{Kind: "cosine", Warmup: 2, Total: 12, MinRatio: 0.2}, 12, 0.2},
		{Schedule{Kind: "cosine", Total: 10}, 99, 0},
	}
	for _, c := range cases {
		if err := c.s.Validate(); err != nil {
			t.Fatalf("%+v: %v", c.s, err)
		}
		if got := c.s.Factor(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v step %d: %v, want %v", c.s, c.step, got, c.want)
		}
	}
	for _, bad := range []Schedule{{Kind: "exp"}, {Kind: "cosine", Warmup: 5, Total: 5}, {Kind: "linear", Total: 3, MinRatio: 2}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
