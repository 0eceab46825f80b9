package dpo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

var dev = cpu.New()

const tinyDir = "../assets/tiny"

func TestLossHandComputed(t *testing.T) {
	ch := []Seq{{Logp: -10, Ref: -11, Len: 5}}
	rj := []Seq{{Logp: -12, Ref: -11, Len: 4}}
	cases := []struct {
		name   string
		c      LossConfig
		loss   float64
		gc, gr float64
		rc, rr float64
	}{
		// h = 0.1·((−10+11) − (−12+11)) = 0.2; −log σ(0.2) = 0.5981388693815918; σ(−0.2) = 0.45016600268752216.
		{"sigmoid", LossConfig{Type: Sigmoid, Beta: 0.1}, 0.5981388693815918, -0.045016600268752216, 0.045016600268752216, 0.1, -0.1},
		// ε = 0.1: 0.9·0.5981388693815918 + 0.1·0.7981388693815918; ∂/∂h = −0.9·σ(−0.2) + 0.1·σ(0.2) = −0.35016600268752216.
		{"sigmoid smoothed", LossConfig{Type: Sigmoid, Beta: 0.1, LabelSmoothing: 0.1}, 0.6181388693815918, -0.035016600268752216, 0.035016600268752216, 0.1, -0.1},
		// IPO: h = 2, 1/(2β) = 5: (2 − 5)² = 9, ∂/∂π_c = 2(h − 5) = −6.
		{"ipo", LossConfig{Type: IPO, Beta: 0.1}, 9, -6, 6, 0.1, -0.1},
		// SimPO: h = 2·(−10/5) − 2·(−12/4) − 0.5 = 1.5; −log σ(1.5) = 0.20141327798275246; σ(−1.5) = 0.18242552380635635.
		{"simpo", LossConfig{Type: SimPO, Beta: 2, SimPOGamma: 0.5}, 0.20141327798275246, -0.18242552380635635 * 2 / 5, 0.18242552380635635 * 2 / 4, -4, -6},
	}
	for _, c := range cases {
		r := c.c.Compute(ch, rj)
		if math.Abs(r.Loss-c.loss) > 1e-12 || math.Abs(r.GChosen[0]-c.gc) > 1e-12 || math.Abs(r.GRejected[0]-c.gr) > 1e-12 {
			t.Errorf("%s: loss %.17g grads %.17g %.17g, want %.17g %.17g %.17g", c.name, r.Loss, r.GChosen[0], r.GRejected[0], c.loss, c.gc, c.gr)
		}
		if math.Abs(r.RewardsChosen[0]-c.rc) > 1e-12 || math.Abs(r.RewardsRejected[0]-c.rr) > 1e-12 {
			t.Errorf("%s: rewards %v %v, want %v %v", c.name, r.RewardsChosen[0], r.RewardsRejected[0], c.rc, c.rr)
		}
	}
}

// With the policy equal to the reference, DPO's loss is log 2 for every β
// (and every label smoothing); IPO's is 1/(4β²).
func TestPolicyEqualsReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	ch, rj := make([]Seq, 5), make([]Seq, 5)
	for k := range ch {
		ch[k].Logp = -50 * rng.Float64()
		ch[k].Ref = ch[k].Logp
		rj[k].Logp = -50 * rng.Float64()
		rj[k].Ref = rj[k].Logp
	}
	for _, b := range []float64{0.01, 0.1, 0.5, 1, 10} {
		for _, eps := range []float64{0, 0.2} {
			r := LossConfig{Type: Sigmoid, Beta: b, LabelSmoothing: eps}.Compute(ch, rj)
			if math.Abs(r.Loss-math.Ln2) > 1e-12 {
				t.Errorf("β %g ε %g: loss %.17g, want log 2", b, eps, r.Loss)
			}
		}
		if r := (LossConfig{Type: IPO, Beta: b}).Compute(ch, rj); math.Abs(r.Loss-1/(4*b*b)) > 1e-9*r.Loss {
			t.Errorf("IPO β %g: loss %v, want %v", b, r.Loss, 1/(4*b*b))
		}
	}
}

// Every loss's gradient matches central finite differences in each
// sequence log-prob (|error| < 1e-7, h = 1e-5).
func TestLossFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	ch, rj := make([]Seq, 4), make([]Seq, 4)
	for k := range ch {
		ch[k] = Seq{Logp: -20 * rng.Float64(), Ref: -20 * rng.Float64(), Len: 1 + rng.IntN(9)}
		rj[k] = Seq{Logp: -20 * rng.Float64(), Ref: -20 * rng.Float64(), Len: 1 + rng.IntN(9)}
	}
	for _, c := range []LossConfig{{Type: Sigmoid, Beta: 0.3}, {Type: Sigmoid, Beta: 0.3, LabelSmoothing: 0.15},
		{Type: IPO, Beta: 0.5}, {Type: SimPO, Beta: 2, SimPOGamma: 0.5, LabelSmoothing: 0.1}} {
		r := c.Compute(ch, rj)
		for _, side := range []struct {
			s []Seq
			g []float64
		}{{ch, r.GChosen}, {rj, r.GRejected}} {
			for k := range side.s {
				old := side.s[k].Logp
				side.s[k].Logp = old + 1e-5
				up := c.Compute(ch, rj).Loss
				side.s[k].Logp = old - 1e-5
				down := c.Compute(ch, rj).Loss
				side.s[k].Logp = old
				if fd := (up - down) / 2e-5; math.Abs(fd-side.g[k]) > 1e-7 {
					t.Errorf("%s pair %d: gradient %.10g, finite difference %.10g", c.Type, k, side.g[k], fd)
				}
			}
		}
	}
}

// The gradient pairLoss feeds to the model equals the finite-difference
// derivative of the DPO loss of the model's log-probs, in float64, on
// weights of every kind (|error| ≤ 1e-6·max(1,|g|), h = 1e-6).
func TestPairLossModelFiniteDifferences(t *testing.T) {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 64, "hidden_size": 32,
		"intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
		"tie_word_embeddings": false, "initializer_range": 0.2}`))
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(cfg, dev, 5, model.WithDType(tensor.F64))
	ps := []TokPair{
		{Prompt: []int32{1, 5, 9}, Chosen: []int32{4, 4, 2}, Rejected: []int32{7}, RefChosen: -9, RefRejected: -4},
		{Prompt: []int32{1, 3}, Chosen: []int32{8, 10, 12, 2}, Rejected: []int32{8, 11}, RefChosen: -16, RefRejected: -7},
	}
	for k, lc := range []LossConfig{{Type: Sigmoid, Beta: 0.5, LabelSmoothing: 0.1}, {Type: SimPO, Beta: 2, SimPOGamma: 0.3}, {Type: Sigmoid, Beta: 0.5}} {
		share := k == 2 // the pairs laid out with their prompts shared (model.LayoutShared)
		tp := m.NewTape()
		if _, _, _, err := pairLoss(tp, m, lc, ps, share, 1); err != nil {
			t.Fatal(err)
		}
		tp.Backward()
		loss := func() float64 {
			tp := m.NewTape()
			tp.NoGrad = true
			defer tp.Reset()
			r, _, _, err := pairLoss(tp, m, lc, ps, share, 1)
			if err != nil {
				t.Fatal(err)
			}
			return r.Loss
		}
		rng := rand.New(rand.NewPCG(4, 4))
		checked := 0
		for _, p := range m.Params() {
			w, g := p.Var.Val.Buf.([]float64), p.Var.Grad.Buf.([]float64)
			for n := 0; n < 3; n++ {
				i := rng.IntN(len(w))
				if strings.Contains(p.Name, "embed_tokens") || strings.Contains(p.Name, "lm_head") {
					i = int([]int32{1, 4, 5, 7, 8, 10}[rng.IntN(6)])*cfg.Hidden + rng.IntN(cfg.Hidden)
				}
				old := w[i]
				w[i] = old + 1e-6
				up := loss()
				w[i] = old - 1e-6
				down := loss()
				w[i] = old
				if fd := (up - down) / 2e-6; math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(g[i])) {
					t.Fatalf("%s %s[%d]: gradient %.10g, finite difference %.10g", lc.Type, p.Name, i, g[i], fd)
				}
				checked++
			}
			p.Var.Grad = nil
		}
		t.Logf("%s (shared prompts %v): %d weight elements match finite differences", lc.Type, share, checked)
	}
}

func pairsFile(t *testing.T, n int) string {
	rng := rand.New(rand.NewPCG(5, 6))
	var rows []map[string]any
	for i := 0; i < n; i++ {
		a, b := rng.IntN(50), rng.IntN(50)
		rows = append(rows, map[string]any{"prompt": fmt.Sprintf("What is %d + %d?", a, b),
			"chosen": fmt.Sprintf(" The answer is %d.", a+b), "rejected": fmt.Sprintf(" %d", a+b+1)})
	}
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := data.WriteJSONLFile(path, rows); err != nil {
		t.Fatal(err)
	}
	return path
}

// A run starts at loss log 2 (the policy is its reference: the cached
// log-probs are the policy's own, and with LoRA the base's with the
// adapter off), and learns the preference: held-out reward accuracy > 0.9.
func TestTrain(t *testing.T) {
	path := pairsFile(t, 120)
	for _, c := range []struct {
		name string
		set  func(*Config)
	}{
		{"full", func(c *Config) {}},
		{"lora", func(c *Config) { c.LoRA.R, c.LoRA.Alpha, c.Optim.LR = 8, 16, 1e-2 }},
		{"simpo", func(c *Config) { c.Loss = LossConfig{Type: SimPO, Beta: 2, SimPOGamma: 0.5} }},
		// IPO's squared loss has unbounded gradients: a smaller step.
		{"ipo", func(c *Config) { c.Loss, c.Optim.LR, c.Steps = LossConfig{Type: IPO, Beta: 0.1}, 1e-4, 24 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.Model, cfg.Data, cfg.Out = tinyDir, path, filepath.Join(t.TempDir(), "dpo")
			cfg.Optim.LR, cfg.MicroBatch, cfg.Steps, cfg.EvalFraction, cfg.LogEvery = 1e-3, 8, 12, 0.2, 100
			c.set(&cfg)
			tr, err := New(cfg, dev)
			if err != nil {
				t.Fatal(err)
			}
			first, err := tr.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Loss.Type == Sigmoid && math.Abs(first["loss"]-math.Ln2) > 1e-6 {
				t.Fatalf("first step loss %.9f, want log 2 (policy = reference)", first["loss"])
			}
			if err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			m := map[string]float64{}
			if err := tr.Evaluate(m); err != nil {
				t.Fatal(err)
			}
			t.Logf("held-out reward accuracy %.3f margin %.3f loss %.4f; logps chosen %.2f rejected %.2f", m["eval/rewards/accuracies"],
				m["eval/rewards/margins"], m["eval/loss"], m["eval/logps/chosen"], m["eval/logps/rejected"])
			if m["eval/rewards/accuracies"] <= 0.9 {
				t.Fatalf("held-out reward accuracy %.3f, want > 0.9", m["eval/rewards/accuracies"])
			}
			if err := tr.SaveFinal(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A run stopped after 3 steps and resumed continues exactly (the
// reference log-probs, recomputed from the model as loaded, are the
// same), with full weights and with LoRA.
func TestResumeIsExact(t *testing.T) {
	path := pairsFile(t, 40)
	for _, lora := range []bool{false, true} {
		t.Run(fmt.Sprint("lora=", lora), func(t *testing.T) {
			dir := t.TempDir()
			full := Default()
			full.Model, full.Data, full.Out = tinyDir, path, filepath.Join(dir, "full")
			full.Optim.LR, full.MicroBatch, full.Accumulation, full.Steps, full.EvalEvery, full.LogEvery = 1e-3, 2, 2, 6, 3, 100
			if lora {
				full.LoRA.R, full.LoRA.Alpha, full.LoRA.Dropout = 4, 8, 0.1
			}
			run := func(c Config, resume bool) {
				tr, err := New(c, dev)
				if err != nil {
					t.Fatal(err)
				}
				if resume {
					if ok, err := tr.Resume(); err != nil || !ok || tr.StepsDone() != 3 {
						t.Fatalf("resume: %v %v %d", ok, err, tr.StepsDone())
					}
				}
				if err := tr.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			run(full, false)
			part := full
			part.Out, part.Steps, part.Schedule.Total = filepath.Join(dir, "part"), 3, 6
			run(part, false)
			part.Steps = 6
			run(part, true)
			a, b := metricsOf(t, full.Out), metricsOf(t, part.Out)
			if len(a) != 6 || strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Fatalf("metrics differ:\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			name := "model.safetensors"
			if lora {
				name = "adapter_model.safetensors"
			}
			wa, _ := os.ReadFile(filepath.Join(full.Out, "checkpoints", "step-6", name))
			wb, _ := os.ReadFile(filepath.Join(part.Out, "checkpoints", "step-6", name))
			if len(wa) == 0 || string(wa) != string(wb) {
				t.Fatalf("final weights (%s) differ or are missing", name)
			}
		})
	}
}

// metricsOf is testmodel.Metrics: metrics.jsonl without its timing fields.
func metricsOf(t *testing.T, out string) []string {
	t.Helper()
	recs, err := testmodel.Metrics(out)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
