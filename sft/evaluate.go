package sft

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/eval"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
)

// BenchEval is the `eval:` block: every Every steps (and after the last)
// the model being trained samples a benchmark of the data registry and is
// judged by the benchmark's judge, exactly as `r1 eval` does it (package
// eval: the same prompts, sampler, judges and pass@k / cons@k), with the
// figures logged to metrics.jsonl as eval/<bench>/pass@1 and so on.
type BenchEval struct {
	// Dataset is a registry name (gsm8k, math500, synthetic, …) or a JSONL
	// file of problems, as r1 eval --bench takes it; "" = off.
	Dataset string `yaml:"dataset"`
	// Split is the split evaluated (default test).
	Split string `yaml:"split"`
	// Every evaluates every N steps (and after the last step); 0 = only
	// after the last.
	Every int `yaml:"every"`
	// N is the number of problems, the dataset's first N (0 = all; for
	// synthetic datasets, how many to draw).
	N int `yaml:"n"`
	// K samples per problem (pass@1 is their mean correctness; cons@k
	// votes over them).
	K int `yaml:"k"`
	// Prompt is chat (the chat template the run trains with, the question
	// followed by DeepSeek's step-by-step instruction, as r1 eval renders
	// it), chat-bare (the question alone: what a cold start teaches),
	// r1-zero, plain, or auto: chat when the run renders conversations
	// with a template, else r1-zero.
	Prompt string `yaml:"prompt"`
	// Temperature and TopP sample as the R1 paper evaluates (0.6, 0.95).
	Temperature float64 `yaml:"temperature"`
	TopP        float64 `yaml:"top_p"`
	// MaxNewTokens bounds a completion (capped by the model's context).
	MaxNewTokens int `yaml:"max_new_tokens"`
	// Seed fixes the samples: the same weights give the same figures.
	Seed uint64 `yaml:"seed"`
}

// DefaultBenchEval is off, with r1 eval's sampling.
func DefaultBenchEval() BenchEval {
	return BenchEval{Split: data.SplitTest, K: 4, Prompt: "auto", Temperature: 0.6, TopP: 0.95, MaxNewTokens: 512, Seed: 12345}
}

// Enabled reports whether a benchmark is configured.
func (b *BenchEval) Enabled() bool { return b.Dataset != "" }

// Validate checks the block, naming the key under eval.
func (b *BenchEval) Validate() error {
	if !b.Enabled() {
		return nil
	}
	switch {
	case b.Every < 0:
		return fmt.Errorf("eval.every: must be ≥ 0, got %d", b.Every)
	case b.N < 0:
		return fmt.Errorf("eval.n: must be ≥ 0 (0 = all), got %d", b.N)
	case b.K <= 0:
		return fmt.Errorf("eval.k: must be > 0, got %d", b.K)
	case b.MaxNewTokens <= 0:
		return fmt.Errorf("eval.max_new_tokens: must be > 0, got %d", b.MaxNewTokens)
	case !(b.Temperature >= 0) || !(b.TopP > 0 && b.TopP <= 1):
		return fmt.Errorf("eval.temperature %g, eval.top_p %g: want temperature ≥ 0 and top_p in (0, 1]", b.Temperature, b.TopP)
	}
	switch b.Prompt {
	case "auto", "chat", "chat-bare", "r1-zero", "plain":
	default:
		return fmt.Errorf("eval.prompt: %q: want auto, chat, chat-bare, r1-zero or plain", b.Prompt)
	}
	return nil
}

// openBench loads the benchmark of c (nil when none is configured).
func openBench(c BenchEval) (*data.Dataset, error) {
	if !c.Enabled() {
		return nil, nil
	}
	d, err := data.Open(c.Dataset, c.Split, data.Options{Dir: data.FindDir(), Limit: c.N})
	if err != nil {
		return nil, fmt.Errorf("eval.dataset: %w", err)
	}
	return d, nil
}

// dueBenchEval reports whether the benchmark is evaluated once step
// steps of a run of steps are done.
func (t *Trainer) dueBenchEval(step, steps int) bool {
	e := t.Config.Eval
	return t.bench != nil && (step == steps || (e.Every > 0 && step%e.Every == 0))
}

// EvalBench samples the configured benchmark with the model as it is
// after step steps and judges it with eval.Run, writing r1 eval's files
// (results.json, samples.jsonl, report.md) into OUT/eval/step-N; it returns the
// figures as metrics: eval/<bench>/pass@1, pass@k, cons@k, mean_tokens
// and truncated (a fraction of the samples).
func (t *Trainer) EvalBench(ctx context.Context, step int) (map[string]float64, error) {
	c := t.Config.Eval
	prompt := c.Prompt
	if prompt == "auto" {
		prompt = "r1-zero"
		if t.renderer.Template != nil {
			prompt = "chat"
		}
	}
	params := sample.Params{Temperature: c.Temperature, TopP: c.TopP, MaxNewTokens: c.MaxNewTokens, Seed: c.Seed,
		StopIDs: t.stopIDs()}
	if prompt == "r1-zero" {
		params.StopStrings, params.IncludeStopString = []string{"</answer>"}, true
	}
	out := filepath.Join(t.Config.Out, "eval", fmt.Sprintf("step-%d", step))
	// eval.Run resumes from the samples it finds in out; these are the
	// weights of another run (or of this step before a resume): start over.
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	cfg := eval.Config{
		Settings: eval.Settings{Model: t.Config.Model, ModelStamp: fmt.Sprintf("step %d", step), Prompt: prompt,
			K: c.K, Samples: c.K, Temperature: c.Temperature, TopP: c.TopP, MaxNewTokens: c.MaxNewTokens, Seed: c.Seed},
		Out: out, Template: t.renderer.Template,
	}
	gen := &eval.ModelGenerator{Engine: &sample.Engine{Model: t.Model, MaxBatch: 64}, Tokenizer: t.Tok, Params: params,
		AddSpecial: !eval.IsChatPrompt(prompt)}
	res, err := eval.Run(ctx, cfg, gen, []*data.Dataset{t.bench})
	if err != nil {
		return nil, fmt.Errorf("eval on %s at step %d: %w", t.bench.Name, step, err)
	}
	br := res.Benchmarks[t.bench.Name]
	p := "eval/" + t.bench.Name + "/"
	return map[string]float64{p + "pass@1": br.PassAt1, p + "pass@k": br.PassAtK, p + "cons@k": br.ConsAtK,
		p + "mean_tokens": br.MeanTokens, p + "truncated": float64(br.Truncated) / float64(max(1, br.N*br.Samples))}, nil
}

// stopIDs end a sample: the base's EOS ids and, for a model taught
// ChatML here, <|im_end|> (what SaveFinal adds to generation_config.json).
func (t *Trainer) stopIDs() []int32 {
	ids := model.StopIDs(t.Config.Model, t.Model.Config, t.Tok.EOS)
	if r := t.renderer; r.Template != nil && r.Template.Name == "chatml" {
		if id, ok := t.Tok.TokenID("<|im_end|>"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}
