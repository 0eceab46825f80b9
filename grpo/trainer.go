package grpo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Trainer runs GRPO: it is the algorithm (prompts, rollouts, rewards, the
// GRPO loss) on the shared training core, which it embeds (Run, Resume,
// Save, Step, StepsDone).
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

	rows    []data.Example
	prompts [][]int32 // tokenized prompts, one per row
	texts   []string  // rendered prompts
	scorer  *reward.Scorer
	routes  *router     // per-kind rewards (Config.Routing); nil: scorer scores every row
	judges  data.Judges // the datasets' correctness checks: the accuracy metric
	// judgedBy names, per task, the run's reward label whose score is the
	// task's judge verdict (value ≥ 1), so it is not computed twice.
	judgedBy map[data.Task]string
	engine   *sample.Engine
	samples  io.Writer // samples.jsonl while Run runs
	stopIDs  []int32

	cursor int // prompts consumed
	order  *train.Order
}

// algoState is the GRPO part of a checkpoint's state.json.
type algoState struct {
	Cursor int `json:"cursor"`
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
	if t.scorer, err = reward.NewScorer(cfg.Rewards); err != nil { // cheap checks first
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
	if err := t.loadData(); err != nil {
		return nil, err
	}
	t.order = &train.Order{Seed: cfg.Seed, N: len(t.rows)}
	jp := judgeParams(cfg.Rewards)
	if t.judges, err = data.NewJudges(data.TasksOf(t.rows), jp); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	t.judgedBy = judgedBy(cfg.Rewards, jp)
	if cfg.Routing != nil {
		if t.routes, err = newRouter(cfg); err != nil {
			return nil, err
		}
		if err := t.routes.check(t.rows); err != nil {
			return nil, err
		}
		for task, label := range t.judgedBy {
			// A judge's reward stands in for it only where it scores
			// reasoning rows.
			if _, ok := cfg.Routing[data.KindReasoning][label]; !ok {
				delete(t.judgedBy, task)
			}
		}
	} else {
		for i, ex := range t.rows {
			if ex.Kind() == data.KindGeneral {
				return nil, fmt.Errorf("data row %d is a general prompt (\"kind\": \"general\"), which rule rewards cannot score: set reward_routing (e.g. general: {LABEL: 1} with a reward model)", i+1)
			}
		}
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

// nextRows returns the next n row indices of the seeded order (the cursor
// is the whole data state a checkpoint needs).
func (t *Trainer) nextRows(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = t.order.At(t.cursor)
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
	scoreS  float64   // seconds spent scoring (rewards, reward models)
}

func (t *Trainer) generate(ctx context.Context, step int, rows []int, round int) (*rollout, error) {
	c := t.Config
	reqs := make([]sample.Request, len(rows))
	for i, r := range rows {
		reqs[i] = sample.Request{Prompt: t.prompts[r], N: c.G}
	}
	p := sample.Params{Temperature: c.Sampling.Temperature, TopP: c.Sampling.TopP, TopK: c.Sampling.TopK, MinP: c.Sampling.MinP,
		MaxNewTokens: c.Sampling.MaxNewTokens, StopIDs: t.stopIDs, StopStrings: c.Sampling.StopStrings, IncludeStopString: true,
		Seed: c.Seed*1_000_003 + uint64(step)*101 + uint64(round)}
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
	t0 := time.Now()
	ro.scores = t.score(ctx, rs, t.kindsOfSamples(rows, out))
	ro.scoreS = time.Since(t0).Seconds()
	ro.total = append([]float64(nil), ro.scores.Total...)
	if b := c.Loss.OverlongBuffer; b > 0 {
		for i, s := range out {
			ro.total[i] += OverlongPenalty(len(s.Tokens), c.Sampling.MaxNewTokens, b)
		}
	}
	return ro, nil
}

// score scores samples: every reward on every sample, or with routing the
// rewards of each sample's row kind (kinds[i]).
func (t *Trainer) score(ctx context.Context, rs []reward.Sample, kinds []string) reward.Result {
	if t.routes == nil {
		return t.scorer.Score(ctx, rs)
	}
	return t.routes.score(ctx, rs, kinds)
}

// kindsOfSamples is the row kind of each sample (nil without routing).
func (t *Trainer) kindsOfSamples(rows []int, out []sample.Sample) []string {
	if t.routes == nil {
		return nil
	}
	reqOf := make([]int, len(out))
	for i, s := range out {
		reqOf[i] = rows[s.Request]
	}
	return kindsOf(t.rows, reqOf)
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
	a.scoreS += b.scoreS
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
		for round := 1; len(kept.rows) < c.PromptsPerStep && round <= c.Loss.MaxRefills; round++ {
			more, err := t.generate(ctx, step, t.nextRows(c.PromptsPerStep-len(kept.rows)), round)
			if err != nil {
				return nil, err
			}
			logged = appendRollout(&rollout{rows: append([]int(nil), logged.rows...), samples: append([]sample.Sample(nil), logged.samples...),
				scores: reward.Result{Labels: logged.scores.Labels, Weights: logged.scores.Weights, Scores: append([][]reward.Score(nil), logged.scores.Scores...),
					Total: append([]float64(nil), logged.scores.Total...)}, total: append([]float64(nil), logged.total...), scoreS: logged.scoreS}, more)
			kept = appendRollout(kept, keepInformative(more, c.G))
		}
		m["dynamic/kept_groups"] = float64(len(kept.rows))
		ro = kept
	}
	tGen := time.Since(t0)
	t.rolloutMetrics(ctx, step, logged, m)
	t1 := time.Now()
	if len(ro.rows) > 0 {
		if err := t.update(u, ro, m); err != nil {
			return m, err
		}
	}
	tTrain := time.Since(t1)
	m["time/generate_score_s"] = tGen.Seconds()
	m["time/score_s"] = logged.scoreS
	m["time/train_s"] = tTrain.Seconds()
	var toks int
	for _, s := range logged.samples {
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

func (t *Trainer) rolloutMetrics(ctx context.Context, step int, ro *rollout, m map[string]float64) {
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
	var kinds []string
	if t.routes != nil {
		kinds = t.kindsOfSamples(ro.rows, ro.samples)
		t.kindMetrics(ro, kinds, m)
	}
	for j, l := range ro.scores.Labels {
		var s, s2, errs, cnt, raw, nRaw float64
		for i := range ro.samples {
			if kinds != nil && !t.routes.applies(kinds[i], j) {
				continue // with routing, a reward's figures are over the rows it scores
			}
			v := ro.scores.Scores[i][j].Value
			s += v
			s2 += v * v
			cnt++
			if ro.scores.Scores[i][j].Err != "" {
				errs++
			}
			if r, ok := ro.scores.Scores[i][j].Parts[reward.RawPart]; ok {
				raw += r
				nRaw++
			}
		}
		if cnt == 0 {
			continue
		}
		if nRaw > 0 {
			m["reward/"+l+"/raw_mean"] = raw / nRaw
		}
		m["reward/"+l+"/mean"] = s / cnt
		m["reward/"+l+"/std"] = math.Sqrt(math.Max(0, s2/cnt-(s/cnt)*(s/cnt)))
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
	reqOf := make([]int, len(ro.samples))
	rs := make([]reward.Sample, len(ro.samples))
	for i, s := range ro.samples {
		r := ro.rows[s.Request]
		reqOf[i] = r
		rs[i] = reward.Sample{Prompt: t.texts[r], Completion: s.Text, Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
	}
	// Accuracy and the format rate are over the samples of reasoning rows
	// (all of them unless the data has general rows).
	judged := n
	if kinds != nil {
		judged = 0
		for _, k := range kinds {
			if k == data.KindReasoning {
				judged++
			}
		}
	}
	if judged > 0 {
		m["accuracy"] = float64(t.correct(ctx, t.judges, t.rows, reqOf, rs, ro.scores)) / judged
	}
	if j := indexOf(ro.scores.Labels, t.Config.FormatReward); j >= 0 && judged > 0 {
		var f float64
		for i := range ro.samples {
			if (kinds == nil || kinds[i] == data.KindReasoning) && ro.scores.Scores[i][j].Value >= 1 {
				f++
			}
		}
		m["format_rate"] = f / judged
	}
	t.logSamples(step, ro)
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x && x != "" {
			return i
		}
	}
	return -1
}

func (t *Trainer) logSamples(step int, ro *rollout) {
	if t.samples == nil || t.Config.LogSamples <= 0 {
		return
	}
	stride := max(1, len(ro.samples)/t.Config.LogSamples)
	for i := 0; i < len(ro.samples) && i/stride < t.Config.LogSamples; i += stride {
		s := ro.samples[i]
		rec := map[string]any{"step": step + 1, "prompt": t.texts[ro.rows[s.Request]], "completion": s.Text,
			"reward": ro.total[i], "scores": ro.scores.Row(i), "finish_reason": s.FinishReason, "tokens": len(s.Tokens)}
		if t.routes != nil {
			kind := t.rows[ro.rows[s.Request]].Kind()
			sc := ro.scores.Row(i)
			for j, l := range ro.scores.Labels {
				if !t.routes.applies(kind, j) {
					delete(sc, l)
				}
			}
			rec["kind"], rec["scores"] = kind, sc
		}
		b, _ := json.Marshal(rec)
		t.samples.Write(append(b, '\n'))
	}
}

// seqData is one sample prepared for the loss.
type seqData struct {
	ids       []int32 // prompt + completion
	promptLen int
	adv       float64
	weight    float64   // aggregation factor per token
	old, ref  []float64 // per completion token
}

// update computes advantages and applies μ policy-gradient updates, each
// accumulated over micro-batches of at most MicroBatch sequences.
func (t *Trainer) update(u *train.Update, ro *rollout, m map[string]float64) error {
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
			b, target, pos := batchOf(mb)
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
// m, without recording a gradient.
func (t *Trainer) logProbs(m *model.Model, seqs []*seqData) ([][]float64, error) {
	tp := m.NewTape()
	tp.NoGrad = true
	defer tp.Reset()
	b, target, pos := batchOf(seqs)
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

// Start implements train.Starter: samples.jsonl is open from here on.
func (t *Trainer) Start(tr *train.Trainer) error {
	t.samples = tr.Sidecar("samples.jsonl")
	return nil
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

// State implements train.Algorithm: the data cursor is all a resumed run
// needs besides weights and optimizer, since the prompt order and the
// sampling seeds derive from (seed, cursor, step).
func (t *Trainer) State() any { return algoState{Cursor: t.cursor} }

// Restore implements train.Algorithm.
func (t *Trainer) Restore(raw json.RawMessage) error {
	if len(raw) == 0 {
		return fmt.Errorf("no GRPO state (data cursor) in the checkpoint")
	}
	var st algoState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	t.cursor = st.Cursor
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
