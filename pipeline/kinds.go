package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/r1go/r1/assets"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/distill"
	"github.com/r1go/r1/dpo"
	"github.com/r1go/r1/filter"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/ppo"
	"github.com/r1go/r1/rm"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/sft"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/train"
)

// Env is what a running stage gets besides its config.
type Env struct {
	// OpenDevice returns the backend a config's device key names.
	OpenDevice func(name string) (tensor.Backend, error)
	// Progress gets the trainers' progress lines (nil: none).
	Progress io.Writer
}

// Kind is one command a stage can run.
type Kind struct {
	// New returns a pointer to the command's config with its defaults.
	New func() any
	// Prepare points the config at the stage's directory (out, and any
	// path the stage owns) and resolves model references (builtin:tiny).
	Prepare func(cfg any, dir string) error
	// Outputs are the paths later stages may refer to: "output" (the
	// model directory or data file the stage makes), and per kind more.
	Outputs func(cfg any, dir string) map[string]string
	// Run runs the stage; with resume it continues an interrupted run in
	// dir, otherwise dir holds nothing of an earlier run.
	Run func(ctx context.Context, env *Env, cfg any, dir string, resume bool) error
}

// Kinds are the stage kinds by name.
var Kinds = map[string]*Kind{
	"sft":      sftKind,
	"grpo":     grpoKind,
	"ppo":      ppoKind,
	"generate": generateKind,
	"pairs":    pairsKind,
	"rm":       rmKind,
	"dpo":      dpoKind,
	"distill":  distillKind,
	"eval":     evalKind,
}

// KindNames lists the kinds.
func KindNames() []string {
	var ns []string
	for n := range Kinds {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// ResolveModel turns a model reference into a directory: builtin:tiny is
// the model carried in the binary, anything else a path.
func ResolveModel(ref string) (string, error) {
	if ref != "builtin:tiny" {
		return ref, nil
	}
	dir, err := assets.TinyDir()
	if err != nil {
		return "", fmt.Errorf("model: builtin:tiny: %w", err)
	}
	return dir, nil
}

// trainer is what the sft, grpo, rm and dpo trainers have in common.
type trainer interface {
	Resume() (bool, error)
	Run(ctx context.Context) error
	StepsDone() int
}

// runTrainer resumes (when asked) and runs a trainer; final saves the
// model when training ends (SFT, RM, DPO; GRPO's last checkpoint is its
// model).
func runTrainer(ctx context.Context, env *Env, tr trainer, resume bool, final func() error) error {
	if resume {
		ok, err := tr.Resume()
		if err != nil {
			return err
		}
		if ok && env.Progress != nil {
			fmt.Fprintf(env.Progress, "resumed at step %d\n", tr.StepsDone())
		}
	}
	if err := tr.Run(ctx); err != nil {
		return err
	}
	if final != nil {
		return final()
	}
	return nil
}

// fresh clears a training run directory unless resuming.
func fresh(dir string, resume bool) error {
	if resume {
		return nil
	}
	return train.Prepare(dir, true)
}

// trainSpec describes a trainer on the training core for trainKind: its
// config type C with defaults, where C keeps its output directory, model
// and device, and how to build the trainer (with the final save, if the
// trainer's model is not its last checkpoint).
type trainSpec[C any] struct {
	defaults func() C
	fields   func(c *C) (out, model, device *string)
	validate func(c *C) error
	// outputs are the stage's outputs (nil: the run directory is the
	// model, as sft, rm and dpo save it).
	outputs func(c *C, dir string) map[string]string
	build   func(c C, dev tensor.Backend, progress io.Writer) (tr trainer, final func() error, err error)
}

// trainKind is the stage kind of a trainer: one copy of the preparing,
// the fresh-or-resume logic and the device opening for all of them.
func trainKind[C any](s trainSpec[C]) *Kind {
	return &Kind{
		New: func() any { c := s.defaults(); return &c },
		Prepare: func(cfg any, dir string) error {
			c := cfg.(*C)
			out, model, _ := s.fields(c)
			*out = dir
			var err error
			if *model, err = ResolveModel(*model); err != nil {
				return err
			}
			return s.validate(c)
		},
		Outputs: func(cfg any, dir string) map[string]string {
			if s.outputs != nil {
				return s.outputs(cfg.(*C), dir)
			}
			return map[string]string{"output": dir, "model": dir, "metrics": filepath.Join(dir, "metrics.jsonl")}
		},
		Run: func(ctx context.Context, env *Env, cfg any, dir string, resume bool) error {
			c := *cfg.(*C)
			if err := fresh(dir, resume); err != nil {
				return err
			}
			_, _, device := s.fields(&c)
			dev, err := env.OpenDevice(*device)
			if err != nil {
				return err
			}
			tr, final, err := s.build(c, dev, env.Progress)
			if err != nil {
				return err
			}
			return runTrainer(ctx, env, tr, resume, final)
		},
	}
}

var sftKind = trainKind(trainSpec[sft.Config]{
	defaults: sft.Default,
	fields:   func(c *sft.Config) (*string, *string, *string) { return &c.Out, &c.Model, &c.Device },
	validate: (*sft.Config).Validate,
	build: func(c sft.Config, dev tensor.Backend, progress io.Writer) (trainer, func() error, error) {
		tr, err := sft.New(c, dev)
		if err != nil {
			return nil, nil, err
		}
		tr.Progress = progress
		if st := tr.ColdStartStats; st != nil && progress != nil {
			fmt.Fprintf(progress, "cold start from %s: %s\n", c.Data, st)
		}
		return tr, tr.SaveFinal, nil
	},
})

// rlOutputs are an RL run's outputs: it saves a checkpoint at its last
// step, the trained policy, and logs samples.
func rlOutputs(c *grpo.Config, dir string) map[string]string {
	final := filepath.Join(dir, "checkpoints", fmt.Sprintf("step-%d", c.Steps))
	return map[string]string{"output": final, "model": final, "samples": filepath.Join(dir, "samples.jsonl"),
		"metrics": filepath.Join(dir, "metrics.jsonl")}
}

var grpoKind = trainKind(trainSpec[grpo.Config]{
	defaults: grpo.Default,
	fields:   func(c *grpo.Config) (*string, *string, *string) { return &c.Out, &c.Model, &c.Device },
	validate: (*grpo.Config).Validate,
	outputs:  rlOutputs,
	build: func(c grpo.Config, dev tensor.Backend, progress io.Writer) (trainer, func() error, error) {
		tr, err := grpo.New(c, dev)
		if err != nil {
			return nil, nil, err
		}
		tr.Progress = progress
		return tr, nil, nil
	},
})

// ppoKind runs r1 ppo: r1 grpo's config shape plus ppo.*, so a GRPO
// preset (tiny-zero) serves as its base too.
var ppoKind = trainKind(trainSpec[ppo.Config]{
	defaults: ppo.Default,
	fields:   func(c *ppo.Config) (*string, *string, *string) { return &c.Out, &c.Model, &c.Device },
	validate: func(c *ppo.Config) error {
		if c.PPO.CriticModel != "" {
			var err error
			if c.PPO.CriticModel, err = ResolveModel(c.PPO.CriticModel); err != nil {
				return err
			}
		}
		return c.Validate()
	},
	outputs: func(c *ppo.Config, dir string) map[string]string { return rlOutputs(&c.Config, dir) },
	build: func(c ppo.Config, dev tensor.Backend, progress io.Writer) (trainer, func() error, error) {
		tr, err := ppo.New(c, dev)
		if err != nil {
			return nil, nil, err
		}
		tr.Progress = progress
		return tr, nil, nil
	},
})

var rmKind = trainKind(trainSpec[rm.Config]{
	defaults: rm.Default,
	fields:   func(c *rm.Config) (*string, *string, *string) { return &c.Out, &c.Model, &c.Device },
	validate: (*rm.Config).Validate,
	build: func(c rm.Config, dev tensor.Backend, progress io.Writer) (trainer, func() error, error) {
		tr, err := rm.New(c, dev)
		if err != nil {
			return nil, nil, err
		}
		tr.Progress = progress
		return tr, tr.SaveFinal, nil
	},
})

var dpoKind = trainKind(trainSpec[dpo.Config]{
	defaults: dpo.Default,
	fields:   func(c *dpo.Config) (*string, *string, *string) { return &c.Out, &c.Model, &c.Device },
	validate: (*dpo.Config).Validate,
	build: func(c dpo.Config, dev tensor.Backend, progress io.Writer) (trainer, func() error, error) {
		tr, err := dpo.New(c, dev)
		if err != nil {
			return nil, nil, err
		}
		tr.Progress = progress
		return tr, tr.SaveFinal, nil
	},
})

// Teacher is a teacher and its sampling, as r1 generate's flags set
// them: a local model, or an OpenAI-compatible endpoint.
type Teacher struct {
	// Model is the teacher's checkpoint directory (or builtin:tiny); with
	// URL, the model name to request.
	Model string `yaml:"model"`
	// URL is an OpenAI-compatible API base (vLLM, SGLang, DeepSeek's
	// API); APIKeyEnv names the environment variable with its key.
	URL         string `yaml:"url"`
	APIKeyEnv   string `yaml:"api_key_env"`
	Concurrency int    `yaml:"concurrency"`
	// Template is a local teacher's prompt format: r1-zero, chat or plain.
	Template     string  `yaml:"template"`
	MaxNewTokens int     `yaml:"max_new_tokens"`
	Temperature  float64 `yaml:"temperature"`
	TopP         float64 `yaml:"top_p"`
	TopK         int     `yaml:"top_k"`
	Seed         uint64  `yaml:"seed"`
	// Batch is the most sequences decoding at once.
	Batch  int    `yaml:"batch"`
	Device string `yaml:"device"`
}

func defaultTeacher() Teacher {
	return Teacher{APIKeyEnv: "OPENAI_API_KEY", Concurrency: 8, Template: "r1-zero", MaxNewTokens: 256, Temperature: 0.6, TopP: 0.95, Seed: 1, Batch: 64, Device: "cpu"}
}

func (t *Teacher) validate() error {
	if t.Model == "" {
		return fmt.Errorf("teacher.model: a checkpoint directory is required")
	}
	if t.URL == "" {
		var err error
		if t.Model, err = ResolveModel(t.Model); err != nil {
			return fmt.Errorf("teacher.%w", err)
		}
	} else if t.Concurrency <= 0 {
		return fmt.Errorf("teacher.concurrency: must be > 0, got %d", t.Concurrency)
	}
	p := t.params()
	if err := p.Validate(); err != nil {
		return fmt.Errorf("teacher: %w", err)
	}
	if t.Batch <= 0 {
		return fmt.Errorf("teacher.batch: must be > 0, got %d", t.Batch)
	}
	return nil
}

func (t *Teacher) params() sample.Params {
	return sample.Params{Temperature: t.Temperature, TopP: t.TopP, TopK: t.TopK, MaxNewTokens: t.MaxNewTokens, Seed: t.Seed}
}

func (t *Teacher) open(env *Env, n int) (distill.Teacher, error) {
	if t.URL != "" {
		c, err := openai.New(openai.Config{URL: t.URL, Model: t.Model, APIKeyEnv: t.APIKeyEnv, Concurrency: t.Concurrency})
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		return &distill.Remote{Client: c, Temperature: t.Temperature, TopP: t.TopP, MaxTokens: t.MaxNewTokens, Seed: t.Seed}, nil
	}
	dev, err := env.OpenDevice(t.Device)
	if err != nil {
		return nil, err
	}
	return distill.LoadLocal(t.Model, dev, t.params(), t.Template, max(t.Batch, n))
}

// Prompts pick a dataset's problems, as r1 generate's --prompts,
// --split and --limit do.
type Prompts struct {
	// Dataset is a registry name (synthetic:arithmetic, gsm8k, …) or a
	// JSONL file.
	Dataset string `yaml:"dataset"`
	Split   string `yaml:"split"`
	Limit   int    `yaml:"limit"`
}

func (p Prompts) load() ([]distill.Prompt, error) {
	ds, err := data.Open(p.Dataset, p.Split, data.Options{Dir: data.FindDir(), Limit: p.Limit})
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	return distill.PromptsFrom(ds)
}

// GenerateConfig is a generate stage: r1 generate with a local teacher.
type GenerateConfig struct {
	Teacher Teacher `yaml:"teacher"`
	Prompts Prompts `yaml:"prompts"`
	// N is the answers per prompt (K).
	N int `yaml:"n"`
	// Filter is r1 generate's filters; NoFilter keeps every sample.
	Filter   filter.Config `yaml:"filter"`
	NoFilter bool          `yaml:"no_filter"`
	// Mix adds general SFT rows from MixFile, MixRatio per kept row.
	MixFile  string  `yaml:"mix_file"`
	MixRatio float64 `yaml:"mix_ratio"`
}

func (g *GenerateConfig) validate() error {
	if err := g.Teacher.validate(); err != nil {
		return err
	}
	if g.Prompts.Dataset == "" {
		return fmt.Errorf("prompts.dataset: required")
	}
	if g.N <= 0 {
		return fmt.Errorf("n: must be > 0, got %d", g.N)
	}
	if !g.NoFilter {
		if err := g.Filter.Validate(); err != nil {
			return fmt.Errorf("filter: %w", err)
		}
	}
	return nil
}

func (g *GenerateConfig) distillConfig(out string, resume bool, progress io.Writer) distill.GenerateConfig {
	return distill.GenerateConfig{Out: out, N: g.N, Resume: resume, Filter: g.Filter, NoFilter: g.NoFilter,
		MixFile: g.MixFile, MixRatio: g.MixRatio, MixSeed: g.Teacher.Seed, Progress: progress}
}

var generateKind = &Kind{
	New: func() any {
		return &GenerateConfig{Teacher: defaultTeacher(), Prompts: Prompts{Split: "train"}, N: 4, Filter: filter.Defaults()}
	},
	Prepare: func(cfg any, dir string) error { return cfg.(*GenerateConfig).validate() },
	Outputs: func(cfg any, dir string) map[string]string {
		return map[string]string{"output": filepath.Join(dir, "data.jsonl"), "data": filepath.Join(dir, "data.jsonl")}
	},
	Run: func(ctx context.Context, env *Env, cfg any, dir string, resume bool) error {
		g := cfg.(*GenerateConfig)
		out := filepath.Join(dir, "data.jsonl")
		_, perr := os.Stat(out + ".partial")
		resume = resume && perr == nil
		if !resume {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		ps, err := g.Prompts.load()
		if err != nil {
			return err
		}
		t, err := g.Teacher.open(env, g.N)
		if err != nil {
			return err
		}
		st, err := distill.Generate(ctx, g.distillConfig(out, resume, env.Progress), ps, t)
		if err != nil {
			return err
		}
		return writeJSON(filepath.Join(dir, "generate.json"), map[string]any{"prompts": st.Prompts, "samples": st.Samples,
			"kept": st.Filter.Kept, "dropped": st.Filter.Dropped, "general": st.General, "seconds": st.Elapsed.Seconds(), "tokens": st.Tokens})
	},
}

// PairsConfig is a pairs stage: r1 rm pairs.
type PairsConfig struct {
	// Synthetic draws N pairs of the tiny model's world (helpful or
	// harmless) with Seed; FromScored builds on-policy pairs from scored
	// samples (an RL stage's samples.jsonl) by Label.
	Synthetic  string `yaml:"synthetic"`
	N          int    `yaml:"n"`
	Seed       uint64 `yaml:"seed"`
	FromScored string `yaml:"from_scored"`
	Label      string `yaml:"label"`
	PerPrompt  int    `yaml:"per_prompt"`
}

var pairsKind = &Kind{
	New: func() any { return &PairsConfig{N: 2000, Seed: 1, Label: "math"} },
	Prepare: func(cfg any, dir string) error {
		c := cfg.(*PairsConfig)
		if (c.Synthetic == "") == (c.FromScored == "") {
			return fmt.Errorf("give exactly one of synthetic (helpful, harmless) and from_scored (a samples file)")
		}
		return nil
	},
	Outputs: func(cfg any, dir string) map[string]string {
		return map[string]string{"output": filepath.Join(dir, "pairs.jsonl")}
	},
	Run: func(ctx context.Context, env *Env, cfg any, dir string, resume bool) error {
		c := cfg.(*PairsConfig)
		var rows []data.PreferenceRow
		var err error
		if c.Synthetic != "" {
			rows, err = data.SyntheticPreferences(c.Synthetic, c.N, c.Seed)
		} else {
			var ss []data.ScoredSample
			if ss, err = data.ReadJSONLFile[data.ScoredSample](c.FromScored); err == nil {
				rows, err = data.PairsFromScored(ss, c.Label, c.PerPrompt)
			}
		}
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("no pairs")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return data.WriteJSONLFile(filepath.Join(dir, "pairs.jsonl"), rows)
	},
}

// DistillConfig is a distill stage: r1 distill with a local teacher
// (generate + filter, then SFT of the student on the kept rows). The
// student's evaluation is an eval stage of its own.
type DistillConfig struct {
	GenerateConfig `yaml:",inline"`
	// Student is the model fine-tuned (a checkpoint directory or
	// builtin:tiny); SFT is its run's config (model, data and out are set
	// by the stage).
	Student string     `yaml:"student"`
	SFT     sft.Config `yaml:"sft"`
}

var distillKind = &Kind{
	New: func() any {
		return &DistillConfig{GenerateConfig: GenerateConfig{Teacher: defaultTeacher(), Prompts: Prompts{Split: "train"}, N: 4, Filter: filter.Defaults()},
			SFT: sft.Default()}
	},
	Prepare: func(cfg any, dir string) error {
		c := cfg.(*DistillConfig)
		if err := c.GenerateConfig.validate(); err != nil {
			return err
		}
		var err error
		if c.Student, err = ResolveModel(c.Student); err != nil {
			return fmt.Errorf("student: %w", err)
		}
		c.SFT.Model, c.SFT.Data, c.SFT.Out = c.Student, filepath.Join(dir, "data.jsonl"), filepath.Join(dir, "sft")
		if err := c.SFT.Validate(); err != nil {
			return fmt.Errorf("sft.%w", err)
		}
		return nil
	},
	Outputs: func(cfg any, dir string) map[string]string {
		return map[string]string{"output": filepath.Join(dir, "sft"), "model": filepath.Join(dir, "sft"),
			"data": filepath.Join(dir, "data.jsonl"), "metrics": filepath.Join(dir, "sft", "metrics.jsonl")}
	},
	Run: func(ctx context.Context, env *Env, cfg any, dir string, resume bool) error {
		c := cfg.(*DistillConfig)
		if !resume {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
		ps, err := c.Prompts.load()
		if err != nil {
			return err
		}
		dev, err := env.OpenDevice(c.SFT.Device)
		if err != nil {
			return err
		}
		p := &distill.Pipeline{Out: dir, Prompts: ps, Teacher: func() (distill.Teacher, error) { return c.Teacher.open(env, c.N) },
			Generate: c.distillConfig("", false, env.Progress), SFT: c.SFT, Device: dev, Progress: env.Progress}
		_, err = p.Run(ctx)
		return err
	},
}
