package distill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sft"
	"github.com/r1go/r1/tensor"
)

// Pipeline is r1 distill: generate + filter (Generate), then SFT of the
// student on the kept rows (package sft, on the shared training core),
// with the student evaluated before and after. Each stage leaves its
// output in Out and is skipped when a rerun finds it done; an interrupted
// stage resumes (generation from data.jsonl.partial, SFT from its newest
// checkpoint), so rerunning the same command continues the pipeline.
//
//	OUT/data.jsonl          the kept SFT rows (stage 1)
//	OUT/eval_before.json    the student before (stage 2)
//	OUT/sft/                the SFT run and the distilled model (stage 3)
//	OUT/eval_after.json     the distilled student (stage 4)
//	OUT/summary.json        all of it, with each stage's seconds
type Pipeline struct {
	Out     string
	Prompts []Prompt
	// Teacher opens the teacher; it is called only when generation has
	// work left, so a rerun after the generation stage loads no teacher.
	Teacher  func() (Teacher, error)
	Generate GenerateConfig // Out and Resume are set by Run
	SFT      sft.Config     // Data and Out are set by Run; Model is the student
	// KD, when set, trains the SFT stage with logit distillation towards
	// the teacher model in KD.Teacher (same tokenizer) instead of
	// cross-entropy on the teacher's sampled text.
	KD *KDStage
	// Eval, when set, evaluates the student before and after.
	Eval   *Eval
	Device tensor.Backend
	// Progress gets progress lines (nil: none).
	Progress io.Writer
}

// Eval is how the student is evaluated: grpo's evaluation (pass@1 over K
// samples by the dataset's judge, format rate by the configured format
// reward), on held-out rows. Before and After are the GRPO configs
// (template, format reward, max_new_tokens) for the student as it is
// before SFT (a base model: r1-zero) and after (a chat model: chat); their
// Model and Out are set by Run.
type Eval struct {
	Rows          []data.Example
	Sampling      grpo.EvalSampling
	Before, After grpo.Config
}

// KDStage configures logit distillation in the SFT stage.
type KDStage struct {
	Kind    string  `json:"kind"`
	Beta    float64 `json:"beta"`
	Teacher string  `json:"teacher"` // model directory
}

// Summary is summary.json.
type Summary struct {
	Teacher  map[string]any     `json:"teacher"`
	Student  string             `json:"student"`
	Prompts  int                `json:"prompts"`
	Samples  int                `json:"samples"`
	Kept     int                `json:"kept"`
	Dropped  map[string]int     `json:"dropped"`
	General  int                `json:"general"`
	SFTSteps int                `json:"sft_steps"`
	Before   *grpo.EvalResult   `json:"before,omitempty"`
	After    *grpo.EvalResult   `json:"after,omitempty"`
	KD       *KDStage           `json:"kd,omitempty"`
	Seconds  map[string]float64 `json:"seconds"`
	Model    string             `json:"model"` // the distilled student
}

// stageFile is a finished stage's record.
type generateDone struct {
	Stats   GenerateStats  `json:"stats"`
	Teacher map[string]any `json:"teacher"`
	Seconds float64        `json:"seconds"`
}

type evalDone struct {
	Result  grpo.EvalResult `json:"result"`
	Seconds float64         `json:"seconds"`
}

type sftDone struct {
	Steps   int     `json:"steps"`
	Seconds float64 `json:"seconds"`
}

func (p *Pipeline) say(format string, a ...any) {
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, format+"\n", a...)
	}
}

// Run runs the stages not yet done.
func (p *Pipeline) Run(ctx context.Context) (Summary, error) {
	sum := Summary{Student: p.SFT.Model, Seconds: map[string]float64{}}
	if err := os.MkdirAll(p.Out, 0o755); err != nil {
		return sum, err
	}
	path := func(name string) string { return filepath.Join(p.Out, name) }

	// Stage 1: generate + filter.
	var gen generateDone
	if err := readJSON(path("generate.json"), &gen); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return sum, err
		}
		t, err := p.Teacher()
		if err != nil {
			return sum, err
		}
		g := p.Generate
		g.Out = path("data.jsonl")
		_, perr := os.Stat(g.Out + ".partial")
		g.Resume = perr == nil
		p.say("distill: stage 1/4: generate %d × %d answers → %s", len(p.Prompts), g.N, g.Out)
		start := time.Now()
		st, err := Generate(ctx, g, p.Prompts, t)
		if err != nil {
			return sum, fmt.Errorf("generate: %w", err)
		}
		gen = generateDone{Stats: st, Teacher: t.Provenance(), Seconds: time.Since(start).Seconds()}
		if err := writeJSON(path("generate.json"), gen); err != nil {
			return sum, err
		}
	} else {
		p.say("distill: stage 1/4: done earlier (%s)", path("generate.json"))
	}
	p.say("filters: %s", gen.Stats.Filter)
	sum.Teacher, sum.Prompts, sum.Samples = gen.Teacher, gen.Stats.Prompts, gen.Stats.Samples
	sum.Kept, sum.Dropped, sum.General = gen.Stats.Filter.Kept, gen.Stats.Filter.Dropped, gen.Stats.General
	sum.Seconds["generate"] = gen.Seconds
	if gen.Stats.Filter.Kept+gen.Stats.General == 0 {
		return sum, fmt.Errorf("generate: no row kept (%s): nothing to fine-tune on", gen.Stats.Filter)
	}

	// Stage 2: the student before.
	if p.Eval != nil {
		r, secs, err := p.evaluate(ctx, path("eval_before.json"), "before", p.SFT.Model, p.Eval.Before)
		if err != nil {
			return sum, err
		}
		sum.Before, sum.Seconds["eval_before"] = &r, secs
	}

	// Stage 3: SFT.
	c := p.SFT
	c.Data, c.Out = path("data.jsonl"), path("sft")
	sum.Model = c.Out
	var sd sftDone
	if err := readJSON(path("sft.json"), &sd); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return sum, err
		}
		p.say("distill: stage 3/4: SFT of %s on %s → %s", c.Model, c.Data, c.Out)
		start := time.Now()
		tr, err := sft.New(c, p.Device)
		if err != nil {
			return sum, fmt.Errorf("sft: %w", err)
		}
		tr.Progress = p.Progress
		if p.KD != nil {
			if err := SameTokenizer(p.KD.Teacher, c.Model); err != nil {
				return sum, err
			}
			teacher, err := model.Load(p.KD.Teacher, p.Device)
			if err != nil {
				return sum, fmt.Errorf("kd teacher: %w", err)
			}
			tr.Loss = (&KD{Kind: p.KD.Kind, Beta: p.KD.Beta, Student: tr.Model, Teacher: teacher}).Loss
			p.say("sft: loss = %s divergence from %s's logits (β %g)", p.KD.Kind, p.KD.Teacher, p.KD.Beta)
		}
		if ok, err := tr.Resume(); err != nil {
			return sum, fmt.Errorf("sft: %w", err)
		} else if ok {
			p.say("sft: resumed at step %d", tr.StepsDone())
		}
		if err := tr.Run(ctx); err != nil {
			return sum, fmt.Errorf("sft: %w (rerun the same command to continue)", err)
		}
		if err := tr.SaveFinal(); err != nil {
			return sum, err
		}
		sd = sftDone{Steps: tr.StepsDone(), Seconds: time.Since(start).Seconds()}
		if err := writeJSON(path("sft.json"), sd); err != nil {
			return sum, err
		}
	} else {
		p.say("distill: stage 3/4: done earlier (%s)", path("sft.json"))
	}
	sum.SFTSteps, sum.Seconds["sft"], sum.KD = sd.Steps, sd.Seconds, p.KD

	// Stage 4: the student after.
	if p.Eval != nil {
		r, secs, err := p.evaluate(ctx, path("eval_after.json"), "after", c.Out, p.Eval.After)
		if err != nil {
			return sum, err
		}
		sum.After, sum.Seconds["eval_after"] = &r, secs
	}
	return sum, writeJSON(path("summary.json"), sum)
}

// evaluate runs (or reads back) one evaluation of model.
func (p *Pipeline) evaluate(ctx context.Context, file, label, model string, cfg grpo.Config) (grpo.EvalResult, float64, error) {
	var d evalDone
	if err := readJSON(file, &d); err == nil {
		p.say("distill: eval %s: done earlier (%s)", label, file)
		return d.Result, d.Seconds, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return d.Result, 0, err
	}
	p.say("distill: evaluating the student %s (%s) on %d held-out problems × %d samples", label, model, len(p.Eval.Rows), p.Eval.Sampling.K)
	start := time.Now()
	cfg.Model = model
	cfg.Out = filepath.Join(p.Out, "eval_"+label)
	tr, err := grpo.New(cfg, p.Device)
	if err != nil {
		return d.Result, 0, fmt.Errorf("eval %s: %w", label, err)
	}
	r, err := tr.Evaluate(ctx, p.Eval.Rows, p.Eval.Sampling)
	if err != nil {
		return r, 0, fmt.Errorf("eval %s: %w", label, err)
	}
	d = evalDone{Result: r, Seconds: time.Since(start).Seconds()}
	return r, d.Seconds, writeJSON(file, d)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w (delete it to redo its stage)", path, err)
	}
	return nil
}
