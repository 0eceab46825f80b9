package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/r1go/r1/internal/atomicfile"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/metrics"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

// Trainer runs GRPO.
type Trainer struct {
	Config Config
	Dev    tensor.Backend
	Policy *model.Model
	Ref    *model.Model // nil when beta = 0
	Tok    *tokenizer.Tokenizer
	// Progress receives one human-readable line per step (nil = silent).
	Progress io.Writer

	rows    []data.Example
	prompts [][]int32 // tokenized prompts, one per row
	texts   []string  // rendered prompts
	scorer  *reward.Scorer
	opt     *optim.AdamW
	engine  *sample.Engine
	metrics *metrics.Writer
	samples *os.File
	stopIDs []int32

	step   int // completed steps
	cursor int // prompts consumed
	start  time.Time
}

// New builds a trainer: loads the policy (and the reference model when β >
// 0), the tokenizer, the dataset (tokenizing every prompt up front so a bad
// row fails before training), and the rewards.
func New(cfg Config, dev tensor.Backend) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Config: cfg, Dev: dev}
	var err error
	if t.scorer, err = reward.NewScorer(cfg.Rewards); err != nil { // cheap checks first
		return nil, fmt.Errorf("reward: %w", err)
	}
	if t.Policy, err = model.Load(cfg.Model, dev); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if cfg.Loss.Beta > 0 {
		if t.Ref, err = model.Load(cfg.Model, dev); err != nil {
			return nil, fmt.Errorf("reference model: %w", err)
		}
	}
	if t.Tok, err = tokenizer.Load(cfg.Model); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if err := t.loadData(); err != nil {
		return nil, err
	}
	if t.opt, err = optim.NewAdamW(cfg.Optim, t.Policy.Params()); err != nil {
		return nil, err
	}
	t.stopIDs = model.StopIDs(cfg.Model, t.Policy.Config, t.Tok.EOS)
	t.engine = &sample.Engine{Model: t.Policy, MaxBatch: max(cfg.G, min(cfg.PromptsPerStep*cfg.G, 256)),
		Decode: func(ids []int32) string { return t.Tok.Decode(ids, true) }}
	return t, nil
}

// RenderPrompt builds the prompt text of a row with the named template.
func RenderPrompt(name string, in chat.PromptInput, tmpl *chat.Template) (string, error) {
	return chat.Prompt(name, in, tmpl)
}

func (t *Trainer) loadData() error {
	c := t.Config
	rows, err := LoadRows(c.Data)
	if err != nil {
		return err
	}
	var tmpl *chat.Template
	if c.Data.Template == "chat" {
		if tmpl, err = chat.FromTokenizerConfig(c.Model); err != nil {
			return fmt.Errorf("data.template chat: %w", err)
		}
	}
	limit := c.Data.MaxPromptTokens
	if ctxLimit := t.Policy.Config.MaxPositions - c.Sampling.MaxNewTokens; limit == 0 || limit > ctxLimit {
		limit = ctxLimit
	}
	if limit <= 0 {
		return fmt.Errorf("sampling.max_new_tokens (%d) leaves no room for a prompt in the model's %d positions", c.Sampling.MaxNewTokens, t.Policy.Config.MaxPositions)
	}
	for i, r := range rows {
		text, err := RenderPrompt(c.Data.Template, r.Input, tmpl)
		if err != nil {
			return fmt.Errorf("data row %d: %w", i+1, err)
		}
		ids := t.Tok.Encode(text, true)
		if len(ids) > limit {
			if c.Data.SkipLongPrompts {
				continue
			}
			return fmt.Errorf("data row %d: the prompt is %d tokens, more than the %d that fit with max_new_tokens %d in the model's context (set data.skip_long_prompts=true to drop such rows)",
				i+1, len(ids), limit, c.Sampling.MaxNewTokens)
		}
		t.rows = append(t.rows, r)
		t.prompts = append(t.prompts, ids)
		t.texts = append(t.texts, text)
	}
	if len(t.rows) == 0 {
		return fmt.Errorf("data: no usable rows")
	}
	return nil
}

// nextRows returns the next n row indices. The order is a permutation of
// the dataset per epoch, derived from (seed, epoch) alone, so the cursor is
// the whole data state a checkpoint needs.
func (t *Trainer) nextRows(n int) []int {
	out := make([]int, n)
	N := len(t.rows)
	for i := range out {
		epoch, k := t.cursor/N, t.cursor%N
		perm := rand.New(rand.NewPCG(t.Config.Seed, uint64(epoch)+1)).Perm(N)
		out[i] = perm[k]
		t.cursor++
	}
	return out
}

// rollout is one step's generated data.
type rollout struct {
	rows    []int           // dataset row per group
	samples []sample.Sample // G per group, in order
	scores  reward.Result
	total   []float64 // reward after penalties
}

func (t *Trainer) generate(ctx context.Context, rows []int, round int) (*rollout, error) {
	c := t.Config
	reqs := make([]sample.Request, len(rows))
	for i, r := range rows {
		reqs[i] = sample.Request{Prompt: t.prompts[r], N: c.G}
	}
	p := sample.Params{Temperature: c.Sampling.Temperature, TopP: c.Sampling.TopP, TopK: c.Sampling.TopK, MinP: c.Sampling.MinP,
		MaxNewTokens: c.Sampling.MaxNewTokens, StopIDs: t.stopIDs, StopStrings: c.Sampling.StopStrings, IncludeStopString: true,
		Seed: c.Seed*1_000_003 + uint64(t.step)*101 + uint64(round)}
	if p.TopP == 0 {
		p.TopP = 1
	}
	out, err := t.engine.Generate(ctx, reqs, p)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	ro := &rollout{rows: rows, samples: out}
	rs := make([]reward.Sample, len(out))
	for i, s := range out {
		r := rows[s.Request]
		rs[i] = reward.Sample{Prompt: t.texts[r], Completion: s.Text, Fields: t.rows[r].Fields,
			Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
	}
	ro.scores = t.scorer.Score(ctx, rs)
	ro.total = append([]float64(nil), ro.scores.Total...)
	if b := c.Loss.OverlongBuffer; b > 0 {
		for i, s := range out {
			ro.total[i] += OverlongPenalty(len(s.Tokens), c.Sampling.MaxNewTokens, b)
		}
	}
	return ro, nil
}

// keepInformative drops groups whose rewards are all equal (DAPO dynamic
// sampling); it returns the kept rollout.
func keepInformative(ro *rollout, g int) *rollout {
	out := &rollout{scores: reward.Result{Labels: ro.scores.Labels, Weights: ro.scores.Weights}}
	for k := range ro.rows {
		grp := ro.total[k*g : (k+1)*g]
		same := true
		for _, r := range grp {
			same = same && r == grp[0]
		}
		if same {
			continue
		}
		out.rows = append(out.rows, ro.rows[k])
		for i := k * g; i < (k+1)*g; i++ {
			s := ro.samples[i]
			s.Request = len(out.rows) - 1
			out.samples = append(out.samples, s)
			out.scores.Scores = append(out.scores.Scores, ro.scores.Scores[i])
			out.scores.Total = append(out.scores.Total, ro.scores.Total[i])
			out.total = append(out.total, ro.total[i])
		}
	}
	return out
}

func appendRollout(a, b *rollout) *rollout {
	if a == nil {
		return b
	}
	off := len(a.rows)
	a.rows = append(a.rows, b.rows...)
	for _, s := range b.samples {
		s.Request += off
		a.samples = append(a.samples, s)
	}
	a.scores.Scores = append(a.scores.Scores, b.scores.Scores...)
	a.scores.Total = append(a.scores.Total, b.scores.Total...)
	a.total = append(a.total, b.total...)
	return a
}

// ErrNonFinite stops a run whose loss or gradients became NaN/Inf; the
// weights of the failed step are not applied and the last checkpoint is
// intact, so the run can resume (e.g. with a lower learning rate).
var ErrNonFinite = errors.New("grpo: non-finite loss or gradient")

// Step runs one GRPO step and returns its metrics.
func (t *Trainer) Step(ctx context.Context) (map[string]float64, error) {
	c := t.Config
	m := map[string]float64{}
	t0 := time.Now()
	ro, err := t.generate(ctx, t.nextRows(c.PromptsPerStep), 0)
	if err != nil {
		return nil, err
	}
	logged := ro // metrics describe what the policy generated, before filtering
	if c.Loss.DynamicSampling {
		kept := keepInformative(ro, c.G)
		for round := 1; len(kept.rows) < c.PromptsPerStep && round <= c.Loss.MaxRefills; round++ {
			more, err := t.generate(ctx, t.nextRows(c.PromptsPerStep-len(kept.rows)), round)
			if err != nil {
				return nil, err
			}
			logged = appendRollout(&rollout{rows: append([]int(nil), logged.rows...), samples: append([]sample.Sample(nil), logged.samples...),
				scores: reward.Result{Labels: logged.scores.Labels, Weights: logged.scores.Weights, Scores: append([][]reward.Score(nil), logged.scores.Scores...),
					Total: append([]float64(nil), logged.scores.Total...)}, total: append([]float64(nil), logged.total...)}, more)
			kept = appendRollout(kept, keepInformative(more, c.G))
		}
		m["dynamic/kept_groups"] = float64(len(kept.rows))
		ro = kept
	}
	tGen := time.Since(t0)
	t.rolloutMetrics(logged, m)
	t1 := time.Now()
	if len(ro.rows) > 0 {
		if err := t.update(ro, m); err != nil {
			return m, err
		}
	}
	t.step++
	tTrain := time.Since(t1)
	m["time/generate_score_s"] = tGen.Seconds()
	m["time/train_s"] = tTrain.Seconds()
	var toks int
	for _, s := range logged.samples {
		toks += len(s.Tokens)
	}
	m["tokens_per_s"] = float64(toks) / (tGen + tTrain).Seconds()
	m["lr"] = c.Optim.LR * c.Schedule.Factor(t.step-1)
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

func (t *Trainer) rolloutMetrics(ro *rollout, m map[string]float64) {
	n := float64(len(ro.samples))
	if n == 0 {
		return
	}
	var sum, sq float64
	for _, r := range ro.total {
		sum += r
		sq += r * r
	}
	m["reward/mean"] = sum / n
	m["reward/std"] = math.Sqrt(math.Max(0, sq/n-(sum/n)*(sum/n)))
	for j, l := range ro.scores.Labels {
		var s, s2, errs float64
		for i := range ro.samples {
			v := ro.scores.Scores[i][j].Value
			s += v
			s2 += v * v
			if ro.scores.Scores[i][j].Err != "" {
				errs++
			}
		}
		m["reward/"+l+"/mean"] = s / n
		m["reward/"+l+"/std"] = math.Sqrt(math.Max(0, s2/n-(s/n)*(s/n)))
		m["reward/"+l+"/errors"] = errs
	}
	var lsum, trunc, refl float64
	lmin, lmax := math.Inf(1), 0.0
	for _, s := range ro.samples {
		l := float64(len(s.Tokens))
		lsum += l
		lmin = math.Min(lmin, l)
		lmax = math.Max(lmax, l)
		if s.FinishReason == "length" {
			trunc++
		}
		if HasReflection(s.Text) {
			refl++
		}
	}
	m["completion/length_mean"] = lsum / n
	m["completion/length_min"] = lmin
	m["completion/length_max"] = lmax
	m["completion/truncated_ratio"] = trunc / n
	m["completion/reflection_rate"] = refl / n
	if j := indexOf(ro.scores.Labels, t.Config.AccuracyReward); j >= 0 {
		var acc float64
		for i := range ro.samples {
			if ro.scores.Scores[i][j].Value >= 1 {
				acc++
			}
		}
		m["accuracy"] = acc / n
	}
	if j := indexOf(ro.scores.Labels, t.Config.FormatReward); j >= 0 {
		var f float64
		for i := range ro.samples {
			if ro.scores.Scores[i][j].Value >= 1 {
				f++
			}
		}
		m["format_rate"] = f / n
	}
	t.logSamples(ro)
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x && x != "" {
			return i
		}
	}
	return -1
}

func (t *Trainer) logSamples(ro *rollout) {
	if t.samples == nil || t.Config.LogSamples <= 0 {
		return
	}
	stride := max(1, len(ro.samples)/t.Config.LogSamples)
	for i := 0; i < len(ro.samples) && i/stride < t.Config.LogSamples; i += stride {
		s := ro.samples[i]
		rec := map[string]any{"step": t.step + 1, "prompt": t.texts[ro.rows[s.Request]], "completion": s.Text,
			"reward": ro.total[i], "scores": ro.scores.Row(i), "finish_reason": s.FinishReason, "tokens": len(s.Tokens)}
		b, _ := json.Marshal(rec)
		t.samples.Write(append(b, '\n'))
	}
}

// sequence is one sample prepared for the loss.
type seqData struct {
	ids       []int32 // prompt + completion
	promptLen int
	adv       float64
	weight    float64   // aggregation factor per token
	old, ref  []float64 // per completion token
}

// update computes advantages and applies μ policy-gradient updates.
func (t *Trainer) update(ro *rollout, m map[string]float64) error {
	c := t.Config
	adv, err := Advantages(ro.total, c.G, c.Loss.ScaleRewards, c.Loss.AdvEps)
	if err != nil {
		return err
	}
	var seqs []*seqData
	var lengths []int
	for i, s := range ro.samples {
		if len(s.Tokens) == 0 || (c.Loss.MaskTruncated && s.FinishReason == "length") {
			continue
		}
		p := t.prompts[ro.rows[s.Request]]
		ids := append(append([]int32(nil), p...), s.Tokens...)
		seqs = append(seqs, &seqData{ids: ids, promptLen: len(p), adv: adv[i]})
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
	// The reference (and, for μ > 1, the rollout-time policy) log-probs
	// are computed once, before any update.
	if t.Ref != nil || c.Loss.NumIterations > 1 {
		for lo := 0; lo < len(seqs); lo += c.MicroBatch {
			mb := seqs[lo:min(lo+c.MicroBatch, len(seqs))]
			if t.Ref != nil {
				lp, _, err := t.logProbs(t.Ref, mb, false)
				if err != nil {
					return err
				}
				for i, s := range mb {
					s.ref = lp[i]
				}
			}
			if c.Loss.NumIterations > 1 {
				lp, _, err := t.logProbs(t.Policy, mb, false)
				if err != nil {
					return err
				}
				for i, s := range mb {
					s.old = lp[i]
				}
			}
		}
	}
	lr := c.Optim.LR * c.Schedule.Factor(t.step)
	var loss, kl, ent, clipLo, clipHi, ntok, gnorm float64
	for it := 0; it < c.Loss.NumIterations; it++ {
		for lo := 0; lo < len(seqs); lo += c.MicroBatch {
			mb := seqs[lo:min(lo+c.MicroBatch, len(seqs))]
			tp := autograd.NewTape(t.Dev)
			b, target, pos := batchOf(mb)
			logp, entropy, err := t.Policy.TokenLogProbs(tp, b, target)
			if err != nil {
				return err
			}
			lp := t.Dev.Download(logp.Val)
			en := t.Dev.Download(entropy.Val)
			grad := make([]float32, len(lp))
			for i, s := range mb {
				for k := range pos[i] {
					at := pos[i][k]
					cur := float64(lp[at])
					if math.IsNaN(cur) || math.IsInf(cur, 0) {
						tp.Reset()
						return fmt.Errorf("%w at step %d", ErrNonFinite, t.step+1)
					}
					tok := Token{LogP: cur, OldLogP: cur, Adv: s.adv}
					if s.old != nil {
						tok.OldLogP = s.old[k]
					}
					if s.ref != nil {
						tok.RefLogP = s.ref[k]
					}
					l, g, lo, hi := TokenLoss(tok, lc)
					grad[at] = float32(g * s.weight)
					if it == 0 {
						loss += l * s.weight
						ent += float64(en[at])
						ntok++
						if s.ref != nil {
							kl += KL(cur, s.ref[k])
						}
						if lo {
							clipLo++
						}
						if hi {
							clipHi++
						}
					}
				}
			}
			tp.SetGrad(logp, grad)
			tp.Backward()
			tp.Reset() // the micro-batch's activations; the policy's gradients are kept
		}
		gn, err := t.opt.Step(lr, 1)
		if err != nil {
			return fmt.Errorf("%w at step %d: %v", ErrNonFinite, t.step+1, err)
		}
		gnorm = gn
	}
	m["loss"] = loss
	m["entropy"] = ent / ntok
	m["kl"] = kl / ntok
	m["clip/low_fraction"] = clipLo / ntok
	m["clip/high_fraction"] = clipHi / ntok
	m["grad_norm"] = gnorm
	return nil
}

// batchOf lays sequences out left-padded and returns, per sequence, the
// flat positions whose targets are completion tokens.
func batchOf(seqs []*seqData) (model.Batch, []int32, [][]int) {
	rows := make([][]int32, len(seqs))
	for i, s := range seqs {
		rows[i] = s.ids
	}
	b := model.NewBatch(rows, 0)
	target := make([]int32, b.B*b.T)
	for i := range target {
		target[i] = -1
	}
	pos := make([][]int, len(seqs))
	for i, s := range seqs {
		off := b.T - len(s.ids)
		for p := s.promptLen - 1; p+1 < len(s.ids); p++ {
			at := i*b.T + off + p
			target[at] = s.ids[p+1]
			pos[i] = append(pos[i], at)
		}
	}
	return b, target, pos
}

// logProbs returns the completion tokens' log-probs of each sequence under
// m (no gradient).
func (t *Trainer) logProbs(m *model.Model, seqs []*seqData, _ bool) ([][]float64, [][]float64, error) {
	tp := autograd.NewTape(t.Dev)
	tp.NoGrad = true
	defer tp.Reset()
	b, target, pos := batchOf(seqs)
	logp, _, err := m.TokenLogProbs(tp, b, target)
	if err != nil {
		return nil, nil, err
	}
	lp := t.Dev.Download(logp.Val)
	out := make([][]float64, len(seqs))
	for i := range seqs {
		for _, at := range pos[i] {
			out[i] = append(out[i], float64(lp[at]))
		}
	}
	return out, nil, nil
}

// refreshRef copies the policy's weights into the reference model.
func (t *Trainer) refreshRef() {
	if t.Ref == nil {
		return
	}
	pp, rp := t.Policy.Params(), t.Ref.Params()
	for i := range pp {
		t.Dev.Copy(rp[i].Var.Val, pp[i].Var.Val)
	}
}

// StepsDone is the number of completed steps.
func (t *Trainer) StepsDone() int { return t.step }

// Run trains until Config.Steps, checkpointing as configured. On ctx
// cancellation it writes a checkpoint of the last completed step and
// returns ctx's error.
func (t *Trainer) Run(ctx context.Context) error {
	c := t.Config
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	y, err := c.YAML()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(c.Out, "config.yaml"), y); err != nil {
		return err
	}
	for _, f := range []string{"metrics.jsonl", "samples.jsonl"} {
		if err := metrics.TruncateAfter(filepath.Join(c.Out, f), t.step); err != nil {
			return err
		}
	}
	if t.metrics, err = metrics.Open(c.Out); err != nil {
		return err
	}
	defer t.metrics.Close()
	if t.samples, err = os.OpenFile(filepath.Join(c.Out, "samples.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return err
	}
	defer t.samples.Close()
	t.start = time.Now()
	first := t.step
	for t.step < c.Steps {
		if err := ctx.Err(); err != nil {
			if t.step > first {
				if cerr := t.Save(); cerr != nil {
					return errors.Join(err, cerr)
				}
			}
			return err
		}
		m, err := t.Step(ctx)
		if err != nil {
			if ctx.Err() != nil && t.step > first { // interrupted mid-step: keep what completed
				if cerr := t.Save(); cerr != nil {
					return errors.Join(err, cerr)
				}
			}
			return err
		}
		if err := t.metrics.Log(t.step, m); err != nil {
			return err
		}
		t.progress(m, first)
		if c.Loss.RefRefreshEvery > 0 && t.step%c.Loss.RefRefreshEvery == 0 {
			t.refreshRef()
		}
		if (c.SaveEvery > 0 && t.step%c.SaveEvery == 0) || t.step == c.Steps {
			if err := t.Save(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Trainer) progress(m map[string]float64, first int) {
	if t.Progress == nil {
		return
	}
	el := time.Since(t.start)
	done := t.step - first
	eta := time.Duration(float64(el) / float64(done) * float64(t.Config.Steps-t.step))
	fmt.Fprintf(t.Progress, "step %d/%d  reward %.3f  acc %.3f  format %.3f  len %.0f  kl %.4f  refl %.2f  %.0f tok/s  eta %s\n",
		t.step, t.Config.Steps, m["reward/mean"], m["accuracy"], m["format_rate"], m["completion/length_mean"], m["kl"],
		m["completion/reflection_rate"], m["tokens_per_s"], eta.Round(time.Second))
}
