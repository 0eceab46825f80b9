// Package train is r1's one training core. Every trainer (pretraining,
// GRPO, and the SFT, reward-model, DPO, PPO and distillation trainers that
// build on it) is an Algorithm — a data source and a loss — run by a
// Trainer, which owns everything else: the step loop, gradient
// accumulation over micro-batches, the gradient all-reduce hook, clipping,
// the AdamW optimizer and its learning-rate schedule, checkpoints (one
// format, written atomically, keep-last-N), exact resume, metrics
// (metrics.jsonl + TensorBoard), progress with an ETA, and a clean stop with
// a checkpoint when the context is cancelled (SIGINT/SIGTERM in the CLI).
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/metrics"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
)

// Config is what the core needs from a trainer's configuration. Trainers
// embed the fields in their own YAML configs under the same key names
// (optimizer, schedule, seed, out, save_every, keep_checkpoints) and fill
// this struct from them.
type Config struct {
	// Out is the run directory: metrics.jsonl, events.*, checkpoints/.
	Out string
	// Steps is the number of training steps to reach.
	Steps int
	// Seed is recorded in every checkpoint; a resume with another seed is
	// refused, since the data order and sampling would silently change.
	Seed uint64
	// Optim configures AdamW (its MaxGradNorm is the clipping threshold);
	// Schedule multiplies Optim.LR by Factor(step).
	Optim    optim.AdamWConfig
	Schedule optim.Schedule
	// SaveEvery writes a checkpoint every N steps; the last step and an
	// interrupt always write one. 0 = end only.
	SaveEvery int
	// KeepCheckpoints keeps the newest N checkpoints (0 = all).
	KeepCheckpoints int
	// LogEvery prints a progress line every N steps (0 or 1 = every step).
	LogEvery int
	// TokenizerDir, when set, is where the tokenizer files copied into each
	// checkpoint come from, so a checkpoint is a complete Hugging Face model
	// directory.
	TokenizerDir string
	// Resolved, when set, is written to Out/config.yaml: the resolved
	// configuration of the run.
	Resolved any
	// Sidecars are JSONL logs the algorithm appends to (e.g. samples.jsonl);
	// like metrics.jsonl they are truncated after the resumed step, so a
	// killed run's records past its last checkpoint are not duplicated.
	Sidecars []string
	// Weights, when set, is what the run trains and what its checkpoints
	// hold as the model instead of the whole model: a LoRA adapter
	// (model.Adapter) on a frozen base, saved in PEFT's layout. nil = every
	// weight of the model, saved as a Hugging Face checkpoint.
	Weights Weights
}

// Weights is the trained part of a model when it is not all of it.
type Weights interface {
	// Params are the weights the optimizer updates.
	Params() []autograd.Param
	// SaveCheckpoint writes them, and any state their exact resume needs
	// (e.g. a dropout RNG position), into a checkpoint directory;
	// LoadCheckpoint reads them back into the same Vars.
	SaveCheckpoint(dir string) error
	LoadCheckpoint(dir string) error
}

// Algorithm is a trainer: what data a step uses and what loss it
// minimises. TrainStep draws the step's data and calls u.Update once per
// optimizer update (GRPO's μ iterations call it μ times; pretraining
// once); it returns the step's metrics.
type Algorithm interface {
	TrainStep(ctx context.Context, u *Update) (map[string]float64, error)
	// State is the algorithm's resumable state (data cursor, RNG position)
	// as a JSON-encodable value, stored in each checkpoint's state.json.
	State() any
	// Restore sets the state from a checkpoint's stored JSON.
	Restore(state json.RawMessage) error
}

// Optional interfaces an Algorithm may implement.
type (
	// Starter is called by Run before the first step, once the run
	// directory and its logs are open.
	Starter interface{ Start(t *Trainer) error }
	// AfterStepper is called after each step's metrics are logged and
	// before its checkpoint is written (e.g. GRPO refreshing its reference).
	AfterStepper interface{ AfterStep(step int) error }
	// Extras writes and reads additional checkpoint content (e.g. GRPO's
	// refreshed reference model) inside the checkpoint directory.
	Extras interface {
		SaveExtras(dir string) error
		LoadExtras(dir string) error
	}
	// Reporter formats the algorithm's part of a progress line.
	Reporter interface {
		Report(m map[string]float64) string
	}
)

// ErrNonFinite stops a run whose loss or gradients became NaN or infinite.
// The failed update is not applied and the last checkpoint is intact, so
// the run can resume (e.g. with a lower learning rate).
var ErrNonFinite = errors.New("non-finite loss or gradient")

// Trainer runs an Algorithm on a model.
type Trainer struct {
	Config Config
	Model  *model.Model
	Algo   Algorithm
	Opt    *optim.AdamW
	// Progress receives one human-readable line every LogEvery steps (nil =
	// silent).
	Progress io.Writer
	// AllReduce, when set, is called after a step's gradients have
	// accumulated and before clipping: where data-parallel training sums
	// gradients across devices. nil on a single device.
	AllReduce func(params []autograd.Param) error

	step int
	// boundary is the algorithm's state after the last completed step
	// (JSON), and inflight the updates the step in progress has applied:
	// a step interrupted inside TrainStep has advanced its data cursor
	// and RNG past the boundary, so the checkpoint written on the way out
	// takes boundary instead (exact resume), and none is written when the
	// weights themselves are mid-step.
	boundary []byte
	inflight int
	metrics  *metrics.Writer
	sidecars map[string]*os.File
}

// New builds the trainer of algo on m's weights (or cfg.Weights) with a
// fresh optimizer.
func New(cfg Config, m *model.Model, algo Algorithm) (*Trainer, error) {
	if cfg.Out == "" {
		return nil, fmt.Errorf("out: a run directory is required")
	}
	if cfg.Steps <= 0 {
		return nil, fmt.Errorf("steps: must be > 0, got %d", cfg.Steps)
	}
	params := m.Params()
	if cfg.Weights != nil {
		params = cfg.Weights.Params()
	}
	opt, err := optim.NewAdamW(cfg.Optim, params)
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	return &Trainer{Config: cfg, Model: m, Algo: algo, Opt: opt}, nil
}

// StepsDone is the number of completed steps.
func (t *Trainer) StepsDone() int { return t.step }

// LR is the learning rate of step (0-based).
func (t *Trainer) LR(step int) float64 { return t.Config.Optim.LR * t.Config.Schedule.Factor(step) }

// Update is what a step's algorithm uses to change the weights.
type Update struct {
	t       *Trainer
	updates int
	norm    float64
}

// Step is the 0-based index of the step being run (the number of steps
// completed before it).
func (u *Update) Step() int { return u.t.step }

// LR is the learning rate this step's updates use.
func (u *Update) LR() float64 { return u.t.LR(u.t.step) }

// Model is the model being trained.
func (u *Update) Model() *model.Model { return u.t.Model }

// Update runs one optimizer update over n micro-batches. For micro-batch i
// it gives loss a fresh tape; loss records the forward pass and seeds the
// gradient of its share of the objective (model.LMLoss with scale 1/n, or
// Tape.SetGrad), and the core runs the backward pass and frees the
// activations before the next micro-batch, so only one micro-batch's
// activations are ever alive. After the last one the gradients are
// all-reduced, clipped and applied by AdamW at the scheduled learning
// rate. It returns the gradient norm before clipping.
func (u *Update) Update(n int, loss func(tp *autograd.Tape, i int) error) (float64, error) {
	t := u.t
	for i := 0; i < n; i++ {
		tp := t.Model.NewTape()
		if err := loss(tp, i); err != nil {
			tp.Reset()
			t.Opt.ZeroGrad()
			return 0, err
		}
		tp.Backward()
		tp.Reset()
	}
	if t.AllReduce != nil {
		if err := t.AllReduce(t.Opt.Params); err != nil {
			t.Opt.ZeroGrad()
			return 0, fmt.Errorf("all-reduce: %w", err)
		}
	}
	norm, err := t.Opt.Step(u.LR(), 1)
	if err != nil {
		return norm, fmt.Errorf("%w at step %d: %v", ErrNonFinite, t.step+1, err)
	}
	u.updates++
	u.norm = norm
	return norm, nil
}

// Step runs one step of the algorithm without logging or checkpointing
// (Run does both) and returns its metrics, with "lr" and, when the step
// updated the weights, "grad_norm" (of its last update) added.
func (t *Trainer) Step(ctx context.Context) (map[string]float64, error) {
	u := &Update{t: t}
	m, err := t.Algo.TrainStep(ctx, u)
	t.inflight = u.updates
	if err != nil {
		return m, err
	}
	if m == nil {
		m = map[string]float64{}
	}
	m["lr"] = u.LR()
	if u.updates > 0 {
		m["grad_norm"] = u.norm
	}
	t.step++
	return m, nil
}

// Run trains until Config.Steps. On cancellation of ctx it writes a
// checkpoint of the last completed step (when this process completed one)
// and returns an error wrapping ctx's.
func (t *Trainer) Run(ctx context.Context) error {
	c := t.Config
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	if c.Resolved != nil {
		y, err := yaml.Marshal(c.Resolved)
		if err != nil {
			return fmt.Errorf("config.yaml: %w", err)
		}
		if err := atomicfile.Write(filepath.Join(c.Out, "config.yaml"), y); err != nil {
			return err
		}
	}
	if err := t.openLogs(); err != nil {
		return err
	}
	defer t.closeLogs()
	if t.Model != nil {
		defer GCTarget(t.Model.Config.WeightBytes())()
	}
	if s, ok := t.Algo.(Starter); ok {
		if err := s.Start(t); err != nil {
			return err
		}
	}
	start := time.Now()
	first := t.step
	var err error
	if t.boundary, err = json.Marshal(t.Algo.State()); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	interrupted := func(err error, inStep bool) error {
		if t.step > first && !(inStep && t.inflight > 0) {
			if serr := t.save(t.boundary); serr != nil {
				return errors.Join(err, serr)
			}
		}
		return fmt.Errorf("interrupted after step %d: %w", t.step, err)
	}
	for t.step < c.Steps {
		if err := ctx.Err(); err != nil {
			return interrupted(err, false)
		}
		m, err := t.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(err, true)
			}
			return fmt.Errorf("step %d: %w", t.step+1, err)
		}
		if t.boundary, err = json.Marshal(t.Algo.State()); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		if err := t.metrics.Log(t.step, m); err != nil {
			return err
		}
		t.progress(m, first, start)
		if a, ok := t.Algo.(AfterStepper); ok {
			if err := a.AfterStep(t.step); err != nil {
				return err
			}
		}
		if (c.SaveEvery > 0 && t.step%c.SaveEvery == 0) || t.step == c.Steps {
			if err := t.Save(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sidecar is the open log file name of Config.Sidecars (nil outside Run).
func (t *Trainer) Sidecar(name string) io.Writer {
	if f, ok := t.sidecars[name]; ok {
		return f
	}
	return nil
}

func (t *Trainer) openLogs() error {
	c := t.Config
	for _, f := range append([]string{"metrics.jsonl"}, c.Sidecars...) {
		if err := metrics.TruncateAfter(filepath.Join(c.Out, f), t.step); err != nil {
			return err
		}
	}
	var err error
	if t.metrics, err = metrics.Open(c.Out); err != nil {
		return err
	}
	t.sidecars = map[string]*os.File{}
	for _, name := range c.Sidecars {
		f, err := os.OpenFile(filepath.Join(c.Out, name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.closeLogs()
			return err
		}
		t.sidecars[name] = f
	}
	return nil
}

func (t *Trainer) closeLogs() {
	if t.metrics != nil {
		t.metrics.Close()
		t.metrics = nil
	}
	for _, f := range t.sidecars {
		f.Close()
	}
	t.sidecars = nil
}

func (t *Trainer) progress(m map[string]float64, first int, start time.Time) {
	every := max(1, t.Config.LogEvery)
	if t.Progress == nil || (t.step%every != 0 && t.step != t.Config.Steps) {
		return
	}
	line := fmt.Sprintf("loss %.4f", m["loss"])
	if r, ok := t.Algo.(Reporter); ok {
		line = r.Report(m)
	}
	el := time.Since(start)
	eta := time.Duration(float64(el) / float64(t.step-first) * float64(t.Config.Steps-t.step))
	fmt.Fprintf(t.Progress, "step %d/%d  %s  elapsed %s  ETA %s\n", t.step, t.Config.Steps, line,
		el.Round(time.Second), eta.Round(time.Second))
}
