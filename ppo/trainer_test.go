package ppo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/reward"
	_ "github.com/r1go/r1/reward/all"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/train"
)

// objective is the PPO mini-batch loss as TRL states it, written
// independently of grads: token means of
//
//	−min(ρA, clip(ρ, 1−ε_low, 1+ε_high)A) + c_vf·½·max((v−R)², (old_v + clip(v−old_v, −c, c) − R)²)
func objective(lp, vals [][]float64, seqs []*Seq, epsLow, epsHigh, vfCoef, clipV float64) float64 {
	var sum, n float64
	for i, s := range seqs {
		for t := range lp[i] {
			rho := math.Exp(lp[i][t] - s.old[t])
			a := s.adv[t]
			pg := -math.Min(rho*a, math.Max(1-epsLow, math.Min(1+epsHigh, rho))*a)
			v := vals[i][t]
			vc := s.values[t] + math.Max(-clipV, math.Min(clipV, v-s.values[t]))
			vf := 0.5 * math.Max((v-s.ret[t])*(v-s.ret[t]), (vc-s.ret[t])*(vc-s.ret[t]))
			sum += pg + vfCoef*vf
			n++
		}
	}
	return sum / n
}

// The gradients the PPO update feeds to backward (grads, laid out by
// model.LayoutPadded) equal the central finite differences of the stated
// objective with respect to every completion token's log-prob and value,
// in float64, on a batch whose tokens clip on both policy sides and on the
// value clip; prompt and padding positions get no gradient.
func TestGradsAreTheObjectives(t *testing.T) {
	const epsLow, epsHigh, vfCoef, clipV = 0.2, 0.28, 0.1, 0.2
	lp := [][]float64{{-1.0, -2.0}, {-0.5, -1.5, -3.0}, {-0.2}}
	seqs := []*Seq{
		{old: []float64{-1.0488, -1.4892}, adv: []float64{1.3, 0.4}, values: []float64{0.5, 0.1}, ret: []float64{1.2, 0.3}},
		{old: []float64{-0.9055, -0.9892, -2.9}, adv: []float64{-0.8, -0.8, 0.2}, values: []float64{0.0, 0.4, -0.3}, ret: []float64{-1.0, 0.6, 0.9}},
		{old: []float64{-0.6055}, adv: []float64{0.6}, values: []float64{0.2}, ret: []float64{-0.5}},
	}
	vals := [][]float64{{0.8, 0.15}, {-0.5, 0.45, 0.1}, {0.3}} // (0,0) and (1,0) beyond the value clip
	prompts := [][]int32{{5, 6, 7}, {8}, {9, 10}}
	var ntok int
	for i, s := range seqs {
		s.PromptLen = len(prompts[i])
		s.IDs = append([]int32(nil), prompts[i]...)
		for range lp[i] {
			s.IDs = append(s.IDs, 11)
		}
		ntok += len(lp[i])
	}
	b, _, pos := layout(seqs)
	flatLP, flatV := make([]float32, b.B*b.T), make([]float32, b.B*b.T)
	for i := range flatLP {
		flatLP[i], flatV[i] = -7, 3 // prompt and padding positions
	}
	at32 := func(x [][]float64) [][]float64 {
		out := make([][]float64, len(x))
		for i := range x {
			for _, v := range x[i] {
				out[i] = append(out[i], float64(float32(v)))
			}
		}
		return out
	}
	for i := range lp {
		for j, at := range pos[i] {
			flatLP[at], flatV[at] = float32(lp[i][j]), float32(vals[i][j])
		}
	}
	l := &Learner{Options: Options{VFCoef: vfCoef, ClipRangeValue: clipV}, EpsLow: epsLow, EpsHigh: epsHigh}
	var st stats
	gl, gv, err := l.grads(seqs, pos, flatLP, make([]float32, len(flatLP)), flatV, 1/float64(ntok), &st)
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-6
	onTarget := map[int]bool{}
	for i := range lp {
		for j, at := range pos[i] {
			onTarget[at] = true
			for _, wrt := range []struct {
				name string
				x    [][]float64
				got  float32
			}{{"log-prob", lp, gl[at]}, {"value", vals, gv[at]}} {
				x := at32(wrt.x)
				f := func() float64 {
					if wrt.name == "value" {
						return objective(at32(lp), x, seqs, epsLow, epsHigh, vfCoef, clipV)
					}
					return objective(x, at32(vals), seqs, epsLow, epsHigh, vfCoef, clipV)
				}
				x[i][j] += h
				up := f()
				x[i][j] -= 2 * h
				down := f()
				want := (up - down) / (2 * h)
				if got := float64(wrt.got); math.Abs(got-want) > 1e-7+1e-5*math.Abs(want) {
					t.Errorf("sample %d token %d: ∂/∂%s %.9g, the objective's %.9g", i, j, wrt.name, got, want)
				}
			}
		}
	}
	for at := range gl {
		if !onTarget[at] && (gl[at] != 0 || gv[at] != 0) {
			t.Errorf("position %d (prompt or padding) gets gradient %g, %g", at, gl[at], gv[at])
		}
	}
	if st.clipLo == 0 || st.clipHi == 0 || st.vclip == 0 || st.vclip == st.ntok {
		t.Fatalf("the batch must clip on both policy sides and on the value, not everywhere: low %v high %v value %v of %v",
			st.clipLo, st.clipHi, st.vclip, st.ntok)
	}
	if want := objective(at32(lp), at32(vals), seqs, epsLow, epsHigh, 0, clipV); math.Abs(st.pg-want) > 1e-12 {
		t.Errorf("policy loss %.12g, the objective's %.12g", st.pg, want)
	}
}

// toyConfig is a policy over 8 tokens: completions of 3 tokens after a
// fixed prompt, rewarded by the share of them that are token 5. The
// optimal policy is known: always token 5 (reward 1; a uniform policy
// earns 1/8).
func toyModel(t *testing.T, opts ...model.Option) *model.Model {
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 8, "hidden_size": 16,
		"intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
		"tie_word_embeddings": true, "initializer_range": 0.02, "max_position_embeddings": 16}`))
	if err != nil {
		t.Fatal(err)
	}
	return model.New(cfg, cpu.New(), 3, opts...)
}

// toy is the toy task as a train.Algorithm: the policy samples, the
// Learner updates.
type toy struct {
	l      *Learner
	engine *sample.Engine
	last   float64 // mean reward of the last rollout
}

func (a *toy) rollout(step int, n int) ([]*Seq, float64, error) {
	out, err := a.engine.Generate(context.Background(), []sample.Request{{Prompt: []int32{1, 2}, N: n}},
		sample.Params{Temperature: 1, TopP: 1, MaxNewTokens: 3, Seed: uint64(step)})
	if err != nil {
		return nil, 0, err
	}
	var seqs []*Seq
	var mean float64
	for _, s := range out {
		var r float64
		for _, tok := range s.Tokens {
			if tok == 5 {
				r += 1.0 / 3
			}
		}
		mean += r / float64(len(out))
		seqs = append(seqs, &Seq{IDs: append([]int32{1, 2}, s.Tokens...), PromptLen: 2, Score: r})
	}
	return seqs, mean, nil
}

func (a *toy) TrainStep(_ context.Context, u *train.Update) (map[string]float64, error) {
	seqs, mean, err := a.rollout(u.Step(), 16)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	a.last = mean
	return m, a.l.Update(u, seqs, m)
}
func (a *toy) State() any                    { return nil }
func (a *toy) Restore(json.RawMessage) error { return nil }

// PPO on the toy task reaches the optimal policy (mean reward ≥ 0.95 on
// fresh samples, from about 1/8), with the critic on the policy's trunk
// and as a separate model, and the critic learns the optimal policy's
// value (the return 1 at every token: rollout-time values within 0.1 of it
// at the end; they start near 0).
func TestToyTaskConvergesToTheOptimalPolicy(t *testing.T) {
	for _, critic := range []string{"head", "separate"} {
		t.Run(critic, func(t *testing.T) {
			l := &Learner{Options: Options{Critic: critic, Gamma: 1, Lambda: 0.95, WhitenAdvantages: true, ClipRangeValue: 0.2,
				VFCoef: 0.5, MiniBatches: 2}, Dev: cpu.New(), EpsLow: 0.2, EpsHigh: 0.2, Epochs: 2, MicroBatch: 8, Seed: 1}
			tc := train.Config{Out: t.TempDir(), Steps: 60, Seed: 1, Optim: optim.DefaultAdamW(), Schedule: optim.Schedule{Kind: "constant"}}
			tc.Optim.LR = 1e-2
			if critic == "head" {
				l.Policy = toyModel(t, model.WithValueHead())
			} else {
				l.Policy, l.Critic = toyModel(t), toyModel(t, model.WithValueHead())
				tc.Weights = &policyAndCritic{policy: l.Policy, critic: l.Critic}
			}
			a := &toy{l: l, engine: &sample.Engine{Model: l.Policy, MaxBatch: 64}}
			_, before, err := a.rollout(1000, 256)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := train.New(tc, l.Policy, a)
			if err != nil {
				t.Fatal(err)
			}
			var last map[string]float64
			for tr.StepsDone() < tc.Steps {
				if last, err = tr.Step(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			_, after, err := a.rollout(1001, 256)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("mean reward %.3f → %.3f; last step: value loss %.5f, values %.3f, returns %.3f", before, after,
				last["ppo/value_loss"], last["ppo/values_mean"], last["ppo/returns_mean"])
			if before > 0.3 || after < 0.95 {
				t.Errorf("mean reward %.3f → %.3f: want from ≤ 0.3 to ≥ 0.95", before, after)
			}
			if v := last["ppo/values_mean"]; math.Abs(v-1) > 0.1 {
				t.Errorf("the critic's mean value %.3f at the optimum, want 1 ± 0.1", v)
			}
		})
	}
}

// lengthMod3 is a test reward that varies with random completions.
type lengthMod3 struct{}

func (lengthMod3) Name() string { return "test-len3" }
func (lengthMod3) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	return reward.Score{Value: float64(len(s.Completion) % 3)}, nil
}

func init() {
	reward.Register("test-len3", func(map[string]any) (reward.Func, error) { return lengthMod3{}, nil })
}

func testConfig(t *testing.T, dir, critic string) Config {
	t.Helper()
	modelDir := filepath.Join(dir, "model")
	if _, err := os.Stat(modelDir); err != nil {
		if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i := 0; i < 12; i++ {
			fmt.Fprintf(&b, "{\"problem\": \"What is %d + %d?\", \"answer\": \"%d\"}\n", i, i+3, 2*i+3)
		}
		if err := os.WriteFile(filepath.Join(dir, "problems.jsonl"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := Default()
	c.Model, c.Out = modelDir, filepath.Join(dir, "run")
	c.Data = grpo.DataConfig{Dataset: filepath.Join(dir, "problems.jsonl"), Template: "r1-zero"}
	c.Steps, c.PromptsPerStep, c.G, c.MicroBatch = 4, 3, 2, 4
	c.Sampling.MaxNewTokens = 10
	c.Optim.LR = 1e-2
	c.Loss.NumIterations = 2
	c.PPO.Critic, c.PPO.MiniBatches = critic, 2
	c.Rewards = reward.Config{Rewards: []reward.Spec{{Name: "test-len3"}, {Name: "math"}, {Name: "format"}}}
	c.LogSamples = 2
	return c
}

func readMetrics(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if k == "time" || strings.HasPrefix(k, "time/") || k == "tokens_per_s" {
				delete(m, k)
			}
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

// A run stopped after step 2 and resumed reproduces the uninterrupted
// run's metrics, samples and weights bit for bit, with either critic; the
// metrics carry PPO's figures.
func TestResumeIsExact(t *testing.T) {
	for _, critic := range []string{"head", "separate"} {
		t.Run(critic, func(t *testing.T) {
			dir := t.TempDir()
			full := testConfig(t, dir, critic)
			full.Out = filepath.Join(dir, "full")
			tr, err := New(full, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			part := testConfig(t, dir, critic)
			part.Out, part.Steps = filepath.Join(dir, "part"), 2
			tr1, err := New(part, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			if err := tr1.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			part.Steps = 4
			tr2, err := New(part, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := tr2.Resume(); err != nil || !ok || tr2.StepsDone() != 2 {
				t.Fatalf("resume: ok %v err %v step %d", ok, err, tr2.StepsDone())
			}
			if err := tr2.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			a, b := readMetrics(t, filepath.Join(full.Out, "metrics.jsonl")), readMetrics(t, filepath.Join(part.Out, "metrics.jsonl"))
			if len(a) != 4 || len(b) != 4 {
				t.Fatalf("records: %d uninterrupted, %d resumed", len(a), len(b))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("step %d differs:\n%s\n%s", i+1, a[i], b[i])
				}
			}
			var last map[string]float64
			json.Unmarshal([]byte(a[3]), &last)
			for _, k := range []string{"ppo/value_loss", "ppo/policy_loss", "ppo/explained_variance", "ppo/approx_kl", "ppo/policy_clipfrac",
				"ppo/value_clipfrac", "kl", "entropy", "accuracy", "reward/mean", "grad_norm"} {
				if _, ok := last[k]; !ok {
					t.Errorf("metric %s missing", k)
				}
			}
			if last["grad_norm"] == 0 || last["ppo/approx_kl"] == 0 {
				t.Fatal("no update moved the policy: the test would not catch a resume bug")
			}
			files := []string{"model.safetensors", "optimizer.safetensors"}
			if critic == "separate" {
				files = append(files, "critic/model.safetensors")
			}
			for _, f := range files {
				wa, err := os.ReadFile(filepath.Join(full.Out, "checkpoints/step-4", f))
				if err != nil {
					t.Fatal(err)
				}
				wb, _ := os.ReadFile(filepath.Join(part.Out, "checkpoints/step-4", f))
				if string(wa) != string(wb) {
					t.Fatalf("%s differs between the resumed and the uninterrupted run", f)
				}
			}
		})
	}
}
