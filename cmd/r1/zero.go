package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/internal/atomicfile"
)

func init() {
	register(&command{
		name:    "zero",
		summary: "R1-Zero: pure RL (GRPO + rule rewards) from a base model, with before/after evaluation on held-out problems",
		run:     runZero,
	})
}

// zeroElapsed is zero_elapsed.json: wall time of the interrupted
// processes of a run.
type zeroElapsed struct {
	Seconds float64 `json:"seconds"`
}

// zeroSummary is summary.json (scripts and tests rely on these names).
type zeroSummary struct {
	Before  grpo.EvalResult `json:"before"`
	After   grpo.EvalResult `json:"after"`
	Steps   int             `json:"steps"`
	Seconds float64         `json:"seconds"`
	Model   string          `json:"model"`
	Dataset string          `json:"dataset"`
}

func runZero(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("zero", "[--model HF_DIR] [--dataset synthetic|gsm8k|math500|countdown] [--out DIR] [flags]", stderr)
	modelDir := fs.String("model", "", "base model to train (default: the built-in tiny base model)")
	dataset := fs.String("dataset", "", "training problems: synthetic (the tiny model's arithmetic), synthetic:countdown, gsm8k, math500, countdown, or a JSONL file (default: the preset's)")
	out := fs.String("out", "runs/zero", "run directory: config.yaml, metrics.jsonl, samples.jsonl, checkpoints/, summary.json")
	steps := fs.Int("steps", 0, "GRPO steps (default: the preset's)")
	evalN := fs.Int("eval-n", 200, "held-out problems evaluated before and after training")
	es := grpo.DefaultEvalSampling()
	fs.IntVar(&es.K, "eval-k", es.K, "samples per held-out problem; accuracy is their mean correctness (pass@1 over k, as the R1 paper reports)")
	fs.Float64Var(&es.Temperature, "eval-temperature", es.Temperature, "evaluation sampling temperature (R1 paper: 0.6; 0 = greedy)")
	fs.Float64Var(&es.TopP, "eval-top-p", es.TopP, "evaluation nucleus sampling (R1 paper: 0.95)")
	preset := fs.String("preset", "tiny-zero", "preset config to start from (see configs/)")
	config := fs.String("config", "", "YAML config instead of the preset")
	var sets setFlags
	fs.Var(&sets, "set", "override a config key, e.g. --set loss.beta=0.001 (repeatable)")
	resume := fs.Bool("resume", false, "continue the run in --out from its newest checkpoint")
	overwrite := fs.Bool("overwrite", false, "start over in an --out that holds a run (deletes its checkpoints and logs)")
	dash := fs.String("dashboard", "", "also serve a live dashboard of --out on this address (e.g. 127.0.0.1:8080)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	src := "preset:" + *preset
	if *config != "" {
		src = *config
	}
	pre := []string{"out=" + *out}
	if *modelDir == "" {
		if *modelDir = defaultModelDir(); *modelDir == "" {
			return fmt.Errorf("--model: no built-in model in this build; pass a base model directory")
		}
	}
	pre = append(pre, "model="+*modelDir)
	if *dataset != "" {
		pre = append(pre, "data.dataset="+*dataset)
		switch {
		case *dataset == "countdown" || *dataset == "synthetic:countdown":
			pre = append(pre, "reward.rewards=[{name: countdown}, {name: format, weight: 0.5}]")
			if *dataset == "countdown" {
				pre = append(pre, "data.split=train")
			}
		case *dataset == "gsm8k":
			pre = append(pre, "data.split=train")
		case *dataset == "math500":
			pre = append(pre, "data.split=test")
		}
		if !strings.HasPrefix(*dataset, "synthetic") {
			pre = append(pre, "data.data_dir="+data.FindDir())
		}
	}
	if *steps > 0 {
		pre = append(pre, fmt.Sprintf("steps=%d", *steps))
	}
	cfg := grpo.Default()
	if err := configs.Load(src, append(pre, sets...), &cfg); err != nil {
		return err
	}
	tr, resumed, err := openTrainer(cfg, *resume, *overwrite, stdout)
	if err != nil {
		return err
	}
	// Held-out problems: the test split (synthetic: the part of the problem
	// space pretraining never saw). Evaluation-only sets and user files
	// have only the one set of problems that training draws from too.
	evalCfg := cfg.Data
	evalCfg.Limit = *evalN
	evalCfg.Split = data.SplitTest
	evalRows, err := grpo.LoadRows(evalCfg)
	if err != nil {
		return fmt.Errorf("held-out problems: %w", err)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	stopDash, err := serveDashboard(*dash, cfg.Out, stderr)
	if err != nil {
		return err
	}
	defer stopDash()
	start := time.Now()
	var sum zeroSummary
	sum.Model, sum.Dataset = *modelDir, cfg.Data.Dataset
	beforePath := filepath.Join(cfg.Out, "before.json")
	// Seconds spent by earlier, interrupted processes of this run, so that
	// summary.json's "seconds" is the whole run's (a process killed
	// outright cannot record its share).
	elapsedPath := filepath.Join(cfg.Out, "zero_elapsed.json")
	var earlier float64
	if resumed {
		if b, err := readJSON[grpo.EvalResult](beforePath); err == nil {
			sum.Before = b
		}
		if e, err := readJSON[zeroElapsed](elapsedPath); err == nil {
			earlier = e.Seconds
		}
	}
	if tr.StepsDone() == 0 {
		fmt.Fprintf(stdout, "evaluating the base model on %d held-out problems…\n", len(evalRows))
		if sum.Before, err = tr.Evaluate(ctx, evalRows, es); err != nil {
			return err
		}
		if err := writeJSON(beforePath, sum.Before); err != nil {
			return err
		}
		printEval(stdout, "before", sum.Before)
	}
	fmt.Fprintf(stdout, "R1-Zero: %d GRPO steps × %d prompts × %d samples, rewards %s → %s\n",
		cfg.Steps, cfg.PromptsPerStep, cfg.G, rewardNames(cfg), cfg.Out)
	if err := tr.Run(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			if werr := writeJSON(elapsedPath, zeroElapsed{earlier + time.Since(start).Seconds()}); werr != nil {
				fmt.Fprintf(stderr, "r1 zero: %v\n", werr)
			}
			return fmt.Errorf("interrupted after step %d; continue with: r1 zero --resume --out %s", tr.StepsDone(), cfg.Out)
		}
		return err
	}
	if sum.After, err = tr.Evaluate(ctx, evalRows, es); err != nil {
		return err
	}
	sum.Steps = tr.StepsDone()
	sum.Seconds = earlier + time.Since(start).Seconds()
	printEval(stdout, "before", sum.Before)
	printEval(stdout, "after", sum.After)
	fmt.Fprintf(stdout, "accuracy %+.1f points, format %+.1f points in %d steps, %.0f s\n",
		100*(sum.After.Accuracy-sum.Before.Accuracy), 100*(sum.After.FormatRate-sum.Before.FormatRate), sum.Steps, sum.Seconds)
	return writeJSON(filepath.Join(cfg.Out, "summary.json"), sum)
}

func rewardNames(cfg grpo.Config) string {
	var parts []string
	for _, r := range cfg.Rewards.Rewards {
		parts = append(parts, fmt.Sprintf("%s×%g", r.L(), r.W()))
	}
	return strings.Join(parts, " + ")
}

func printEval(w io.Writer, label string, e grpo.EvalResult) {
	fmt.Fprintf(w, "%-6s accuracy %5.1f%%  format %5.1f%%  mean length %5.1f tokens  reflection %5.1f%%  (%d problems × %d samples)\n",
		label, 100*e.Accuracy, 100*e.FormatRate, e.MeanLength, 100*e.ReflectionRate, e.N, e.K)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

func readJSON[T any](path string) (T, error) {
	var v T
	b, err := os.ReadFile(path)
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}
