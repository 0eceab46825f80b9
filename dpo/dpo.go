package dpo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/rm"
	"github.com/r1go/r1/sft"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Config is a DPO run. Keys shared with `r1 sft` and `r1 rm train` mean
// the same thing; the loss keys follow TRL's DPOConfig.
type Config struct {
	// Model is the Hugging Face checkpoint of the policy, which is also
	// the reference.
	Model string `yaml:"model"`
	// Data is a file of preference pairs (data.PairFormats), the same
	// formats as the reward-model trainer.
	Data   string `yaml:"data"`
	Device string `yaml:"device"`
	Out    string `yaml:"out"`
	Seed   uint64 `yaml:"seed"`
	Epochs int    `yaml:"epochs"`
	// Steps, when > 0, overrides Epochs.
	Steps int `yaml:"steps"`
	// MaxSeqLen bounds prompt + response: the prompt loses tokens from its
	// start first (down to half of MaxSeqLen), then the response from its
	// end. 0 = the model's context.
	MaxSeqLen int `yaml:"max_seq_len"`
	// MicroBatch pairs per forward/backward pass; Accumulation
	// micro-batches per optimizer step.
	MicroBatch   int `yaml:"micro_batch"`
	Accumulation int `yaml:"gradient_accumulation_steps"`
	// SharePrompts stores each pair's prompt once, with the chosen and the
	// rejected response as two segments after it that both attend to it
	// (model.LayoutShared), instead of a left-padded row per response: the
	// prompt's forward and backward run once per pair instead of twice.
	// The same log-probs and gradients up to float rounding. Used where
	// the attention takes segment masks (the CPU); default true.
	SharePrompts bool `yaml:"share_prompts"`
	// EvalFraction of the pairs are held out (eval/* metrics every
	// EvalEvery steps and at the end).
	EvalFraction float64 `yaml:"eval_fraction"`
	EvalEvery    int     `yaml:"eval_every"`
	SkipBadRows  bool    `yaml:"skip_bad_rows"`

	Loss LossConfig `yaml:"loss"`

	Optim    optim.AdamWConfig `yaml:"optimizer"`
	Schedule optim.Schedule    `yaml:"schedule"`
	// LoRA, when lora.r > 0, trains an adapter; the reference is then the
	// base with the adapter switched off, as in r1 grpo.
	LoRA model.LoRAConfig `yaml:"lora"`

	SaveEvery       int `yaml:"save_every"`
	KeepCheckpoints int `yaml:"keep_checkpoints"`
	LogEvery        int `yaml:"log_every"`
}

// Default is TRL's DPOConfig (sigmoid loss, β 0.1, lr 1e-6, linear decay,
// 1 epoch... TRL trains 3; DPO overfits preference data quickly, so 1
// here) with CPU-sized micro-batches.
func Default() Config {
	adam := optim.DefaultAdamW()
	adam.LR, adam.WeightDecay = 1e-6, 0
	return Config{Device: "cpu", Out: "runs/dpo", Seed: 1, Epochs: 1, MicroBatch: 4, Accumulation: 1, SharePrompts: true, EvalFraction: 0.1,
		Loss:  LossConfig{Type: Sigmoid, Beta: 0.1, SimPOGamma: 0.5},
		Optim: adam, Schedule: optim.Schedule{Kind: "linear"}, LogEvery: 10, LoRA: model.DefaultLoRA()}
}

// Validate checks the config and names the offending key.
func (c *Config) Validate() error {
	switch {
	case c.Model == "":
		return fmt.Errorf("model: a Hugging Face checkpoint directory is required")
	case c.Data == "":
		return fmt.Errorf("data: a file of preference pairs is required (%s)", data.PairFormats)
	case c.Out == "":
		return fmt.Errorf("out: a run directory is required")
	case c.Epochs <= 0 && c.Steps <= 0:
		return fmt.Errorf("epochs: must be > 0 (or set steps), got %d", c.Epochs)
	case c.Steps < 0 || c.MaxSeqLen < 0:
		return fmt.Errorf("steps and max_seq_len: must be ≥ 0, got %d and %d", c.Steps, c.MaxSeqLen)
	case c.MicroBatch <= 0 || c.Accumulation <= 0:
		return fmt.Errorf("micro_batch and gradient_accumulation_steps: must be > 0, got %d and %d", c.MicroBatch, c.Accumulation)
	case !(c.EvalFraction >= 0 && c.EvalFraction < 1):
		return fmt.Errorf("eval_fraction: must be in [0, 1), got %g", c.EvalFraction)
	case c.EvalEvery < 0:
		return fmt.Errorf("eval_every: must be ≥ 0, got %d", c.EvalEvery)
	}
	if err := c.Loss.Validate(); err != nil {
		return fmt.Errorf("loss.%w", err)
	}
	if err := c.Optim.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	return c.LoRA.Validate()
}

// TokPair is a tokenized pair: the prompt's ids, each response's ids, and
// the reference's log-probs of the responses (cached before training).
type TokPair struct {
	Prompt, Chosen, Rejected []int32
	RefChosen, RefRejected   float64
}

// Trainer is DPO on the training core.
type Trainer struct {
	*train.Trainer
	Config  Config
	Model   *model.Model
	Adapter *model.Adapter
	Tok     *tokenizer.Tokenizer
	// Train and Eval are the tokenized pairs; Bad the rows skipped;
	// Truncated the pairs cut to max_seq_len; Dropped those left with an
	// empty response.
	Train, Eval        []TokPair
	Bad                []data.BadRow
	Truncated, Dropped int
	Log                io.Writer

	order  *train.Order
	cursor int
	share  bool // model.LayoutShared (Config.SharePrompts, where the device can)
}

// New loads the policy, the tokenizer and the pairs of c, computes the
// reference log-probs of every pair (the policy as loaded is the
// reference; with LoRA, the base with the adapter off), and builds the
// trainer.
func New(c Config, dev tensor.Backend) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := model.Load(c.Model, dev)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	t := &Trainer{Model: m}
	if c.LoRA.Enabled() {
		if t.Adapter, err = m.AddLoRA(c.LoRA, c.Seed); err != nil {
			return nil, err
		}
		t.Adapter.BaseModel = c.Model
	}
	if t.Tok, err = tokenizer.Load(c.Model); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t.share = c.SharePrompts && tensor.SegmentMasks(dev)
	r, err := sft.NewRenderer(c.Model, t.Tok)
	if err != nil {
		return nil, err
	}
	pairs, bad, err := data.ReadPairs(c.Data, r.Template, c.SkipBadRows)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	t.Bad = bad
	if c.MaxSeqLen == 0 || c.MaxSeqLen > m.Config.MaxPositions {
		c.MaxSeqLen = m.Config.MaxPositions
	}
	var tps []TokPair
	for _, p := range pairs {
		tp, cut := Tokenize(t.Tok, p, c.MaxSeqLen)
		if cut {
			t.Truncated++
		}
		if scored(tp.Prompt, tp.Chosen) == 0 || scored(tp.Prompt, tp.Rejected) == 0 {
			t.Dropped++
			continue
		}
		for _, ids := range [][]int32{tp.Prompt, tp.Chosen, tp.Rejected} {
			for _, id := range ids {
				if int(id) >= m.Config.VocabSize {
					return nil, fmt.Errorf("%s: token id %d outside the model's vocabulary (%d): is the tokenizer the model's?", p.Source, id, m.Config.VocabSize)
				}
			}
		}
		tps = append(tps, tp)
	}
	if len(tps) == 0 {
		return nil, fmt.Errorf("data: %s: no pair with a response to train on", c.Data)
	}
	if c.Loss.Type != SimPO {
		if err := t.reference(tps, c.MicroBatch); err != nil {
			return nil, fmt.Errorf("reference log-probs: %w", err)
		}
	}
	t.Train, t.Eval = rm.Split(tps, c.EvalFraction, c.Seed)
	if len(t.Train) == 0 {
		return nil, fmt.Errorf("data: %s: no pair left to train on", c.Data)
	}
	t.order = &train.Order{Seed: c.Seed, N: len(t.Train)}
	perStep := c.MicroBatch * c.Accumulation
	steps := c.Steps
	if steps == 0 {
		steps = (c.Epochs*len(t.Train) + perStep - 1) / perStep
	}
	if c.Schedule.Kind != "constant" && c.Schedule.Total == 0 {
		c.Schedule.Total = steps
	}
	if err := c.Schedule.Validate(); err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	t.Config = c
	tc := train.Config{Out: c.Out, Steps: steps, Seed: c.Seed, Optim: c.Optim, Schedule: c.Schedule,
		SaveEvery: c.SaveEvery, KeepCheckpoints: c.KeepCheckpoints, LogEvery: c.LogEvery, TokenizerDir: c.Model, Resolved: &t.Config}
	if t.Adapter != nil {
		tc.Weights = t.Adapter
	}
	if t.Trainer, err = train.New(tc, m, t); err != nil {
		return nil, err
	}
	return t, nil
}

// Tokenize encodes a pair: the prompt with the tokenizer's special tokens,
// each response without. Past maxLen the prompt loses tokens from its
// start (down to maxLen/2), then the response from its end.
func Tokenize(tok *tokenizer.Tokenizer, p data.Pair, maxLen int) (TokPair, bool) {
	tp := TokPair{Prompt: tok.Encode(p.Prompt, true), Chosen: tok.Encode(p.Chosen, false), Rejected: tok.Encode(p.Rejected, false)}
	cut := false
	resp := max(len(tp.Chosen), len(tp.Rejected))
	if over := len(tp.Prompt) + resp - maxLen; over > 0 {
		keep := max(len(tp.Prompt)-over, min(len(tp.Prompt), maxLen/2))
		tp.Prompt = tp.Prompt[len(tp.Prompt)-keep:]
		cut = true
	}
	for _, r := range []*[]int32{&tp.Chosen, &tp.Rejected} {
		if room := maxLen - len(tp.Prompt); len(*r) > room {
			*r = (*r)[:max(room, 0)]
			cut = true
		}
	}
	return tp, cut
}

// scored is the number of response tokens that have a predecessor (the
// first token of a text with no prompt and no BOS has none).
func scored(prompt, resp []int32) int {
	if len(prompt) == 0 {
		return max(len(resp)-1, 0)
	}
	return len(resp)
}

// seqLogps records the responses' log-probs on tp and returns, per
// sequence (prompt i + response i), Σ log π over its response tokens,
// their count, and their flat positions in logp; laid out one row per
// prompt (model.LayoutShared) when share is set, else one padded row per
// sequence. A response with no prompt has no log-prob for its first
// token (nothing predicts it).
func seqLogps(tp *autograd.Tape, m *model.Model, prompts, resps [][]int32, share bool) (*autograd.Var, []float64, []int, [][]int, error) {
	rows := make([][]int32, len(resps))
	promptLen := make([]int, len(resps))
	for i := range resps {
		rows[i] = append(append([]int32(nil), prompts[i]...), resps[i]...)
		promptLen[i] = len(prompts[i])
	}
	layout := model.LayoutPadded
	if share {
		layout = model.LayoutShared
	}
	b, target, pos := layout(rows, promptLen)
	logp, _, err := m.TokenLogProbs(tp, b, target)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	lp := download64(m.Dev, logp.Val)
	sums, lens := make([]float64, len(rows)), make([]int, len(rows))
	for i, ps := range pos {
		for _, at := range ps {
			sums[i] += lp[at]
		}
		lens[i] = len(ps)
	}
	return logp, sums, lens, pos, nil
}

// download64 copies a device tensor to the host in float64 (exactly, for
// an F64 tensor on the CPU).
func download64(dev tensor.Backend, t *tensor.Tensor) []float64 {
	if b, ok := t.Buf.([]float64); ok {
		return append([]float64(nil), b...)
	}
	v := dev.Download(t)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// layout is pairs as one batch: the chosen responses, then the rejected.
func layout(ps []TokPair) (prompts, resps [][]int32) {
	n := len(ps)
	prompts, resps = make([][]int32, 2*n), make([][]int32, 2*n)
	for k, p := range ps {
		prompts[k], prompts[n+k] = p.Prompt, p.Prompt
		resps[k], resps[n+k] = p.Chosen, p.Rejected
	}
	return prompts, resps
}

// reference fills the pairs' reference log-probs: the model as loaded
// (with LoRA, the adapter switched off), without a tape.
func (t *Trainer) reference(ps []TokPair, mb int) error {
	if t.Adapter != nil {
		t.Adapter.Disabled = true
		defer func() { t.Adapter.Disabled = false }()
	}
	for lo := 0; lo < len(ps); lo += mb {
		part := ps[lo:min(lo+mb, len(ps))]
		prompts, resps := layout(part)
		tp := t.Model.NewTape()
		tp.NoGrad = true
		_, sums, _, _, err := seqLogps(tp, t.Model, prompts, resps, t.share)
		tp.Reset()
		if err != nil {
			return err
		}
		for k := range part {
			part[k].RefChosen, part[k].RefRejected = sums[k], sums[len(part)+k]
		}
	}
	return nil
}

// pairLoss records the policy's log-probs of pairs on tp and, when tp
// records, seeds the gradient of scale·loss (the micro-batch's mean).
func pairLoss(tp *autograd.Tape, m *model.Model, lc LossConfig, ps []TokPair, share bool, scale float64) (Result, []Seq, []Seq, error) {
	prompts, resps := layout(ps)
	logp, sums, lens, pos, err := seqLogps(tp, m, prompts, resps, share)
	if err != nil {
		return Result{}, nil, nil, err
	}
	n := len(ps)
	ch, rj := make([]Seq, n), make([]Seq, n)
	for k, p := range ps {
		ch[k] = Seq{Logp: sums[k], Ref: p.RefChosen, Len: lens[k]}
		rj[k] = Seq{Logp: sums[n+k], Ref: p.RefRejected, Len: lens[n+k]}
	}
	res := lc.Compute(ch, rj)
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		return res, ch, rj, fmt.Errorf("%w: %v", model.ErrNonFiniteLoss, res.Loss)
	}
	if !tp.NoGrad {
		// ∂L/∂logp_t is ∂L/∂(the sequence's sum) at each of its response tokens.
		g := make([]float32, logp.Val.Numel())
		for i, ps := range pos {
			d := res.GChosen[i%n]
			if i >= n {
				d = res.GRejected[i-n]
			}
			for _, at := range ps {
				g[at] = float32(scale * d)
			}
		}
		tp.SetGrad(logp, g)
	}
	return res, ch, rj, nil
}

// stats accumulates the reported metrics over pairs.
type stats struct {
	n, loss, acc, margin, rc, rr, lc, lr float64
}

func (s *stats) add(res Result, ch, rj []Seq) {
	for k := range ch {
		s.n++
		if res.RewardsChosen[k] > res.RewardsRejected[k] {
			s.acc++
		}
		s.margin += res.RewardsChosen[k] - res.RewardsRejected[k]
		s.rc += res.RewardsChosen[k]
		s.rr += res.RewardsRejected[k]
		s.lc += ch[k].Logp
		s.lr += rj[k].Logp
	}
	s.loss += res.Loss * float64(len(ch))
}

func (s stats) into(m map[string]float64, prefix string) {
	m[prefix+"loss"] = s.loss / s.n
	m[prefix+"rewards/accuracies"] = s.acc / s.n
	m[prefix+"rewards/margins"] = s.margin / s.n
	m[prefix+"rewards/chosen"] = s.rc / s.n
	m[prefix+"rewards/rejected"] = s.rr / s.n
	m[prefix+"logps/chosen"] = s.lc / s.n
	m[prefix+"logps/rejected"] = s.lr / s.n
}

// next returns the next n training pairs of the seeded order.
func (t *Trainer) next(n int) []TokPair {
	out := make([]TokPair, n)
	for i := range out {
		out[i] = t.Train[t.order.At(t.cursor)]
		t.cursor++
	}
	return out
}

// TrainStep implements train.Algorithm: Accumulation micro-batches of
// MicroBatch pairs, one update minimising the mean loss over the step's
// pairs.
func (t *Trainer) TrainStep(ctx context.Context, u *train.Update) (map[string]float64, error) {
	c := t.Config
	t0 := time.Now()
	pairs := t.next(c.MicroBatch * c.Accumulation)
	total := float64(len(pairs))
	var st stats
	tokens := 0
	if _, err := u.Update(c.Accumulation, func(tp *autograd.Tape, i int) error {
		ps := pairs[i*c.MicroBatch : (i+1)*c.MicroBatch]
		for _, p := range ps {
			tokens += 2*len(p.Prompt) + len(p.Chosen) + len(p.Rejected)
		}
		res, ch, rj, err := pairLoss(tp, t.Model, c.Loss, ps, t.share, float64(len(ps))/total)
		if err != nil {
			return err
		}
		st.add(res, ch, rj)
		return nil
	}); err != nil {
		return nil, err
	}
	m := map[string]float64{"tokens_per_s": float64(tokens) / time.Since(t0).Seconds(), "epoch": float64(t.cursor) / float64(len(t.Train))}
	st.into(m, "")
	if len(t.Eval) > 0 && ((c.EvalEvery > 0 && (u.Step()+1)%c.EvalEvery == 0) || u.Step()+1 == t.Trainer.Config.Steps) {
		if err := t.Evaluate(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Evaluate adds the held-out pairs' metrics (eval/…) to m.
func (t *Trainer) Evaluate(m map[string]float64) error {
	var st stats
	for lo := 0; lo < len(t.Eval); lo += t.Config.MicroBatch {
		ps := t.Eval[lo:min(lo+t.Config.MicroBatch, len(t.Eval))]
		tp := t.Model.NewTape()
		tp.NoGrad = true
		res, ch, rj, err := pairLoss(tp, t.Model, t.Config.Loss, ps, t.share, 1)
		tp.Reset()
		if err != nil {
			return err
		}
		st.add(res, ch, rj)
	}
	st.into(m, "eval/")
	return nil
}

// SaveFinal writes the trained policy into Config.Out as a Hugging Face
// directory with the tokenizer files (a LoRA run: the adapter, PEFT
// layout).
func (t *Trainer) SaveFinal() error {
	if t.Adapter != nil {
		if err := t.Adapter.Save(t.Config.Out); err != nil {
			return err
		}
	} else {
		dt, err := tensor.ParseDType(t.Model.Config.DType)
		if err != nil {
			dt = tensor.F32
		}
		if err := t.Model.Save(t.Config.Out, dt); err != nil {
			return err
		}
	}
	return model.CopyTokenizerFiles(t.Config.Model, t.Config.Out)
}

// State implements train.Algorithm.
func (t *Trainer) State() any { return map[string]int{"cursor": t.cursor} }

// Restore implements train.Algorithm.
func (t *Trainer) Restore(raw json.RawMessage) error {
	var st struct {
		Cursor *int `json:"cursor"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Cursor == nil {
		return fmt.Errorf("no DPO state (data cursor) in the checkpoint")
	}
	t.cursor = *st.Cursor
	return nil
}

// Report implements train.Reporter.
func (t *Trainer) Report(m map[string]float64) string {
	s := fmt.Sprintf("loss %.4f  acc %.3f  margin %.3f  logp c/r %.2f/%.2f  lr %.3g  grad_norm %.3f", m["loss"], m["rewards/accuracies"],
		m["rewards/margins"], m["logps/chosen"], m["logps/rejected"], m["lr"], m["grad_norm"])
	if a, ok := m["eval/rewards/accuracies"]; ok {
		s += fmt.Sprintf("  eval_acc %.3f  eval_margin %.3f", a, m["eval/rewards/margins"])
	}
	return s
}
