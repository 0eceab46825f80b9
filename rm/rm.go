package rm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	rmreward "github.com/r1go/r1/reward/rm"
	"github.com/r1go/r1/sft"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Config is a reward-model run. Keys shared with `r1 sft` mean the same
// thing (model, data, device, out, seed, epochs, steps, max_seq_len,
// micro_batch, gradient_accumulation_steps, optimizer, schedule,
// save_every, keep_checkpoints, log_every, skip_bad_rows); the rest follow
// TRL's RewardConfig.
type Config struct {
	// Model is the Hugging Face checkpoint to start from: a causal LM (its
	// LM head is dropped and a score head initialized, as transformers'
	// AutoModelForSequenceClassification does) or a reward model.
	Model string `yaml:"model"`
	// Data is a file of preference pairs (data.PairFormats).
	Data   string `yaml:"data"`
	Device string `yaml:"device"`
	Out    string `yaml:"out"`
	// Seed drives the shuffle and the held-out split.
	Seed   uint64 `yaml:"seed"`
	Epochs int    `yaml:"epochs"`
	// Steps, when > 0, overrides Epochs.
	Steps int `yaml:"steps"`
	// MaxSeqLen keeps the last MaxSeqLen tokens of a longer sequence (the
	// score is read at its end); 0 = the model's context.
	MaxSeqLen int `yaml:"max_seq_len"`
	// MicroBatch pairs (2× sequences) go through one forward/backward
	// pass; Accumulation micro-batches make one optimizer step.
	MicroBatch   int `yaml:"micro_batch"`
	Accumulation int `yaml:"gradient_accumulation_steps"`
	// SharePrompts stores the tokens a pair's chosen and rejected
	// sequences begin with (the prompt) once, with the rest of each as a
	// segment after it that attends to it (model.LayoutShared), instead of
	// a left-padded row per sequence: the shared part's forward and
	// backward run once per pair. The same scores and gradients up to
	// float rounding. Used where the attention takes segment masks (the
	// CPU); default true.
	SharePrompts bool `yaml:"share_prompts"`
	// EvalFraction of the pairs (after the seeded shuffle) are held out:
	// eval/accuracy (chosen scored above rejected) and eval/margin (mean
	// r_c − r_r) every EvalEvery steps and at the end.
	EvalFraction float64 `yaml:"eval_fraction"`
	EvalEvery    int     `yaml:"eval_every"`
	// SkipBadRows skips malformed pairs (reporting them) instead of
	// stopping at the first.
	SkipBadRows bool `yaml:"skip_bad_rows"`

	Optim    optim.AdamWConfig `yaml:"optimizer"`
	Schedule optim.Schedule    `yaml:"schedule"`

	SaveEvery       int `yaml:"save_every"`
	KeepCheckpoints int `yaml:"keep_checkpoints"`
	LogEvery        int `yaml:"log_every"`
}

// Default is TRL's RewardConfig where it has a value (1 epoch, linear
// decay, no weight decay) with lr 1e-5 and CPU-sized micro-batches. Small
// models want a larger learning rate (the tiny model: 1e-3).
func Default() Config {
	adam := optim.DefaultAdamW()
	adam.LR, adam.WeightDecay = 1e-5, 0
	return Config{Device: "cpu", Out: "runs/rm", Seed: 1, Epochs: 1, MicroBatch: 4, Accumulation: 1, SharePrompts: true, EvalFraction: 0.1,
		Optim: adam, Schedule: optim.Schedule{Kind: "linear"}, LogEvery: 10}
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
	case c.Steps < 0:
		return fmt.Errorf("steps: must be ≥ 0, got %d", c.Steps)
	case c.MaxSeqLen < 0:
		return fmt.Errorf("max_seq_len: must be ≥ 0, got %d", c.MaxSeqLen)
	case c.MicroBatch <= 0:
		return fmt.Errorf("micro_batch: must be > 0, got %d", c.MicroBatch)
	case c.Accumulation <= 0:
		return fmt.Errorf("gradient_accumulation_steps: must be > 0, got %d", c.Accumulation)
	case !(c.EvalFraction >= 0 && c.EvalFraction < 1):
		return fmt.Errorf("eval_fraction: must be in [0, 1), got %g", c.EvalFraction)
	case c.EvalEvery < 0:
		return fmt.Errorf("eval_every: must be ≥ 0, got %d", c.EvalEvery)
	}
	if err := c.Optim.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	return nil
}

// TokPair is a tokenized preference pair.
type TokPair struct {
	Chosen, Rejected []int32
	Margin           float64
}

// Trainer is reward-model training on the training core.
type Trainer struct {
	*train.Trainer
	Config Config
	Model  *model.Model
	Tok    *tokenizer.Tokenizer
	// Train and Eval are the tokenized pairs; Bad the rows skipped;
	// Truncated counts sequences cut to max_seq_len (from the left).
	Train, Eval []TokPair
	Bad         []data.BadRow
	Truncated   int
	Log         io.Writer

	order  *train.Order
	cursor int
	pad    int32
	share  bool // model.LayoutShared (Config.SharePrompts, where the device can)
}

// New loads the model (with a one-label score head), the tokenizer and
// the pairs of c, and builds the trainer.
func New(c Config, dev tensor.Backend) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := model.Load(c.Model, dev, model.WithScoreHead(1))
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	tok, err := tokenizer.Load(c.Model)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	r, err := sft.NewRenderer(c.Model, tok)
	if err != nil {
		return nil, err
	}
	pairs, bad, err := data.ReadPairs(c.Data, r.Template, c.SkipBadRows)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if c.MaxSeqLen == 0 || c.MaxSeqLen > m.Config.MaxPositions {
		c.MaxSeqLen = m.Config.MaxPositions
	}
	t := &Trainer{Model: m, Tok: tok, Bad: bad, pad: max(tok.PAD, 0), share: c.SharePrompts && tensor.SegmentMasks(dev)}
	tps := make([]TokPair, len(pairs))
	for i, p := range pairs {
		var tc, tr bool
		tps[i].Chosen, tc = rmreward.Encode(tok, p.Prompt+p.Chosen, c.MaxSeqLen)
		tps[i].Rejected, tr = rmreward.Encode(tok, p.Prompt+p.Rejected, c.MaxSeqLen)
		tps[i].Margin = p.Margin
		for _, tr := range []bool{tc, tr} {
			if tr {
				t.Truncated++
			}
		}
		for _, id := range append(append([]int32(nil), tps[i].Chosen...), tps[i].Rejected...) {
			if int(id) >= m.Config.VocabSize {
				return nil, fmt.Errorf("%s: token id %d outside the model's vocabulary (%d): is the tokenizer the model's?", p.Source, id, m.Config.VocabSize)
			}
		}
	}
	t.Train, t.Eval = Split(tps, c.EvalFraction, c.Seed)
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
	if t.Trainer, err = train.New(tc, m, t); err != nil {
		return nil, err
	}
	return t, nil
}

// Split holds out a seeded fraction of items (at least one when the
// fraction is > 0 and two or more items exist); the rest train. DPO and the
// reward model split pairs the same way.
func Split[T any](items []T, fraction float64, seed uint64) (trainSet, evalSet []T) {
	perm := rand.New(rand.NewPCG(seed, 0xe7a1)).Perm(len(items))
	nEval := int(math.Round(fraction * float64(len(items))))
	if fraction > 0 && nEval == 0 && len(items) > 1 {
		nEval = 1
	}
	nEval = min(nEval, len(items)-1)
	for i, p := range perm {
		if i < nEval {
			evalSet = append(evalSet, items[p])
		} else {
			trainSet = append(trainSet, items[p])
		}
	}
	return trainSet, evalSet
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

// rowsOf lays pairs out as one batch: the chosen sequences, then the
// rejected ones.
func rowsOf(ps []TokPair) ([][]int32, []float64) {
	rows := make([][]int32, 2*len(ps))
	margin := make([]float64, len(ps))
	for k, p := range ps {
		rows[k], rows[len(ps)+k], margin[k] = p.Chosen, p.Rejected, p.Margin
	}
	return rows, margin
}

// pairLoss scores rows (P chosen sequences, then their P rejected ones) on
// tp and, when tp records, seeds the gradient of scale·BTLoss. It returns
// the scores and the loss (the micro-batch's mean). With share, each
// pair's common first tokens are stored once (sharedScores), unless a
// sequence is a single token (it has no log-prob position to find its
// end by).
func pairLoss(tp *autograd.Tape, m *model.Model, rows [][]int32, margin []float64, pad int32, share bool, scale float64) (rc, rr []float64, loss float64, err error) {
	var sc *autograd.Var
	if share && !slices.ContainsFunc(rows, func(r []int32) bool { return len(r) < 2 }) {
		sc, err = sharedScores(tp, m, rows)
	} else {
		sc, err = m.Scores(tp, model.NewBatch(rows, pad))
	}
	if err != nil {
		return nil, nil, 0, err
	}
	v := download64(m.Dev, sc.Val) // (2P,1): chosen then rejected
	p := len(rows) / 2
	rc, rr = v[:p], v[p:]
	loss, gc, gr := BTLoss(rc, rr, margin)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return nil, nil, loss, fmt.Errorf("%w: %v", model.ErrNonFiniteLoss, loss)
	}
	if !tp.NoGrad {
		g := make([]float32, 2*p)
		for k := 0; k < p; k++ {
			g[k], g[p+k] = float32(scale*gc[k]), float32(scale*gr[k])
		}
		tp.SetGrad(sc, g)
	}
	return rc, rr, loss, nil
}

// sharedScores scores rows (P chosen sequences, then their P rejected
// ones) laid out by model.LayoutShared: the tokens a pair's two sequences
// begin with as its prompt (keeping at least two tokens of each to its
// segment, so that each segment's last token is found from its
// log-prob positions, which needs every sequence to have two tokens),
// the score read at each sequence's last token.
func sharedScores(tp *autograd.Tape, m *model.Model, rows [][]int32) (*autograd.Var, error) {
	p := len(rows) / 2
	promptLen := make([]int, len(rows))
	for k := 0; k < p; k++ {
		c, r := rows[k], rows[p+k]
		n := 0
		for n < len(c) && n < len(r) && c[n] == r[n] {
			n++
		}
		n = min(n, len(c)-2, len(r)-2) + 1
		promptLen[k], promptLen[p+k] = n, n
	}
	b, _, pos := model.LayoutShared(rows, promptLen)
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, err
	}
	return m.ScoresAt(tp, h, model.LastPositions(pos)) // a segment of ≥ 2 tokens has positions
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

// pairStats accumulates accuracy, margin and loss over pairs.
type pairStats struct {
	n, correct, margin, loss, chosen, rejected float64
}

func (s *pairStats) add(rc, rr, m []float64) {
	for k := range rc {
		s.n++
		if rc[k] > rr[k] {
			s.correct++
		}
		s.margin += rc[k] - rr[k]
		s.chosen += rc[k]
		s.rejected += rr[k]
		s.loss -= logSigmoid(rc[k] - rr[k] - m[k])
	}
}

func (s pairStats) into(m map[string]float64, prefix string) {
	m[prefix+"accuracy"] = s.correct / s.n
	m[prefix+"margin"] = s.margin / s.n
	m[prefix+"loss"] = s.loss / s.n
	m[prefix+"rewards/chosen"] = s.chosen / s.n
	m[prefix+"rewards/rejected"] = s.rejected / s.n
}

// TrainStep implements train.Algorithm: Accumulation micro-batches of
// MicroBatch pairs, one update; the loss is the mean BT loss over the
// step's pairs.
func (t *Trainer) TrainStep(ctx context.Context, u *train.Update) (map[string]float64, error) {
	c := t.Config
	t0 := time.Now()
	pairs := t.next(c.MicroBatch * c.Accumulation)
	total := float64(len(pairs))
	var st pairStats
	tokens := 0
	if _, err := u.Update(c.Accumulation, func(tp *autograd.Tape, i int) error {
		ps := pairs[i*c.MicroBatch : (i+1)*c.MicroBatch]
		rows, margin := rowsOf(ps)
		for _, r := range rows {
			tokens += len(r)
		}
		// BTLoss's gradients are of this micro-batch's mean; the step
		// minimises the mean over all its pairs.
		rc, rr, _, err := pairLoss(tp, t.Model, rows, margin, t.pad, t.share, float64(len(ps))/total)
		if err != nil {
			return err
		}
		st.add(rc, rr, margin)
		return nil
	}); err != nil {
		return nil, err
	}
	m := map[string]float64{"tokens_per_s": float64(tokens) / time.Since(t0).Seconds(),
		"epoch": float64(t.cursor) / float64(len(t.Train))}
	st.into(m, "")
	if len(t.Eval) > 0 && ((c.EvalEvery > 0 && (u.Step()+1)%c.EvalEvery == 0) || u.Step()+1 == t.Trainer.Config.Steps) {
		if err := t.Evaluate(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Evaluate scores the held-out pairs and adds eval/accuracy, eval/margin,
// eval/loss and eval/rewards/{chosen,rejected} to m.
func (t *Trainer) Evaluate(m map[string]float64) error {
	var st pairStats
	mb := max(1, t.Config.MicroBatch)
	for lo := 0; lo < len(t.Eval); lo += mb {
		ps := t.Eval[lo:min(lo+mb, len(t.Eval))]
		rows, margin := rowsOf(ps)
		v, err := rmreward.ScoreIDs(t.Model, rows, t.pad, len(rows))
		if err != nil {
			return err
		}
		st.add(v[:len(ps)], v[len(ps):], margin)
	}
	st.into(m, "eval/")
	return nil
}

// SaveFinal writes the reward model into Config.Out as a Hugging Face
// *ForSequenceClassification directory (score.weight, num_labels 1 as
// id2label/label2id, pad_token_id set so transformers finds each row's
// last real token) with the tokenizer files: the input of `r1 rm score`
// and of the "rm" reward.
func (t *Trainer) SaveFinal() error {
	if t.Model.Config.PadTokenID == nil {
		// transformers' sequence classifiers refuse batches without a pad
		// token id; ours pads with the tokenizer's.
		pad := t.pad
		t.Model.Config.PadTokenID = &pad
	}
	dt, err := tensor.ParseDType(t.Model.Config.DType)
	if err != nil {
		dt = tensor.F32
	}
	if err := t.Model.Save(t.Config.Out, dt); err != nil {
		return err
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
		return fmt.Errorf("no reward-model state (data cursor) in the checkpoint")
	}
	t.cursor = *st.Cursor
	return nil
}

// Report implements train.Reporter.
func (t *Trainer) Report(m map[string]float64) string {
	s := fmt.Sprintf("loss %.4f  acc %.3f  margin %.3f  epoch %.2f  lr %.3g  grad_norm %.3f", m["loss"], m["accuracy"], m["margin"], m["epoch"], m["lr"], m["grad_norm"])
	if a, ok := m["eval/accuracy"]; ok {
		s += fmt.Sprintf("  eval_acc %.3f  eval_margin %.3f", a, m["eval/margin"])
	}
	return s
}
