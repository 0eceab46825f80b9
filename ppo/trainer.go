package ppo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Trainer runs PPO: grpo.Source's prompts, rollouts and rewards, the PPO
// update of a Learner, on the shared training core (Run, Resume, Save,
// Step, StepsDone).
type Trainer struct {
	*train.Trainer
	*grpo.Source
	*Learner
	Config Config
	Dev    tensor.Backend
	Tok    *tokenizer.Tokenizer
}

// New builds a trainer: the policy (with a value head when the critic is
// the policy's head), the separate critic, the reference model (β > 0),
// the tokenizer and the data side.
func New(cfg Config, dev tensor.Backend) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Config: cfg, Dev: dev}
	l := &Learner{Options: cfg.PPO, Dev: dev, Seed: cfg.Seed, MicroBatch: cfg.MicroBatch,
		Beta: cfg.Loss.Beta, EpsLow: cfg.Loss.EpsLow, EpsHigh: cfg.Loss.EpsHigh, Epochs: cfg.Loss.NumIterations}
	var err error
	var opts []model.Option
	if cfg.PPO.Critic == "head" {
		opts = append(opts, model.WithValueHead())
	}
	if l.Policy, err = model.Load(cfg.Model, dev, opts...); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if cfg.PPO.Critic == "separate" {
		src := cfg.PPO.CriticModel
		if src == "" {
			src = cfg.Model
		}
		if l.Critic, err = model.Load(src, dev, model.WithValueHead()); err != nil {
			return nil, fmt.Errorf("ppo.critic_model: %w", err)
		}
	}
	if cfg.Loss.Beta > 0 {
		if l.Ref, err = model.Load(cfg.Model, dev); err != nil {
			return nil, fmt.Errorf("reference model: %w", err)
		}
	}
	if t.Tok, err = tokenizer.Load(cfg.Model); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.Source, err = grpo.NewSource(cfg.Config, l.Policy, t.Tok); err != nil {
		return nil, err
	}
	t.Learner = l
	tc := train.Config{Out: cfg.Out, Steps: cfg.Steps, Seed: cfg.Seed, Optim: cfg.Optim, Schedule: cfg.Schedule,
		SaveEvery: cfg.SaveEvery, KeepCheckpoints: cfg.KeepCheckpoints, TokenizerDir: cfg.Model, Resolved: &t.Config,
		Sidecars: []string{"samples.jsonl"}}
	if l.Critic != nil {
		tc.Weights = &policyAndCritic{policy: l.Policy, critic: l.Critic}
	}
	if t.Trainer, err = train.New(tc, l.Policy, t); err != nil {
		return nil, err
	}
	return t, nil
}

// TrainStep runs one PPO step: a rollout of num_generations samples for
// each of prompts_per_step prompts, rewards, and the PPO update. It
// implements train.Algorithm.
func (t *Trainer) TrainStep(ctx context.Context, u *train.Update) (map[string]float64, error) {
	c := t.Config
	step := u.Step()
	m := map[string]float64{}
	t0 := time.Now()
	ro, err := t.Source.Generate(ctx, step, t.Source.NextRows(c.PromptsPerStep), 0)
	if err != nil {
		return nil, err
	}
	tGen := time.Since(t0)
	t.Source.RolloutMetrics(ctx, step, ro, m)
	t1 := time.Now()
	var seqs []*Seq
	var toks int
	for i, s := range ro.Samples {
		toks += len(s.Tokens)
		if len(s.Tokens) == 0 || c.Loss.MaskTruncated && s.FinishReason == "length" {
			continue
		}
		p := t.Source.Prompt(ro.Rows[s.Request])
		seqs = append(seqs, &Seq{IDs: append(append([]int32(nil), p...), s.Tokens...), PromptLen: len(p), Score: ro.Total[i]})
	}
	if len(seqs) > 0 {
		if err := t.Learner.Update(u, seqs, m); err != nil {
			return m, err
		}
	}
	tTrain := time.Since(t1)
	m["time/generate_score_s"] = tGen.Seconds()
	m["time/train_s"] = tTrain.Seconds()
	m["tokens_per_s"] = float64(toks) / (tGen + tTrain).Seconds()
	return m, nil
}

// Report implements train.Reporter: the progress line's PPO figures.
func (t *Trainer) Report(m map[string]float64) string {
	return fmt.Sprintf("reward %.3f  acc %.3f  format %.3f  len %.0f  kl %.4f  vloss %.4f  ev %.2f  %.0f tok/s",
		m["reward/mean"], m["accuracy"], m["format_rate"], m["completion/length_mean"], m["kl"],
		m["ppo/value_loss"], m["ppo/explained_variance"], m["tokens_per_s"])
}

// Seq is one sample prepared for the PPO update.
type Seq struct {
	IDs       []int32 // prompt + completion
	PromptLen int
	Score     float64 // the sequence's reward, given at its last token

	old, ref, values []float64 // per completion token, at rollout time
	adv, ret         []float64 // per completion token
}

// Learner is the PPO update on a policy and a critic: given a rollout's
// scored sequences it computes the rollout-time log-probs and values, the
// per-token rewards, GAE advantages and returns, and runs Epochs passes of
// MiniBatches optimizer updates of the clipped policy and value losses.
type Learner struct {
	Options
	Dev    tensor.Backend
	Policy *model.Model // has the value head when Critic is nil
	Critic *model.Model // a separate critic, or nil
	Ref    *model.Model // nil when Beta is 0
	// Beta is the KL coefficient of the per-token reward; EpsLow, EpsHigh
	// clip the policy ratio; Epochs passes are made over each rollout.
	Beta, EpsLow, EpsHigh float64
	Epochs                int
	// MicroBatch bounds the sequences of one forward pass.
	MicroBatch int
	// Seed and the step seed the mini-batch shuffles.
	Seed uint64
}

// stats sums what the metrics report over the updates of a step.
type stats struct {
	pg, vf, ent, approxKL, clipLo, clipHi, vclip, ntok float64
}

// Update runs the PPO update of one rollout and adds its metrics to m.
func (l *Learner) Update(u *train.Update, seqs []*Seq, m map[string]float64) error {
	if err := l.prepare(seqs, m); err != nil {
		return err
	}
	n := len(seqs)
	k := min(l.MiniBatches, n)
	var st stats
	var lossSum float64
	var updates int
	for e := 0; e < l.Epochs; e++ {
		perm := rand.New(rand.NewPCG(l.Seed, uint64(u.Step())<<20|uint64(e))).Perm(n)
		for j := 0; j < k; j++ {
			// Mini-batch j of epoch e: an even share of the shuffled rollout.
			var mb []*Seq
			for _, i := range perm[j*n/k : (j+1)*n/k] {
				mb = append(mb, seqs[i])
			}
			var ntok int
			for _, s := range mb {
				ntok += len(s.adv)
			}
			w := 1 / float64(ntok) // losses are means over the mini-batch's tokens
			var micro [][]*Seq
			for a := 0; a < len(mb); a += l.MicroBatch {
				micro = append(micro, mb[a:min(a+l.MicroBatch, len(mb))])
			}
			var mst stats
			_, err := u.Update(len(micro), func(tp *autograd.Tape, i int) error {
				b, target, pos := layout(micro[i])
				logp, ent, vals, err := l.forward(tp, b, target)
				if err != nil {
					return err
				}
				gl, gv, err := l.grads(micro[i], pos, tp.Dev.Download(logp.Val), tp.Dev.Download(ent.Val), tp.Dev.Download(vals.Val), w, &mst)
				if err != nil {
					return fmt.Errorf("%w at step %d", err, u.Step()+1)
				}
				tp.SetGrad(logp, gl)
				tp.SetGrad(vals, gv)
				return nil
			})
			if err != nil {
				return err
			}
			lossSum += mst.pg + l.VFCoef*mst.vf
			updates++
			st.pg, st.vf, st.ent, st.approxKL = st.pg+mst.pg, st.vf+mst.vf, st.ent+mst.ent, st.approxKL+mst.approxKL
			st.clipLo, st.clipHi, st.vclip, st.ntok = st.clipLo+mst.clipLo, st.clipHi+mst.clipHi, st.vclip+mst.vclip, st.ntok+mst.ntok
		}
	}
	// Losses are means over updates (each a mini-batch token mean); the
	// rest are token means over every update of the step.
	m["loss"] = lossSum / float64(updates)
	m["ppo/policy_loss"] = st.pg / float64(updates)
	m["ppo/value_loss"] = st.vf / float64(updates)
	m["entropy"] = st.ent / st.ntok
	m["ppo/approx_kl"] = st.approxKL / st.ntok
	m["clip/low_fraction"] = st.clipLo / st.ntok
	m["clip/high_fraction"] = st.clipHi / st.ntok
	m["ppo/policy_clipfrac"] = (st.clipLo + st.clipHi) / st.ntok
	m["ppo/value_clipfrac"] = st.vclip / st.ntok
	return nil
}

// forward runs the policy (and the separate critic) on a batch: the
// target tokens' log-probs and entropies and the values, each (B·T).
func (l *Learner) forward(tp *autograd.Tape, b model.Batch, target []int32) (logp, ent, vals *autograd.Var, err error) {
	h, err := l.Policy.Hidden(tp, b)
	if err != nil {
		return nil, nil, nil, err
	}
	if logp, ent, err = l.Policy.TokenLogProbsOf(tp, h, target); err != nil {
		return nil, nil, nil, err
	}
	if l.Critic == nil {
		vals, err = l.Policy.ValuesOf(tp, h) // one trunk pass serves both heads
	} else {
		vals, err = l.Critic.Values(tp, b)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return logp, ent, tp.Reshape(vals, b.B*b.T), nil
}

// prepare computes, at rollout time, each sequence's log-probs, reference
// log-probs and values (no gradient), then the per-token rewards, GAE
// advantages (whitened over the batch when asked) and returns, and adds
// the rollout's value metrics to m.
func (l *Learner) prepare(seqs []*Seq, m map[string]float64) error {
	for a := 0; a < len(seqs); a += l.MicroBatch {
		mb := seqs[a:min(a+l.MicroBatch, len(seqs))]
		b, target, pos := layout(mb)
		err := noGrad(l.Policy, func(tp *autograd.Tape) error {
			logp, _, vals, err := l.forward(tp, b, target)
			if err != nil {
				return err
			}
			lp, v := tp.Dev.Download(logp.Val), tp.Dev.Download(vals.Val)
			for i, s := range mb {
				s.old, s.values = gather(lp, pos[i]), gather(v, pos[i])
			}
			return nil
		})
		if err != nil {
			return err
		}
		if l.Ref == nil {
			continue
		}
		err = noGrad(l.Ref, func(tp *autograd.Tape) error {
			logp, _, err := l.Ref.TokenLogProbs(tp, b, target)
			if err != nil {
				return err
			}
			lp := tp.Dev.Download(logp.Val)
			for i, s := range mb {
				s.ref = gather(lp, pos[i])
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var allAdv, allRet, allVal []float64
	var kl, nonScore float64
	for _, s := range seqs {
		r := TokenRewards(s.Score, s.old, s.ref, l.Beta)
		s.adv, s.ret = GAE(r, s.values, l.Gamma, l.Lambda)
		allAdv = append(allAdv, s.adv...)
		allRet = append(allRet, s.ret...)
		allVal = append(allVal, s.values...)
		for t := range r {
			if s.ref != nil {
				kl += s.old[t] - s.ref[t]
			}
		}
		nonScore -= s.Score // the KL part of the rewards
		for _, v := range r {
			nonScore += v
		}
	}
	ntok := float64(len(allAdv))
	m["kl"] = kl / ntok // per token, k1 = logp − ref, at rollout time
	m["ppo/non_score_reward"] = nonScore / float64(len(seqs))
	m["ppo/explained_variance"] = ExplainedVariance(allVal, allRet)
	m["ppo/values_mean"], m["ppo/returns_mean"] = meanOf(allVal), meanOf(allRet)
	m["ppo/advantages_mean"], m["ppo/advantages_std"] = meanOf(allAdv), math.Sqrt(variance(allAdv, nil))
	if l.WhitenAdvantages {
		w := Whiten(allAdv)
		for _, s := range seqs {
			copy(s.adv, w[:len(s.adv)])
			w = w[len(s.adv):]
		}
	}
	return nil
}

// grads is what the update feeds to backward for one micro-batch: the
// gradients of the mini-batch's PPO objective
//
//	Σ_tokens w·[ −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)A) + vf_coef·½·max((v−R)², (v_clip−R)²) ]
//
// with respect to each completion token's log-prob and value, at the flat
// positions pos of the batch's (B·T) outputs, 0 elsewhere; w is 1/(the
// mini-batch's tokens). The losses, entropy (from en), approximate KL and
// clip counts are added to st.
func (l *Learner) grads(mb []*Seq, pos [][]int, lp, en, vals []float32, w float64, st *stats) (gl, gv []float32, err error) {
	gl, gv = make([]float32, len(lp)), make([]float32, len(vals))
	lc := &grpo.LossConfig{EpsLow: l.EpsLow, EpsHigh: l.EpsHigh}
	for i, s := range mb {
		for j, at := range pos[i] {
			cur, v := float64(lp[at]), float64(vals[at])
			if math.IsNaN(cur) || math.IsInf(cur, 0) || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("%w: log-prob %v, value %v", train.ErrNonFinite, cur, v)
			}
			pl, pg, low, high := grpo.TokenLoss(grpo.Token{LogP: cur, OldLogP: s.old[j], Adv: s.adv[j]}, lc)
			vl, vg, vclip := ValueLoss(v, s.values[j], s.ret[j], l.ClipRangeValue)
			gl[at] = float32(w * pg)
			gv[at] = float32(w * l.VFCoef * vg)
			st.pg += w * pl
			st.vf += w * vl
			st.ent += float64(en[at])
			d := cur - s.old[j]
			st.approxKL += 0.5 * d * d
			st.ntok++
			if low {
				st.clipLo++
			}
			if high {
				st.clipHi++
			}
			if vclip {
				st.vclip++
			}
		}
	}
	return gl, gv, nil
}

func layout(seqs []*Seq) (model.Batch, []int32, [][]int) {
	ids := make([][]int32, len(seqs))
	pl := make([]int, len(seqs))
	for i, s := range seqs {
		ids[i], pl[i] = s.IDs, s.PromptLen
	}
	return model.LayoutPadded(ids, pl)
}

func noGrad(m *model.Model, f func(tp *autograd.Tape) error) error {
	tp := m.NewTape()
	tp.NoGrad = true
	defer tp.Reset()
	return f(tp)
}

func gather(x []float32, pos []int) []float64 {
	out := make([]float64, len(pos))
	for i, at := range pos {
		out[i] = float64(x[at])
	}
	return out
}

func meanOf(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// policyAndCritic is what a run with a separate critic trains: both
// models' weights under one optimizer; a checkpoint holds the policy as a
// Hugging Face model and the critic (with its value head) in critic/.
type policyAndCritic struct {
	policy, critic *model.Model
}

// Params are the policy's and the critic's, the critic's named critic.*
// (the optimizer state is keyed by name), less the critic's own LM head
// (unused: the optimizer would keep two moments of a V×C matrix for it).
func (p *policyAndCritic) Params() []autograd.Param {
	ps := append([]autograd.Param(nil), p.policy.Params()...)
	for _, q := range p.critic.Params() {
		if q.Name != "lm_head.weight" {
			q.Name = "critic." + q.Name
			ps = append(ps, q)
		}
	}
	return ps
}

func (p *policyAndCritic) SaveCheckpoint(dir string) error {
	if err := p.policy.Save(dir, train.CheckpointDType(p.policy.DType)); err != nil {
		return err
	}
	return p.critic.Save(filepath.Join(dir, "critic"), train.CheckpointDType(p.critic.DType))
}

func (p *policyAndCritic) LoadCheckpoint(dir string) error {
	if err := train.LoadWeights(p.policy, dir); err != nil {
		return err
	}
	return train.LoadWeights(p.critic, filepath.Join(dir, "critic"))
}
