package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/eval"
	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/reward"
	_ "github.com/r1go/r1/reward/all" // the rewards stages' configs name
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

// EvalConfig is an eval stage: r1 eval of one model on one benchmark
// (pass@1 over Samples samples, pass@k, cons@k), plus the format rate and
// language consistency of the same samples.
type EvalConfig struct {
	// Label names the model in the report's summary (e.g. "R1-Zero").
	Label string `yaml:"label"`
	Model string `yaml:"model"`
	// Bench is a registry benchmark (synthetic, gsm8k, math500, aime24,
	// …) or a JSONL file; its Split is evaluated.
	Bench        string  `yaml:"bench"`
	Split        string  `yaml:"split"`
	Limit        int     `yaml:"limit"`
	K            int     `yaml:"k"`
	Samples      int     `yaml:"samples"`
	Temperature  float64 `yaml:"temperature"`
	TopP         float64 `yaml:"top_p"`
	MaxNewTokens int     `yaml:"max_new_tokens"`
	// Prompt is r1 eval's --prompt: chat, chat-bare, r1-zero, plain, auto.
	Prompt   string `yaml:"prompt"`
	Seed     uint64 `yaml:"seed"`
	MaxBatch int    `yaml:"max_batch"`
	Device   string `yaml:"device"`
	// FormatReward is the reward whose full marks count as well formatted
	// (format: R1-Zero's tags; format_summary: R1's think + summary);
	// auto picks by prompt. Language is the language-consistency
	// target ("" skips it).
	FormatReward string `yaml:"format_reward"`
	Language     string `yaml:"language"`
}

// EvalSummary is an eval stage's summary.json, what the report reads.
type EvalSummary struct {
	Label      string  `json:"label"`
	Model      string  `json:"model"`
	Bench      string  `json:"bench"`
	N          int     `json:"n"`
	K          int     `json:"k"`
	PassAt1    float64 `json:"pass@1"`
	PassAtK    float64 `json:"pass@k"`
	ConsAtK    float64 `json:"cons@k"`
	FormatRate float64 `json:"format_rate"`
	MeanLength float64 `json:"mean_length"`
	// Language is the mean share of reasoning words in the target
	// language (-1 when not measured).
	Language float64 `json:"language"`
	// Examples are a few samples (prompt, completion, correct).
	Examples []Example `json:"examples"`
}

// Example is a sample shown in the report.
type Example struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Correct    bool   `json:"correct"`
}

const evalSummaryFile = "summary.json"

var evalKind = &Kind{
	New: func() any {
		return &EvalConfig{Bench: "synthetic", Split: data.SplitTest, Limit: 200, K: 4, Temperature: 0.6, TopP: 0.95, MaxNewTokens: 32768,
			Prompt: "auto", MaxBatch: 64, Device: "cpu", FormatReward: "auto", Language: "en"}
	},
	Prepare: func(cfg any, dir string) error {
		c := cfg.(*EvalConfig)
		var err error
		if c.Model, err = ResolveModel(c.Model); err != nil {
			return err
		}
		switch {
		case c.Model == "":
			return fmt.Errorf("model: required")
		case c.Bench == "":
			return fmt.Errorf("bench: required")
		case c.Samples == 0:
			c.Samples = c.K
		}
		s := eval.Settings{Prompt: c.Prompt, K: c.K, Samples: c.Samples}
		if s.Prompt == "auto" {
			s.Prompt = "chat"
		}
		if err := s.Validate(); err != nil {
			return err
		}
		if c.MaxNewTokens <= 0 || c.MaxBatch <= 0 {
			return fmt.Errorf("max_new_tokens and max_batch: must be > 0")
		}
		return nil
	},
	Outputs: func(cfg any, dir string) map[string]string {
		return map[string]string{"output": filepath.Join(dir, evalSummaryFile), "results": filepath.Join(dir, eval.ResultsFile),
			"samples": filepath.Join(dir, eval.SamplesFile)}
	},
	Run: runEval,
}

// runEval is r1 eval's runner on the stage's model (resumable: eval.Run
// continues from the samples it finds), then the format and language
// scores of its samples.
func runEval(ctx context.Context, env *Env, cfg any, dir string, resume bool) error {
	c := cfg.(*EvalConfig)
	if !resume {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	ds, err := data.Open(c.Bench, c.Split, data.Options{Dir: data.FindDir(), Limit: c.Limit})
	if err != nil {
		return fmt.Errorf("bench %s: %w", c.Bench, err)
	}
	tok, err := tokenizer.Load(c.Model)
	if err != nil {
		return err
	}
	var tmpl *chat.Template
	if tok.ChatTemplate != "" {
		if tmpl, err = chat.FromTokenizerConfig(c.Model); err != nil {
			return err
		}
	}
	prompt := c.Prompt
	if prompt == "auto" {
		prompt = "r1-zero"
		if tmpl != nil {
			prompt = "chat"
		}
	}
	if eval.IsChatPrompt(prompt) && tmpl == nil {
		return fmt.Errorf("prompt %s: %s has no chat template", prompt, c.Model)
	}
	format := c.FormatReward
	if format == "auto" {
		format = "format"
		if eval.IsChatPrompt(prompt) {
			format = "format_summary"
		}
	}
	dev, err := env.OpenDevice(c.Device)
	if err != nil {
		return err
	}
	m, err := model.Load(c.Model, dev)
	if err != nil {
		return err
	}
	params := sample.Params{Temperature: c.Temperature, TopP: c.TopP, MaxNewTokens: c.MaxNewTokens, Seed: c.Seed,
		StopIDs: model.StopIDs(c.Model, m.Config, tok.EOS)}
	if prompt == "r1-zero" {
		params.StopStrings, params.IncludeStopString = []string{"</answer>"}, true
	}
	if err := params.Validate(); err != nil {
		return err
	}
	ec := eval.Config{
		Settings: eval.Settings{Model: c.Model, Prompt: prompt, K: c.K, Samples: c.Samples, Temperature: c.Temperature, TopP: c.TopP,
			MaxNewTokens: c.MaxNewTokens, Seed: c.Seed},
		Out: dir, Template: tmpl, Fresh: true,
	}
	gen := &eval.ModelGenerator{Engine: &sample.Engine{Model: m, MaxBatch: c.MaxBatch}, Tokenizer: tok, Params: params,
		AddSpecial: !eval.IsChatPrompt(prompt)}
	// The weights stay packed across the evaluation's chunks of prompts
	// (each a Generate call) instead of being packed again for each.
	unpack := m.PackWeights()
	res, err := eval.Run(ctx, ec, gen, []*data.Dataset{ds})
	unpack()
	if err != nil {
		return err
	}
	br := res.Benchmarks[ds.Name]
	sum := EvalSummary{Label: c.Label, Model: c.Model, Bench: ds.Name, N: br.N, K: br.K, PassAt1: br.PassAt1, PassAtK: br.PassAtK,
		ConsAtK: br.ConsAtK, MeanLength: br.MeanTokens, Language: -1}
	recs, err := eval.ReadRecords(filepath.Join(dir, eval.SamplesFile))
	if err != nil {
		return err
	}
	fr, err := reward.New(format, nil)
	if err != nil {
		return fmt.Errorf("format_reward: %w", err)
	}
	var lr reward.Func
	if c.Language != "" {
		if lr, err = reward.New("language", map[string]any{"language": c.Language}); err != nil {
			return fmt.Errorf("language: %w", err)
		}
	}
	var n, formatted int
	var lang float64
	for _, r := range recs {
		for _, s := range r.Samples {
			rs := reward.Sample{Prompt: r.Prompt, Completion: s.Completion, Tokens: s.Tokens}
			n++
			if sc, err := fr.Score(ctx, rs); err == nil && sc.Value >= 1 {
				formatted++
			}
			if lr != nil {
				if sc, err := lr.Score(ctx, rs); err == nil {
					lang += sc.Value
				}
			}
			if len(sum.Examples) < 3 && len(s.Completion) > 0 && (len(sum.Examples) == 0 || sum.Examples[len(sum.Examples)-1].Prompt != r.Prompt) {
				sum.Examples = append(sum.Examples, Example{Prompt: tail(r.Prompt, 400), Completion: s.Completion, Correct: s.Correct})
			}
		}
	}
	if n > 0 {
		sum.FormatRate = float64(formatted) / float64(n)
		if lr != nil {
			sum.Language = lang / float64(n)
		}
	}
	return writeJSON(filepath.Join(dir, evalSummaryFile), sum)
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
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
