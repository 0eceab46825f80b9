package main

import (
	"context"
	"fmt"
	"io"

	"github.com/r1go/r1/ppo"
	"github.com/r1go/r1/train"
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
	resume := fs.Bool("resume", false, "continue from the newest checkpoint in the run directory")
	overwrite := fs.Bool("overwrite", false, "start over in a run directory that holds a run (deletes its checkpoints and logs)")
	printConfig := fs.Bool("print-config", false, "print the resolved config as YAML and exit")
	dash := dashboardFlag(fs, "the run directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := ppo.Default()
	if done, err := loadRunConfig(*config, sets, &cfg, &cfg.Model, *printConfig, stdout); done || err != nil {
		return err
	}
	if !*resume {
		if err := train.Prepare(cfg.Out, *overwrite); err != nil {
			return err
		}
	}
	dev, err := openDevice(cfg.Device)
	if err != nil {
		return err
	}
	tr, err := ppo.New(cfg, dev)
	if err != nil {
		return err
	}
	tr.Progress = stdout
	stopDash, err := serveDashboard(*dash, cfg.Out, stdout)
	if err != nil {
		return err
	}
	defer stopDash()
	if err := runTraining(ctx, tr, cfg.Out, *resume, nil, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps, run directory %s\n", tr.StepsDone(), cfg.Out)
	return nil
}
