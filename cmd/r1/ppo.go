package main

import (
	"context"
	"fmt"
	"io"

	"github.com/r1go/r1/ppo"
)

func init() {
	register(&command{
		name:    "ppo",
		summary: "train a policy with PPO from a YAML config (r1 grpo's keys plus ppo.*: a critic, GAE, clipped policy and value losses)",
		run:     runPPO,
	})
}

func runPPO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("ppo", "--config run.yaml [--set key=value ...] [--resume]", stderr)
	config := fs.String("config", "", "YAML config: r1 grpo's keys (a GRPO preset works, e.g. preset:tiny-zero) plus the ppo section; unset keys keep PPO's defaults")
	var sets setFlags
	fs.Var(&sets, "set", "override a config key, e.g. --set ppo.critic=separate (repeatable; dotted YAML keys)")
	rf := declareRunFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := ppo.Default()
	if done, err := loadRunConfig(*config, sets, &cfg, &cfg.Model, *rf.printConfig, stdout); done || err != nil {
		return err
	}
	dev, err := openRun(cfg.Out, *rf.resume, *rf.overwrite, cfg.Device)
	if err != nil {
		return err
	}
	tr, err := ppo.New(cfg, dev)
	if err != nil {
		return err
	}
	tr.Progress = stdout
	stopDash, err := serveDashboard(*rf.dashboard, cfg.Out, stdout)
	if err != nil {
		return err
	}
	defer stopDash()
	if err := runTraining(ctx, tr, cfg.Out, *rf.resume, nil, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps, run directory %s\n", tr.StepsDone(), cfg.Out)
	return nil
}
