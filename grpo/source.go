package grpo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Source is the data side every RL trainer on the core shares (GRPO and
// PPO): the prompts, rendered and tokenized once; their order; rollouts
// from the batched sampler; reward scoring; the datasets' correctness
// checks (the accuracy metric); rollout metrics and samples.jsonl. A
// trainer is a Source plus a loss.
type Source struct {
	cfg    Config
	policy *model.Model
	tok    *tokenizer.Tokenizer

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
	samples  io.Writer // samples.jsonl while the run runs
	stopIDs  []int32

	cursor int // prompts consumed
	order  *train.Order
	cur    *curriculum // nil when curriculum.kind is off
}

// NewSource builds the data side of an RL run of cfg on policy: the
// rewards, the dataset (tokenizing every prompt up front so a bad row
// fails before training), the judges and the sampler.
func NewSource(cfg Config, policy *model.Model, tok *tokenizer.Tokenizer) (*Source, error) {
	s := &Source{cfg: cfg, policy: policy, tok: tok}
	var err error
	if s.scorer, err = reward.NewScorer(cfg.Rewards); err != nil {
		return nil, fmt.Errorf("reward: %w", err)
	}
	if err := s.loadData(); err != nil {
		return nil, err
	}
	s.order = &train.Order{Seed: cfg.Seed, N: len(s.rows)}
	if cfg.Curriculum.Kind != "" {
		diff := make([]float64, len(s.rows))
		for i, r := range s.rows {
			diff[i] = r.Difficulty
		}
		if s.cur, err = newCurriculum(cfg.Curriculum, cfg.Seed, diff, cfg.Steps*cfg.PromptsPerStep); err != nil {
			return nil, err
		}
	}
	jp := judgeParams(cfg.Rewards)
	if s.judges, err = data.NewJudges(data.TasksOf(s.rows), jp); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	s.judgedBy = judgedBy(cfg.Rewards, jp)
	if cfg.Routing != nil {
		if s.routes, err = newRouter(cfg); err != nil {
			return nil, err
		}
		if err := s.routes.check(s.rows); err != nil {
			return nil, err
		}
		for task, label := range s.judgedBy {
			// A judge's reward stands in for it only where it scores
			// reasoning rows.
			if _, ok := cfg.Routing[data.KindReasoning][label]; !ok {
				delete(s.judgedBy, task)
			}
		}
	} else {
		for i, ex := range s.rows {
			if ex.Kind() == data.KindGeneral {
				return nil, fmt.Errorf("data row %d is a general prompt (\"kind\": \"general\"), which rule rewards cannot score: set reward_routing (e.g. general: {LABEL: 1} with a reward model)", i+1)
			}
		}
	}
	s.stopIDs = model.StopIDs(cfg.Model, policy.Config, tok.EOS)
	s.engine = &sample.Engine{Model: policy, MaxBatch: max(cfg.G, min(cfg.PromptsPerStep*cfg.G, 256)),
		KVCacheDType: cfg.Sampling.KVCacheDType, Decode: func(ids []int32) string { return tok.Decode(ids, true) }}
	return s, nil
}

// Prompt is the tokenized prompt of dataset row r.
func (s *Source) Prompt(r int) []int32 { return s.prompts[r] }

// NextRows returns the next n dataset rows of the run's order.
func (s *Source) NextRows(n int) []int { return s.nextRows(n) }

// Generate samples G completions for each of rows with the current policy
// and scores them; round distinguishes the sampling seeds of refills
// within a step.
func (s *Source) Generate(ctx context.Context, step int, rows []int, round int) (*Rollout, error) {
	return s.generate(ctx, step, rows, round)
}

// RolloutMetrics adds a rollout's reward, accuracy, format and length
// metrics to m and logs some of its samples.
func (s *Source) RolloutMetrics(ctx context.Context, step int, ro *Rollout, m map[string]float64) {
	s.rolloutMetrics(ctx, step, ro, m)
}

// Start opens samples.jsonl: call it from the trainer's train.Starter.
func (s *Source) Start(tr *train.Trainer) error {
	s.samples = tr.Sidecar("samples.jsonl")
	return nil
}

// sourceState is the Source's part of a checkpoint's state.json.
type sourceState struct {
	Cursor     int              `json:"cursor"`
	Curriculum *curriculumState `json:"curriculum,omitempty"`
}

// State is the data state a resumed run needs: the prompt order and the
// sampling seeds derive from (seed, cursor, step).
func (s *Source) State() any {
	st := sourceState{Cursor: s.cursor}
	if s.cur != nil {
		st.Curriculum = s.cur.state()
	}
	return st
}

// Restore sets the state from a checkpoint's stored JSON.
func (s *Source) Restore(raw json.RawMessage) error {
	if len(raw) == 0 {
		return fmt.Errorf("no data cursor in the checkpoint")
	}
	var st sourceState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	s.cursor = st.Cursor
	switch {
	case s.cur == nil && st.Curriculum != nil:
		return fmt.Errorf("the checkpoint was made with a curriculum and the config has none (curriculum.kind)")
	case s.cur != nil && st.Curriculum == nil:
		return fmt.Errorf("the config has curriculum.kind %s and the checkpoint was made without one", s.cfg.Curriculum.Kind)
	case s.cur != nil:
		return s.cur.restore(st.Curriculum)
	}
	return nil
}

func (src *Source) loadData() error {
	c := src.cfg
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
	if ctxLimit := src.policy.Config.MaxPositions - c.Sampling.MaxNewTokens; limit == 0 || limit > ctxLimit {
		limit = ctxLimit
	}
	if limit <= 0 {
		return fmt.Errorf("sampling.max_new_tokens (%d) leaves no room for a prompt in the model's %d positions", c.Sampling.MaxNewTokens, src.policy.Config.MaxPositions)
	}
	for i, r := range rows {
		text, err := RenderPrompt(c.Data.Template, r.Input, tmpl)
		if err != nil {
			return fmt.Errorf("data row %d: %w", i+1, err)
		}
		ids := src.tok.Encode(text, true)
		if len(ids) > limit {
			if c.Data.SkipLongPrompts {
				continue
			}
			return fmt.Errorf("data row %d: the prompt is %d tokens, more than the %d that fit with max_new_tokens %d in the model's context (set data.skip_long_prompts=true to drop such rows)",
				i+1, len(ids), limit, c.Sampling.MaxNewTokens)
		}
		src.rows = append(src.rows, r)
		src.prompts = append(src.prompts, ids)
		src.texts = append(src.texts, text)
	}
	if len(src.rows) == 0 {
		return fmt.Errorf("data: no usable rows")
	}
	return nil
}

// nextRows returns the next n row indices of the seeded order (the cursor
// is the whole data state a checkpoint needs).
func (src *Source) nextRows(n int) []int {
	out := make([]int, n)
	for i := range out {
		if src.cur != nil {
			out[i] = src.cur.next()
		} else {
			out[i] = src.order.At(src.cursor)
		}
		src.cursor++
	}
	return out
}

// Rollout is one step's generated data.
type Rollout struct {
	Rows    []int           // dataset row per group
	Samples []sample.Sample // G per group, in order
	Scores  reward.Result
	Total   []float64 // reward after penalties
	ScoreS  float64   // seconds spent scoring (rewards, reward models)
}

func (src *Source) generate(ctx context.Context, step int, rows []int, round int) (*Rollout, error) {
	c := src.cfg
	reqs := make([]sample.Request, len(rows))
	for i, r := range rows {
		reqs[i] = sample.Request{Prompt: src.prompts[r], N: c.G}
	}
	p := sample.Params{Temperature: c.Sampling.Temperature, TopP: c.Sampling.TopP, TopK: c.Sampling.TopK, MinP: c.Sampling.MinP,
		MaxNewTokens: c.Sampling.MaxNewTokens, StopIDs: src.stopIDs, StopStrings: c.Sampling.StopStrings, IncludeStopString: true,
		Seed: c.Seed*1_000_003 + uint64(step)*101 + uint64(round)}
	if p.TopP == 0 {
		p.TopP = 1
	}
	out, err := src.engine.Generate(ctx, reqs, p)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	ro := &Rollout{Rows: rows, Samples: out}
	rs := make([]reward.Sample, len(out))
	for i, s := range out {
		r := rows[s.Request]
		rs[i] = reward.Sample{Prompt: src.texts[r], Completion: s.Text, Fields: src.rows[r].Fields,
			Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
	}
	t0 := time.Now()
	ro.Scores = src.score(ctx, rs, src.kindsOfSamples(rows, out))
	ro.ScoreS = time.Since(t0).Seconds()
	ro.Total = append([]float64(nil), ro.Scores.Total...)
	if b := c.Loss.OverlongBuffer; b > 0 {
		for i, s := range out {
			ro.Total[i] += OverlongPenalty(len(s.Tokens), c.Sampling.MaxNewTokens, b)
		}
	}
	return ro, nil
}

// score scores samples: every reward on every sample, or with routing the
// rewards of each sample's row kind (kinds[i]).
func (src *Source) score(ctx context.Context, rs []reward.Sample, kinds []string) reward.Result {
	if src.routes == nil {
		return src.scorer.Score(ctx, rs)
	}
	return src.routes.score(ctx, rs, kinds)
}

// kindsOfSamples is the row kind of each sample (nil without routing).
func (src *Source) kindsOfSamples(rows []int, out []sample.Sample) []string {
	if src.routes == nil {
		return nil
	}
	reqOf := make([]int, len(out))
	for i, s := range out {
		reqOf[i] = rows[s.Request]
	}
	return kindsOf(src.rows, reqOf)
}

func (src *Source) rolloutMetrics(ctx context.Context, step int, ro *Rollout, m map[string]float64) {
	n := float64(len(ro.Samples))
	if n == 0 {
		return
	}
	var sum, sq float64
	for _, r := range ro.Total {
		sum += r
		sq += r * r
	}
	m["reward/mean"] = sum / n
	m["reward/std"] = math.Sqrt(math.Max(0, sq/n-(sum/n)*(sum/n)))
	var kinds []string
	if src.routes != nil {
		kinds = src.kindsOfSamples(ro.Rows, ro.Samples)
		src.kindMetrics(ro, kinds, m)
	}
	for j, l := range ro.Scores.Labels {
		var s, s2, errs, cnt, raw, nRaw float64
		for i := range ro.Samples {
			if kinds != nil && !src.routes.applies(kinds[i], j) {
				continue // with routing, a reward's figures are over the rows it scores
			}
			v := ro.Scores.Scores[i][j].Value
			s += v
			s2 += v * v
			cnt++
			if ro.Scores.Scores[i][j].Err != "" {
				errs++
			}
			if r, ok := ro.Scores.Scores[i][j].Parts[reward.RawPart]; ok {
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
	for _, s := range ro.Samples {
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
	reqOf := make([]int, len(ro.Samples))
	rs := make([]reward.Sample, len(ro.Samples))
	for i, s := range ro.Samples {
		r := ro.Rows[s.Request]
		reqOf[i] = r
		rs[i] = reward.Sample{Prompt: src.texts[r], Completion: s.Text, Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
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
	ok := src.correct(ctx, src.judges, src.rows, reqOf, rs, ro.Scores)
	if judged > 0 {
		m["accuracy"] = float64(count(ok)) / judged
	}
	if src.cur != nil {
		// Each group's pass rate is its prompt's online difficulty.
		correct, total := make([]int, len(ro.Rows)), make([]int, len(ro.Rows))
		for i, smp := range ro.Samples {
			if kinds != nil && kinds[i] != data.KindReasoning {
				continue // no judge: a general prompt has no pass rate
			}
			total[smp.Request]++
			if ok[i] {
				correct[smp.Request]++
			}
		}
		for k, r := range ro.Rows {
			if total[k] > 0 {
				src.cur.observe(r, correct[k], total[k])
			}
		}
		src.cur.metrics(m)
	}
	if j := indexOf(ro.Scores.Labels, src.cfg.FormatReward); j >= 0 && judged > 0 {
		var f float64
		for i := range ro.Samples {
			if (kinds == nil || kinds[i] == data.KindReasoning) && ro.Scores.Scores[i][j].Value >= 1 {
				f++
			}
		}
		m["format_rate"] = f / judged
	}
	src.logSamples(step, ro)
}

func (src *Source) logSamples(step int, ro *Rollout) {
	if src.samples == nil || src.cfg.LogSamples <= 0 {
		return
	}
	stride := max(1, len(ro.Samples)/src.cfg.LogSamples)
	for i := 0; i < len(ro.Samples) && i/stride < src.cfg.LogSamples; i += stride {
		s := ro.Samples[i]
		rec := map[string]any{"step": step + 1, "prompt": src.texts[ro.Rows[s.Request]], "completion": s.Text,
			"reward": ro.Total[i], "scores": ro.Scores.Row(i), "finish_reason": s.FinishReason, "tokens": len(s.Tokens)}
		if src.routes != nil {
			kind := src.rows[ro.Rows[s.Request]].Kind()
			sc := ro.Scores.Row(i)
			for j, l := range ro.Scores.Labels {
				if !src.routes.applies(kind, j) {
					delete(sc, l)
				}
			}
			rec["kind"], rec["scores"] = kind, sc
		}
		b, _ := json.Marshal(rec)
		src.samples.Write(append(b, '\n'))
	}
}
