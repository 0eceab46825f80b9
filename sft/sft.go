package sft

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
	"github.com/r1go/r1/train"
)

// Config is an SFT run. Keys shared with `r1 grpo` mean the same thing
// (model, device, out, seed, micro_batch, optimizer, schedule, save_every,
// keep_checkpoints); the rest follow TRL's SFTConfig where one exists.
type Config struct {
	// Model is the Hugging Face checkpoint directory to fine-tune.
	Model string `yaml:"model"`
	// Data is a JSONL or JSONL.gz file of rows in one of the formats of
	// Format: messages, prompt/completion, or text.
	Data string `yaml:"data"`
	// Device is cpu, cuda or auto.
	Device string `yaml:"device"`
	// Out is the run directory.
	Out string `yaml:"out"`
	// Seed drives the shuffle, the held-out split and, with LoRA, the
	// adapter's init and dropout masks.
	Seed uint64 `yaml:"seed"`
	// Epochs over the training rows (TRL's num_train_epochs, default 3).
	Epochs int `yaml:"epochs"`
	// Steps, when > 0, overrides Epochs: train this many optimizer steps.
	Steps int `yaml:"steps"`
	// MaxSeqLen caps a sample's tokens (TRL's max_length); longer samples
	// keep their first MaxSeqLen tokens. 0 = the model's context.
	MaxSeqLen int `yaml:"max_seq_len"`
	// Packing concatenates samples into rows of MaxSeqLen tokens (TRL's
	// packing). Attention never crosses a sample boundary and positions
	// restart at each sample, so a packed sample's loss and gradient are
	// the ones it has alone; packing only removes padding.
	Packing bool `yaml:"packing"`
	// CompletionOnlyLoss trains only on assistant turns and completions
	// (TRL's completion_only_loss / assistant_only_loss); false trains on
	// every token.
	CompletionOnlyLoss bool `yaml:"completion_only_loss"`
	// MicroBatch rows go through one forward/backward pass; Accumulation
	// micro-batches make one optimizer step (TRL's
	// per_device_train_batch_size and gradient_accumulation_steps).
	MicroBatch   int `yaml:"micro_batch"`
	Accumulation int `yaml:"gradient_accumulation_steps"`
	// GradientCheckpointing recomputes each decoder layer's activations in
	// the backward pass instead of keeping them (transformers'
	// gradient_checkpointing): a step keeps one layer's activations plus
	// one residual stream per layer, for one more forward pass per step;
	// the gradients are bit-identical.
	GradientCheckpointing bool `yaml:"gradient_checkpointing"`
	// EvalRows are held out (after the seeded shuffle) to report eval/loss
	// every EvalEvery steps and at the end; 0 = no held-out split.
	EvalRows  int `yaml:"eval_rows"`
	EvalEvery int `yaml:"eval_every"`
	// Eval samples a benchmark of the registry every eval.every steps and
	// logs its pass@1 (eval.dataset; keys documented at BenchEval).
	Eval BenchEval `yaml:"eval"`
	// ColdStart, when cold_start.correct is set, reads data as an RL run's
	// scored samples (r1 zero / r1 grpo samples.jsonl) and trains on the
	// cold-start rows made from its correct, well-formed ones (ColdStart),
	// written to OUT/cold_start.jsonl.
	ColdStart ColdStartOptions `yaml:"cold_start"`
	// SkipBadRows skips malformed rows (reporting how many and why)
	// instead of stopping at the first.
	SkipBadRows bool `yaml:"skip_bad_rows"`

	Optim    optim.AdamWConfig `yaml:"optimizer"`
	Schedule optim.Schedule    `yaml:"schedule"`

	// LoRA, when lora.r > 0, trains a low-rank adapter on the frozen model
	// instead of the whole model (Hu et al. 2021; keys documented at
	// model.LoRAConfig, shared with r1 grpo). Adapters want a larger
	// learning rate than full fine-tuning (Hu et al. used 2e-4).
	LoRA model.LoRAConfig `yaml:"lora"`

	SaveEvery       int `yaml:"save_every"`
	KeepCheckpoints int `yaml:"keep_checkpoints"`
	LogEvery        int `yaml:"log_every"`
}

// Default is SFT as TRL runs it (3 epochs, linear decay, completion-only
// loss, AdamW lr 2e-5, no weight decay), with micro-batches that fit a CPU.
// Small models want a larger learning rate (the tiny model: 1e-3).
func Default() Config {
	adam := optim.DefaultAdamW()
	adam.LR, adam.WeightDecay = 2e-5, 0
	return Config{Device: "cpu", Out: "runs/sft", Seed: 1, Epochs: 3, CompletionOnlyLoss: true, MicroBatch: 8, Accumulation: 1,
		EvalRows: 0, EvalEvery: 0, Optim: adam, Schedule: optim.Schedule{Kind: "linear"}, LogEvery: 10, LoRA: model.DefaultLoRA(), Eval: DefaultBenchEval(),
		ColdStart: ColdStartOptions{MinThink: 20, MaxThink: 4000}}
}

// Validate checks the config and names the offending key.
func (c *Config) Validate() error {
	switch {
	case c.Model == "":
		return fmt.Errorf("model: a Hugging Face checkpoint directory is required")
	case c.Data == "":
		return fmt.Errorf("data: a JSONL file is required (%s)", Format)
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
	case c.EvalRows < 0 || c.EvalEvery < 0:
		return fmt.Errorf("eval_rows and eval_every: must be ≥ 0, got %d and %d", c.EvalRows, c.EvalEvery)
	}
	if err := c.Optim.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	if err := c.Eval.Validate(); err != nil {
		return err
	}
	if err := c.ColdStart.Validate(); err != nil {
		return err
	}
	return c.LoRA.Validate()
}

// Trainer is SFT on the training core.
type Trainer struct {
	*train.Trainer
	Config Config
	Model  *model.Model
	// Adapter is the LoRA adapter being trained (lora.r > 0), else nil.
	Adapter *model.Adapter
	Tok     *tokenizer.Tokenizer
	// Train and Eval are the tokenized samples; Bad the rows skipped.
	Train, Eval []Sample
	Bad         []BadRow
	// ColdStartStats says what the cold-start conversion kept and dropped
	// (cold_start.correct set).
	ColdStartStats *ColdStartStats
	// Truncated counts samples cut to MaxSeqLen; Dropped those left with
	// no trained token after the cut.
	Truncated, Dropped int
	// Log receives one-off messages (nil = none).
	Log io.Writer
	// Loss, when set, replaces the next-token cross-entropy on the same
	// rows (logit distillation: a divergence from a teacher's
	// distribution, package distill). It has LMLoss's contract: the mean
	// over the targets ≥ 0, its gradient × scale seeded on tp. The
	// held-out eval loss stays the cross-entropy.
	Loss func(tp *autograd.Tape, b model.Batch, target []int32, scale float64) (float64, int, error)

	renderer *Renderer
	bench    *data.Dataset // the eval: benchmark, nil = none
	rows     []Row         // training rows of one epoch, before shuffling
	order    *train.Order
	cursor   int // rows consumed
	pad      int32
}

// Row is one row of a batch: a sample alone, or several packed.
type Row struct {
	IDs       []int32
	Segment   []int32 // per token: 1-based sample index within the row
	Positions []int32 // restart at 0 for each sample
	Target    []int32 // next token where it is trained, −1 elsewhere
}

// New loads the model, tokenizer and data of c and builds the trainer.
func New(c Config, dev tensor.Backend) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Packing && !tensor.SegmentMasks(dev) {
		// Packed rows need attention that keeps each sample to itself
		// (segment ids in the mask); only the CPU kernels implement it
		// until the CUDA ones have run on a GPU.
		return nil, fmt.Errorf("packing: needs segment-aware attention, which the %s backend does not have yet; train with packing=false", dev.Name())
	}
	m, err := model.Load(c.Model, dev)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m.GradientCheckpointing = c.GradientCheckpointing
	var adapter *model.Adapter
	if c.LoRA.Enabled() {
		if adapter, err = m.AddLoRA(c.LoRA, c.Seed); err != nil {
			return nil, err
		}
		adapter.BaseModel = c.Model
	}
	tok, err := tokenizer.Load(c.Model)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	r, err := NewRenderer(c.Model, tok)
	if err != nil {
		return nil, err
	}
	bench, err := openBench(c.Eval)
	if err != nil {
		return nil, err
	}
	rowsFile := c.Data
	var csStats *ColdStartStats
	if c.ColdStart.Enabled() {
		path, st, err := coldStartData(c)
		if err != nil {
			return nil, err
		}
		rowsFile, csStats = path, &st
	}
	exs, bad, err := r.ReadFile(rowsFile, c.SkipBadRows)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if c.MaxSeqLen == 0 || c.MaxSeqLen > m.Config.MaxPositions {
		c.MaxSeqLen = m.Config.MaxPositions
	}
	t := &Trainer{Config: c, Model: m, Adapter: adapter, Tok: tok, Bad: bad, pad: max(tok.PAD, 0), renderer: r, bench: bench, ColdStartStats: csStats}
	var samples []Sample
	for _, ex := range exs {
		s := Tokenize(ex, tok, c.CompletionOnlyLoss, c.MaxSeqLen)
		for _, id := range s.IDs {
			if int(id) >= m.Config.VocabSize {
				return nil, fmt.Errorf("%s: token id %d outside the model's vocabulary (%d): is the tokenizer the model's?", ex.Source, id, m.Config.VocabSize)
			}
		}
		if s.Truncated {
			t.Truncated++
		}
		if s.Targets() == 0 {
			t.Dropped++
			continue
		}
		samples = append(samples, s)
	}
	// The held-out rows are a seeded choice, fixed for the run.
	perm := rand.New(rand.NewPCG(c.Seed, 0xe7a1)).Perm(len(samples))
	nEval := min(c.EvalRows, len(samples)-1)
	for i, p := range perm {
		if i < nEval {
			t.Eval = append(t.Eval, samples[p])
		} else {
			t.Train = append(t.Train, samples[p])
		}
	}
	if len(t.Train) == 0 {
		return nil, fmt.Errorf("data: %s: no sample left to train on (%d dropped: no trained token within max_seq_len %d)", c.Data, t.Dropped, c.MaxSeqLen)
	}
	if c.Packing {
		t.rows = Pack(t.Train, c.MaxSeqLen)
	} else {
		for _, s := range t.Train {
			t.rows = append(t.rows, Pack([]Sample{s}, len(s.IDs))...)
		}
	}
	t.order = &train.Order{Seed: c.Seed, N: len(t.rows)}
	perStep := c.MicroBatch * c.Accumulation
	steps := c.Steps
	if steps == 0 {
		steps = (c.Epochs*len(t.rows) + perStep - 1) / perStep
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
	if adapter != nil {
		tc.Weights = adapter // the core trains and checkpoints the adapter only
	}
	if t.Trainer, err = train.New(tc, m, t); err != nil {
		return nil, err
	}
	return t, nil
}

// Rows is the number of training rows of an epoch (packed rows with
// packing, else one per sample).
func (t *Trainer) Rows() int { return len(t.rows) }

// Pack lays samples into rows of at most maxLen tokens in order, starting
// a new row when the next sample does not fit (samples are never split).
func Pack(samples []Sample, maxLen int) []Row {
	var rows []Row
	var cur Row
	seg := int32(0)
	for _, s := range samples {
		if len(cur.IDs) > 0 && len(cur.IDs)+len(s.IDs) > maxLen {
			rows = append(rows, cur)
			cur, seg = Row{}, 0
		}
		seg++
		for i, id := range s.IDs {
			cur.IDs = append(cur.IDs, id)
			cur.Segment = append(cur.Segment, seg)
			cur.Positions = append(cur.Positions, int32(i))
			tgt := int32(-1)
			if i+1 < len(s.IDs) && s.Loss[i+1] {
				tgt = s.IDs[i+1]
			}
			cur.Target = append(cur.Target, tgt)
		}
	}
	if len(cur.IDs) > 0 {
		rows = append(rows, cur)
	}
	return rows
}

// Batch lays rows out right-padded into a model batch: the mask holds each
// token's sample index (0 for padding), so attention stays within a
// sample, and positions restart per sample.
func Batch(rows []Row, pad int32) (model.Batch, []int32) {
	t := 0
	for _, r := range rows {
		t = max(t, len(r.IDs))
	}
	b := model.Batch{B: len(rows), T: t, IDs: make([]int32, len(rows)*t), Mask: make([]int32, len(rows)*t), Positions: make([]int32, len(rows)*t)}
	target := make([]int32, len(rows)*t)
	for i, r := range rows {
		off := i * t
		for j := 0; j < t; j++ {
			if j < len(r.IDs) {
				b.IDs[off+j], b.Mask[off+j], b.Positions[off+j], target[off+j] = r.IDs[j], r.Segment[j], r.Positions[j], r.Target[j]
			} else {
				b.IDs[off+j], target[off+j] = pad, -1
			}
		}
	}
	return b, target
}

// next returns the next n rows of the seeded order (the cursor is the
// whole data state a checkpoint needs).
func (t *Trainer) next(n int) []Row {
	out := make([]Row, n)
	for i := range out {
		out[i] = t.rows[t.order.At(t.cursor)]
		t.cursor++
	}
	return out
}

// TrainerName implements configs.Trainer: SFT presets say trainer: sft.
func (Config) TrainerName() string { return "sft" }

// TrainStep implements train.Algorithm: Accumulation micro-batches of
// MicroBatch rows, one update; the loss is the mean over the step's
// trained tokens.
func (t *Trainer) TrainStep(ctx context.Context, u *train.Update) (map[string]float64, error) {
	c := t.Config
	t0 := time.Now()
	rows := t.next(c.MicroBatch * c.Accumulation)
	batches := make([]model.Batch, c.Accumulation)
	targets := make([][]int32, c.Accumulation)
	counts := make([]int, c.Accumulation) // trained tokens per micro-batch
	total, tokens := 0, 0
	for i := range batches {
		batches[i], targets[i] = Batch(rows[i*c.MicroBatch:(i+1)*c.MicroBatch], t.pad)
		for _, tg := range targets[i] {
			if tg >= 0 {
				counts[i]++
			}
		}
		total += counts[i]
		tokens += batches[i].B * batches[i].T
	}
	var sum float64
	if _, err := u.Update(c.Accumulation, func(tp *autograd.Tape, i int) error {
		n := counts[i]
		if n == 0 {
			return nil
		}
		// Each micro-batch's mean loss weighs by its share of the step's
		// trained tokens: the step minimises the mean over all of them.
		lossFn := t.Model.LMLoss
		if t.Loss != nil {
			lossFn = t.Loss
		}
		loss, _, err := lossFn(tp, batches[i], targets[i], float64(n)/float64(total))
		sum += loss * float64(n)
		return err
	}); err != nil {
		return nil, err
	}
	m := map[string]float64{"loss": sum / float64(total), "train/tokens": float64(total), "tokens_per_s": float64(tokens) / time.Since(t0).Seconds(),
		"epoch": float64(t.cursor) / float64(len(t.rows))}
	if len(t.Eval) > 0 && c.EvalEvery > 0 && ((u.Step()+1)%c.EvalEvery == 0 || u.Step()+1 == t.Trainer.Config.Steps) {
		l, err := t.EvalLoss()
		if err != nil {
			return nil, err
		}
		m["eval/loss"] = l
	}
	if t.dueBenchEval(u.Step()+1, t.Trainer.Config.Steps) {
		em, err := t.EvalBench(ctx, u.Step()+1)
		if err != nil {
			return nil, err
		}
		maps.Copy(m, em)
	}
	return m, nil
}

// EvalLoss is the mean loss over the held-out samples' trained tokens.
func (t *Trainer) EvalLoss() (float64, error) {
	var sum float64
	var n int
	for lo := 0; lo < len(t.Eval); lo += t.Config.MicroBatch {
		b, target := Batch(onePerRow(t.Eval[lo:min(lo+t.Config.MicroBatch, len(t.Eval))]), t.pad)
		tp := t.Model.NewTape()
		tp.NoGrad = true
		loss, k, err := t.Model.LMLoss(tp, b, target, 1)
		tp.Reset()
		if err != nil {
			return 0, err
		}
		sum += loss * float64(k)
		n += k
	}
	return sum / float64(n), nil
}

func onePerRow(samples []Sample) []Row {
	rows := make([]Row, len(samples))
	for i, s := range samples {
		rows[i] = Pack([]Sample{s}, len(s.IDs))[0]
	}
	return rows
}

// SaveFinal writes the fine-tuned model into Config.Out as a complete
// Hugging Face directory (weights in the dtype of the model's config.json,
// tokenizer files and chat template copied from the base), the input of
// the next stage. A LoRA run writes its adapter in PEFT's layout instead
// (with the tokenizer files, as TRL saves them), for `r1 merge` or PEFT.
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
	if err := model.CopyTokenizerFiles(t.Config.Model, t.Config.Out); err != nil {
		return err
	}
	if r := t.renderer; r.Template != nil && r.Template.Name == "chatml" {
		// The base had no chat template and the conversations were
		// rendered with ChatML: the fine-tuned model is a ChatML model,
		// and says so, so that r1 sample --chat renders what it learned.
		if err := setChatTemplate(filepath.Join(t.Config.Out, "tokenizer_config.json"), chatML); err != nil {
			return err
		}
		// A ChatML turn ends with <|im_end|>: generation stops there.
		if id, ok := t.Tok.TokenID("<|im_end|>"); ok {
			return addStopID(filepath.Join(t.Config.Out, "generation_config.json"), id)
		}
	}
	return nil
}

// addStopID adds id to generation_config.json's eos_token_id (creating the
// file when the base had none), which samplers stop at.
func addStopID(path string, id int32) error {
	cfg := map[string]any{}
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var ids []any
	switch v := cfg["eos_token_id"].(type) {
	case float64:
		ids = []any{v}
	case []any:
		ids = v
	}
	for _, x := range ids {
		if f, ok := x.(float64); ok && int32(f) == id {
			return nil
		}
	}
	cfg["eos_token_id"] = append(ids, float64(id))
	out, _ := json.MarshalIndent(cfg, "", "  ")
	return atomicfile.Write(path, append(out, '\n'))
}

// setChatTemplate writes chat_template into a tokenizer_config.json.
func setChatTemplate(path, tmpl string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg["chat_template"] = tmpl
	out, _ := json.MarshalIndent(cfg, "", "  ")
	return atomicfile.Write(path, append(out, '\n'))
}

// State implements train.Algorithm.
func (t *Trainer) State() any { return map[string]int{"cursor": t.cursor} }

// Restore implements train.Algorithm.
func (t *Trainer) Restore(raw json.RawMessage) error {
	var st struct {
		Cursor *int `json:"cursor"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Cursor == nil {
		return fmt.Errorf("no SFT state (data cursor) in the checkpoint")
	}
	t.cursor = *st.Cursor
	return nil
}

// Report implements train.Reporter.
func (t *Trainer) Report(m map[string]float64) string {
	s := fmt.Sprintf("loss %.4f  epoch %.2f  lr %.3g  grad_norm %.3f  tok/s %.0f", m["loss"], m["epoch"], m["lr"], m["grad_norm"], m["tokens_per_s"])
	if l, ok := m["eval/loss"]; ok {
		s += fmt.Sprintf("  eval_loss %.4f", l)
	}
	if t.bench != nil {
		if p, ok := m["eval/"+t.bench.Name+"/pass@1"]; ok {
			s += fmt.Sprintf("  %s pass@1 %.1f%%", t.bench.Name, 100*p)
		}
	}
	return s
}
