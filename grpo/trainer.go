package grpo

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Trainer runs GRPO: it is the algorithm — a Source (prompts, rollouts,
// rewards) and the GRPO loss — on the shared training core, which it
// embeds (Run, Resume, Save, Step, StepsDone).
type Trainer struct {
	*train.Trainer
	Config Config
	Dev    tensor.Backend
	Policy *model.Model
	Ref    *model.Model // nil when beta = 0, or with LoRA (the reference is then Policy with Adapter disabled)
	// Adapter is the LoRA adapter trained on the frozen Policy (lora.r >
	// 0), else nil.
	Adapter *model.Adapter
	Tok     *tokenizer.Tokenizer

	// Source is the data side: prompts, rollouts, rewards, rollout
	// metrics (shared with PPO).
	*Source
}

// New builds a trainer: loads the policy (and the reference model when β >
// 0 without LoRA), the tokenizer, the dataset (tokenizing every prompt up
// front so a bad row fails before training), and the rewards.
func New(cfg Config, dev tensor.Backend) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Config: cfg, Dev: dev}
	var err error
	if _, err = reward.NewScorer(cfg.Rewards); err != nil { // cheap checks first
		return nil, fmt.Errorf("reward: %w", err)
	}
	if t.Policy, err = model.Load(cfg.Model, dev); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	t.Policy.GradientCheckpointing = cfg.GradientCheckpointing
	if cfg.LoRA.Enabled() {
		if t.Adapter, err = t.Policy.AddLoRA(cfg.LoRA, cfg.Seed); err != nil {
			return nil, err
		}
		t.Adapter.BaseModel = cfg.Model
	} else if cfg.Loss.Beta > 0 {
		if t.Ref, err = model.Load(cfg.Model, dev); err != nil {
			return nil, fmt.Errorf("reference model: %w", err)
		}
	}
	if t.Tok, err = tokenizer.Load(cfg.Model); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.Source, err = NewSource(cfg, t.Policy, t.Tok); err != nil {
		return nil, err
	}
	tc := train.Config{Out: cfg.Out, Steps: cfg.Steps, Seed: cfg.Seed, Optim: cfg.Optim, Schedule: cfg.Schedule,
		SaveEvery: cfg.SaveEvery, KeepCheckpoints: cfg.KeepCheckpoints, TokenizerDir: cfg.Model, Resolved: &t.Config,
		Sidecars: []string{"samples.jsonl"}}
	if t.Adapter != nil {
		tc.Weights = t.Adapter // the core trains and checkpoints the adapter only
	}
	if t.Trainer, err = train.New(tc, t.Policy, t); err != nil {
		return nil, err
	}
	return t, nil
}

// RenderPrompt builds the prompt text of a row with the named template.
func RenderPrompt(name string, in chat.PromptInput, tmpl *chat.Template) (string, error) {
	return chat.Prompt(name, in, tmpl)
}

// keepInformative drops groups whose rewards are all equal (DAPO dynamic
// sampling); it returns the kept rollout.
func keepInformative(ro *Rollout, g int) *Rollout {
	out := &Rollout{Scores: reward.Result{Labels: ro.Scores.Labels, Weights: ro.Scores.Weights}}
	for k := range ro.Rows {
		grp := ro.Total[k*g : (k+1)*g]
		same := true
		for _, r := range grp {
			same = same && r == grp[0]
		}
		if same {
			continue
		}
		out.Rows = append(out.Rows, ro.Rows[k])
		for i := k * g; i < (k+1)*g; i++ {
			s := ro.Samples[i]
			s.Request = len(out.Rows) - 1
			out.Samples = append(out.Samples, s)
			out.Scores.Scores = append(out.Scores.Scores, ro.Scores.Scores[i])
			out.Scores.Total = append(out.Scores.Total, ro.Scores.Total[i])
			out.Total = append(out.Total, ro.Total[i])
		}
	}
	return out
}

func appendRollout(a, b *Rollout) *Rollout {
	if a == nil {
		return b
	}
	off := len(a.Rows)
	a.Rows = append(a.Rows, b.Rows...)
	for _, s := range b.Samples {
		s.Request += off
		a.Samples = append(a.Samples, s)
	}
	a.Scores.Scores = append(a.Scores.Scores, b.Scores.Scores...)
	a.Scores.Total = append(a.Scores.Total, b.Scores.Total...)
	a.Total = append(a.Total, b.Total...)
	a.ScoreS += b.ScoreS
	return a
}

// TrainStep runs one GRPO step: a rollout of G samples for each of
// PromptsPerStep prompts (refilled under dynamic sampling), rewards,
// group-relative advantages and μ policy updates. It implements
// train.Algorithm.
func (t *Trainer) TrainStep(ctx context.Context, u *train.Update) (map[string]float64, error) {
	c := t.Config
	step := u.Step()
	m := map[string]float64{}
	t0 := time.Now()
	ro, err := t.generate(ctx, step, t.nextRows(c.PromptsPerStep), 0)
	if err != nil {
		return nil, err
	}
	logged := ro // metrics describe what the policy generated, before filtering
	if c.Loss.DynamicSampling {
		kept := keepInformative(ro, c.G)
		for round := 1; len(kept.Rows) < c.PromptsPerStep && round <= c.Loss.MaxRefills; round++ {
			more, err := t.generate(ctx, step, t.nextRows(c.PromptsPerStep-len(kept.Rows)), round)
			if err != nil {
				return nil, err
			}
			logged = appendRollout(&Rollout{Rows: append([]int(nil), logged.Rows...), Samples: append([]sample.Sample(nil), logged.Samples...),
				Scores: reward.Result{Labels: logged.Scores.Labels, Weights: logged.Scores.Weights, Scores: append([][]reward.Score(nil), logged.Scores.Scores...),
					Total: append([]float64(nil), logged.Scores.Total...)}, Total: append([]float64(nil), logged.Total...), ScoreS: logged.ScoreS}, more)
			kept = appendRollout(kept, keepInformative(more, c.G))
		}
		m["dynamic/kept_groups"] = float64(len(kept.Rows))
		ro = kept
	}
	tGen := time.Since(t0)
	t.rolloutMetrics(ctx, step, logged, m)
	t1 := time.Now()
	if len(ro.Rows) > 0 {
		if err := t.update(u, ro, m); err != nil {
			return m, err
		}
	}
	tTrain := time.Since(t1)
	m["time/generate_score_s"] = tGen.Seconds()
	m["time/score_s"] = logged.ScoreS
	m["time/train_s"] = tTrain.Seconds()
	var toks int
	for _, s := range logged.Samples {
		toks += len(s.Tokens)
	}
	m["tokens_per_s"] = float64(toks) / (tGen + tTrain).Seconds()
	return m, nil
}

// Reflection words: the "aha moment" vocabulary the R1 paper watched grow.
var reflectionWords = []string{"wait", "aha", "let me check", "let me verify", "re-evaluate", "reevaluate", "double-check", "double check", "recheck", "hmm", "actually"}

// HasReflection reports whether a completion contains reflection words.
func HasReflection(text string) bool {
	l := strings.ToLower(text)
	for _, w := range reflectionWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x && x != "" {
			return i
		}
	}
	return -1
}

// seqData is one sample prepared for the loss.
type seqData struct {
	ids       []int32 // prompt + completion
	promptLen int
	group     int // the rollout request: the samples of one prompt share it
	adv       float64
	weight    float64   // aggregation factor per token
	old, ref  []float64 // per completion token
}

// update computes advantages and applies μ policy-gradient updates, each
// accumulated over micro-batches of at most MicroBatch sequences.
func (t *Trainer) update(u *train.Update, ro *Rollout, m map[string]float64) error {
	c := t.Config
	adv, err := Advantages(ro.Total, c.G, c.Loss.ScaleRewards, c.Loss.AdvEps)
	if err != nil {
		return err
	}
	var seqs []*seqData
	var lengths []int
	for i, s := range ro.Samples {
		if len(s.Tokens) == 0 || (c.Loss.MaskTruncated && s.FinishReason == "length") {
			continue
		}
		p := t.prompts[ro.Rows[s.Request]]
		ids := append(append([]int32(nil), p...), s.Tokens...)
		seqs = append(seqs, &seqData{ids: ids, promptLen: len(p), group: s.Request, adv: adv[i]})
		lengths = append(lengths, len(s.Tokens))
	}
	if len(seqs) == 0 {
		return nil
	}
	lc := &LossConfig{EpsLow: c.Loss.EpsLow, EpsHigh: c.Loss.EpsHigh, Beta: c.Loss.Beta, Aggregation: c.Loss.Aggregation, MaxLen: c.Sampling.MaxNewTokens}
	w, err := Weights(lengths, lc)
	if err != nil {
		return err
	}
	for i, s := range seqs {
		s.weight = w[i]
	}
	if t.sharePrompts() {
		// One row per prompt (model.LayoutShared): the samples of a prompt go
		// into the same micro-batches, so that its copy serves as many
		// of them as fit.
		slices.SortStableFunc(seqs, func(a, b *seqData) int { return a.group - b.group })
	} else {
		// Micro-batches of sequences of similar lengths: a batch is
		// padded to its longest row, so grouping the short completions
		// together (not each group's 16 samples with its longest) cuts
		// the padded positions every forward and backward computes —
		// about 40% of the update's work in tiny-zero, whose
		// completions run from 12 to 160 tokens. The gradient is the
		// same sum over sequences in another order.
		slices.SortStableFunc(seqs, func(a, b *seqData) int { return len(a.ids) - len(b.ids) })
	}
	micro := make([][]*seqData, 0, (len(seqs)+c.MicroBatch-1)/c.MicroBatch)
	for start := 0; start < len(seqs); start += c.MicroBatch {
		micro = append(micro, seqs[start:min(start+c.MicroBatch, len(seqs))])
	}
	// The reference (and, for μ > 1, the rollout-time policy) log-probs
	// are computed once, before any update.
	for _, mb := range micro {
		if t.Ref != nil || t.Adapter != nil && c.Loss.Beta > 0 {
			lp, err := t.refLogProbs(mb)
			if err != nil {
				return err
			}
			for i, s := range mb {
				s.ref = lp[i]
			}
		}
		if c.Loss.NumIterations > 1 {
			lp, err := t.logProbs(t.Policy, mb)
			if err != nil {
				return err
			}
			for i, s := range mb {
				s.old = lp[i]
			}
		}
	}
	stats := make([]lossStats, c.Loss.NumIterations)
	for it := 0; it < c.Loss.NumIterations; it++ {
		_, err := u.Update(len(micro), func(tp *autograd.Tape, k int) error {
			mb := micro[k]
			b, target, pos := t.batchOf(mb)
			logp, entropy, err := t.Policy.TokenLogProbs(tp, b, target)
			if err != nil {
				return err
			}
			grad, err := policyGrad(mb, pos, t.Dev.Download(logp.Val), t.Dev.Download(entropy.Val), lc, &stats[it])
			if err != nil {
				return fmt.Errorf("%w at step %d", err, u.Step()+1)
			}
			tp.SetGrad(logp, grad)
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Loss, entropy and KL describe the policy that generated the rollout
	// (the first iteration). The clip fractions count every iteration: at
	// the first the ratio is exactly 1, so with μ > 1 only the later ones
	// can clip, and counting the first alone always reported 0.
	first := stats[0]
	m["loss"] = first.loss
	m["entropy"] = first.ent / first.ntok
	m["kl"] = first.kl / first.ntok
	var clipLo, clipHi, ntok float64
	for _, st := range stats {
		clipLo, clipHi, ntok = clipLo+st.clipLo, clipHi+st.clipHi, ntok+st.ntok
	}
	m["clip/low_fraction"] = clipLo / ntok
	m["clip/high_fraction"] = clipHi / ntok
	return nil
}

// lossStats sums what the metrics report over a rollout's tokens.
type lossStats struct {
	loss, kl, ent, clipLo, clipHi, ntok float64
}

// policyGrad is what the update feeds to backward for one micro-batch: the
// gradient of the GRPO objective Σ_i w_i Σ_t ℓ(logp_it) (TokenLoss,
// aggregated with the weights of Weights) with respect to each completion
// token's log-prob, at the flat positions pos of the batch's (B·T)
// log-probs lp, and 0 at every other position. When st is not nil the
// loss, entropy (from en), KL and clip counts are added to it.
func policyGrad(mb []*seqData, pos [][]int, lp, en []float32, lc *LossConfig, st *lossStats) ([]float32, error) {
	grad := make([]float32, len(lp))
	for i, s := range mb {
		for j, at := range pos[i] {
			cur := float64(lp[at])
			if math.IsNaN(cur) || math.IsInf(cur, 0) {
				return nil, fmt.Errorf("%w: log-prob %v", train.ErrNonFinite, cur)
			}
			tok := Token{LogP: cur, OldLogP: cur, Adv: s.adv}
			if s.old != nil {
				tok.OldLogP = s.old[j]
			}
			if s.ref != nil {
				tok.RefLogP = s.ref[j]
			}
			l, g, low, high := TokenLoss(tok, lc)
			grad[at] = float32(g * s.weight)
			if st == nil {
				continue
			}
			st.loss += l * s.weight
			st.ent += float64(en[at])
			st.ntok++
			if s.ref != nil {
				st.kl += KL(cur, s.ref[j])
			}
			if low {
				st.clipLo++
			}
			if high {
				st.clipHi++
			}
		}
	}
	return grad, nil
}

// sharePrompts reports whether micro-batches use LayoutShared: asked for,
// and on a backend whose attention takes shared-prefix masks.
func (t *Trainer) sharePrompts() bool {
	return t.Config.SharePrompts && tensor.SegmentMasks(t.Dev)
}

// batchOf lays sequences out (model.LayoutShared or LayoutPadded) and returns,
// per sequence, the flat positions whose targets are completion tokens.
func (t *Trainer) batchOf(seqs []*seqData) (model.Batch, []int32, [][]int) {
	if t.sharePrompts() {
		return model.LayoutShared(seqIDs(seqs))
	}
	return model.LayoutPadded(seqIDs(seqs))
}

func seqIDs(seqs []*seqData) ([][]int32, []int) {
	ids := make([][]int32, len(seqs))
	promptLen := make([]int, len(seqs))
	for i, s := range seqs {
		ids[i], promptLen[i] = s.ids, s.promptLen
	}
	return ids, promptLen
}

// logProbs returns the completion tokens' log-probs of each sequence under
// m, without recording a gradient.
func (t *Trainer) logProbs(m *model.Model, seqs []*seqData) ([][]float64, error) {
	tp := m.NewTape()
	tp.NoGrad = true
	defer tp.Reset()
	b, target, pos := t.batchOf(seqs)
	logp, _, err := m.TokenLogProbs(tp, b, target)
	if err != nil {
		return nil, err
	}
	lp := t.Dev.Download(logp.Val)
	out := make([][]float64, len(seqs))
	for i := range seqs {
		for _, at := range pos[i] {
			out[i] = append(out[i], float64(lp[at]))
		}
	}
	return out, nil
}

// refLogProbs are the reference policy's log-probs: the reference model's,
// or with LoRA the policy's with the adapter switched off (the frozen base).
func (t *Trainer) refLogProbs(seqs []*seqData) ([][]float64, error) {
	if t.Ref != nil {
		return t.logProbs(t.Ref, seqs)
	}
	t.Adapter.Disabled = true
	defer func() { t.Adapter.Disabled = false }()
	return t.logProbs(t.Policy, seqs)
}

// AfterStep implements train.AfterStepper: every RefRefreshEvery steps the
// policy's weights are copied into the reference model.
func (t *Trainer) AfterStep(step int) error {
	if every := t.Config.Loss.RefRefreshEvery; t.Ref != nil && every > 0 && step%every == 0 {
		pp, rp := t.Policy.Params(), t.Ref.Params()
		for i := range pp {
			t.Dev.Copy(rp[i].Var.Val, pp[i].Var.Val)
		}
	}
	return nil
}

// SaveExtras implements train.Extras: a reference model that has been
// refreshed differs from the initial weights and is saved with the policy.
func (t *Trainer) SaveExtras(dir string) error {
	if t.Ref != nil && t.Config.Loss.RefRefreshEvery > 0 {
		return t.Ref.Save(filepath.Join(dir, "ref"), tensor.F32)
	}
	return nil
}

// LoadExtras implements train.Extras.
func (t *Trainer) LoadExtras(dir string) error {
	refDir := filepath.Join(dir, "ref")
	if t.Ref == nil {
		return nil
	}
	if _, err := os.Stat(refDir); err != nil {
		return nil
	}
	return train.LoadWeights(t.Ref, refDir)
}

// Report implements train.Reporter: the progress line's GRPO figures.
func (t *Trainer) Report(m map[string]float64) string {
	return fmt.Sprintf("reward %.3f  acc %.3f  format %.3f  len %.0f  kl %.4f  refl %.2f  %.0f tok/s",
		m["reward/mean"], m["accuracy"], m["format_rate"], m["completion/length_mean"], m["kl"],
		m["completion/reflection_rate"], m["tokens_per_s"])
}
