package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/dpo"
)

func init() {
	register(&command{
		name:    "dpo",
		summary: "Direct Preference Optimization (sigmoid DPO, IPO, SimPO) on preference pairs, reference log-probs cached",
		run:     runDPO,
	})
}

func runDPO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("dpo", "--model DIR --data pairs.jsonl --out DIR [--config FILE.yaml] [--set key=value ...]", stderr)
	config := fs.String("config", "", "YAML config (keys as in --print-config); unset keys keep their defaults")
	modelDir := fs.String("model", "", "policy to train, also the reference: a Hugging Face checkpoint directory or builtin:tiny (sets model)")
	dataPath := fs.String("data", "", "preference pairs, JSONL, JSONL.gz or a JSON array: "+data.PairFormats+" (sets data)")
	out := fs.String("out", "", "run directory; the trained policy is saved there (sets out)")
	lossType := fs.String("loss", "", "loss: sigmoid (DPO), ipo or simpo (sets loss.loss_type; default sigmoid)")
	beta := fs.Float64("beta", 0, "β: DPO's KL strength, IPO's τ, SimPO's reward scale (sets loss.beta; default 0.1)")
	lr := fs.Float64("lr", 0, "peak learning rate (sets optimizer.lr; default 1e-6; the tiny model wants ~1e-4..1e-3)")
	epochs := fs.Int("epochs", 0, "passes over the training pairs (sets epochs; default 1)")
	skipBad := fs.Bool("skip-bad-rows", false, "skip malformed pairs, printing how many and why, instead of stopping at the first (sets skip_bad_rows)")
	var sets setFlags
	fs.Var(&sets, "set", "override a config key, e.g. --set loss.label_smoothing=0.1 (repeatable; dotted YAML keys)")
	rf := declareRunFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var pre []string
	for _, kv := range []struct{ key, val string }{{"model", *modelDir}, {"data", *dataPath}, {"out", *out}, {"loss.loss_type", *lossType}} {
		if kv.val != "" {
			pre = append(pre, kv.key+"="+kv.val)
		}
	}
	if *beta > 0 {
		pre = append(pre, "loss.beta="+strconv.FormatFloat(*beta, 'g', -1, 64))
	}
	if *lr > 0 {
		pre = append(pre, "optimizer.lr="+strconv.FormatFloat(*lr, 'g', -1, 64))
	}
	if *epochs > 0 {
		pre = append(pre, fmt.Sprintf("epochs=%d", *epochs))
	}
	if *skipBad {
		pre = append(pre, "skip_bad_rows=true")
	}
	cfg := dpo.Default()
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
	tr, err := dpo.New(cfg, dev)
	if err != nil {
		return err
	}
	tr.Progress = stdout
	for _, b := range tr.Bad {
		fmt.Fprintf(stderr, "skipped %s: %v\n", b.Source, b.Err)
	}
	fmt.Fprintf(stdout, "dpo (%s, β %g): %d training pairs, %d held out, %d steps; %d malformed rows skipped, %d pairs truncated to %d tokens, %d dropped (empty response)\n",
		cfg.Loss.Type, cfg.Loss.Beta, len(tr.Train), len(tr.Eval), tr.Trainer.Config.Steps, len(tr.Bad), tr.Truncated, tr.Config.MaxSeqLen, tr.Dropped)
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
	fmt.Fprintf(stdout, "done: %d steps; policy saved in %s\n", tr.StepsDone(), cfg.Out)
	return nil
}
