package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sft"
)

func init() {
	register(&command{
		name:    "sft",
		summary: "supervised fine-tuning (cold start, rejection-sampled data, distillation): messages, prompt/completion or text JSONL",
		run:     runSFT,
	})
}

func runSFT(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("sft", "--model DIR --data FILE.jsonl --out DIR [--config FILE.yaml] [--set key=value ...]", stderr)
	config := fs.String("config", "", "YAML config file (keys as in --print-config), or an SFT preset's name (cold-start: R1's cold start on the built-in model, from r1 zero's runs/zero); unset keys keep their defaults")
	modelDir := fs.String("model", "", "model to fine-tune: a Hugging Face checkpoint directory or builtin:tiny (sets model)")
	dataPath := fs.String("data", "", "training rows, JSONL or JSONL.gz: "+sft.Format+" (sets data)")
	out := fs.String("out", "", "run directory: config.yaml, metrics.jsonl, checkpoints/ (sets out)")
	lr := fs.Float64("lr", 0, "peak learning rate (sets optimizer.lr; default 2e-5 as TRL; the tiny model wants ~1e-3)")
	epochs := fs.Int("epochs", 0, "passes over the training rows (sets epochs; default 3)")
	packing := fs.Bool("packing", false, "pack several samples into each row of max_seq_len tokens, attention kept within each sample (sets packing)")
	allTokens := fs.Bool("all-tokens", false, "train on every token, prompts included (sets completion_only_loss=false)")
	coldStart := fs.String("cold-start", "", "treat --data as an RL run's scored samples (samples.jsonl of r1 grpo/zero) and train on the correct, well-formed ones in the R1 format (reasoning, then a summary): LABEL is the score that marks a sample correct, e.g. math; the rows go to OUT/cold_start.jsonl (sets cold_start.correct)")
	minThink := fs.Int("cold-start-min-think", 20, "with --cold-start: drop samples whose reasoning is shorter than this many characters (sets cold_start.min_think)")
	maxThink := fs.Int("cold-start-max-think", 4000, "with --cold-start: drop samples whose reasoning is longer than this many characters, 0: no bound (sets cold_start.max_think)")
	skipBad := fs.Bool("skip-bad-rows", false, "skip malformed rows, printing how many and why, instead of stopping at the first (sets skip_bad_rows)")
	var sets setFlags
	fs.Var(&sets, "set", "override a config key, e.g. --set max_seq_len=512 (repeatable; dotted YAML keys)")
	rf := declareRunFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var pre []string
	for _, kv := range []struct{ key, val string }{{"model", *modelDir}, {"data", *dataPath}, {"out", *out}} {
		if kv.val != "" {
			pre = append(pre, kv.key+"="+kv.val)
		}
	}
	if *lr > 0 {
		pre = append(pre, "optimizer.lr="+strconv.FormatFloat(*lr, 'g', -1, 64))
	}
	if *epochs > 0 {
		pre = append(pre, fmt.Sprintf("epochs=%d", *epochs))
	}
	if *packing {
		pre = append(pre, "packing=true")
	}
	if *allTokens {
		pre = append(pre, "completion_only_loss=false")
	}
	if *skipBad {
		pre = append(pre, "skip_bad_rows=true")
	}
	if *coldStart != "" {
		pre = append(pre, "cold_start.correct="+*coldStart)
	}
	// The bounds override a config's only when given.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "cold-start-min-think":
			pre = append(pre, fmt.Sprintf("cold_start.min_think=%d", *minThink))
		case "cold-start-max-think":
			pre = append(pre, fmt.Sprintf("cold_start.max_think=%d", *maxThink))
		}
	})
	cfg := sft.Default()
	if done, err := loadRunConfig(*config, append(pre, sets...), &cfg, &cfg.Model, *rf.printConfig, stdout); done || err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	dev, err := openRun(cfg.Out, *rf.resume, *rf.overwrite, cfg.Device)
	if err != nil {
		return err
	}
	tr, err := sft.New(cfg, dev)
	if err != nil {
		return err
	}
	tr.Progress = stdout
	if st := tr.ColdStartStats; st != nil {
		fmt.Fprintf(stdout, "cold start from %s: %s; rows in %s\n", cfg.Data, st, filepath.Join(cfg.Out, sft.ColdStartFile))
	}
	for _, b := range tr.Bad {
		fmt.Fprintf(stderr, "skipped %s: %v\n", b.Source, b.Err)
	}
	fmt.Fprintf(stdout, "sft: %d training rows (%d samples, %d held out), %d steps; %d malformed rows skipped, %d samples truncated to %d tokens, %d dropped (no trained token left)\n",
		tr.Rows(), len(tr.Train), len(tr.Eval), tr.Trainer.Config.Steps, len(tr.Bad), tr.Truncated, tr.Config.MaxSeqLen, tr.Dropped)
	if a := tr.Adapter; a != nil {
		fmt.Fprintln(stdout, describeLoRA(a, tr.Model))
	}
	stopDash, err := serveDashboard(*rf.dashboard, cfg.Out, stdout)
	if err != nil {
		return err
	}
	defer stopDash()
	if err := runTraining(ctx, tr, cfg.Out, *rf.resume, tr.SaveFinal, stdout); err != nil {
		return err
	}
	if tr.Adapter != nil {
		fmt.Fprintf(stdout, "done: %d steps; LoRA adapter saved in %s (PEFT layout); fold it into the model with: r1 merge --base %s --adapter %s --out DIR\n",
			tr.StepsDone(), cfg.Out, cfg.Model, cfg.Out)
		return nil
	}
	fmt.Fprintf(stdout, "done: %d steps; fine-tuned model saved in %s\n", tr.StepsDone(), cfg.Out)
	return nil
}

// describeLoRA is the line a LoRA run prints about what it trains.
func describeLoRA(a *model.Adapter, m *model.Model) string {
	c := a.Config
	return fmt.Sprintf("lora: r=%d alpha=%g (scale %.4g%s) dropout %g on %d modules (%s): %d trainable weights, %.2f%% of the model's %d (frozen)",
		c.R, c.Alpha, c.Scale(), map[bool]string{true: ", rsLoRA"}[c.UseRSLoRA], c.Dropout, len(a.Modules), strings.Join(c.TargetModules, ", "),
		a.NumParams(), 100*float64(a.NumParams())/float64(m.Config.NumParams()), m.Config.NumParams())
}
