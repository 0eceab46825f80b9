package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/grpo"
	_ "github.com/r1go/r1/reward/all"
)

// setFlags collects repeated --set key=value overrides.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func init() {
	register(&command{
		name:    "grpo",
		summary: "train a policy with GRPO from a YAML config (rule rewards, group-relative advantages, KL to a reference)",
		run:     runGRPO,
	})
}

func runGRPO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("grpo", "--config run.yaml [--set key=value ...] [--resume]", stderr)
	config := fs.String("config", "", "YAML config (see configs/); unset keys keep their defaults")
	var sets setFlags
	fs.Var(&sets, "set", "override a config key, e.g. --set sampling.temperature=0.8 (repeatable; dotted YAML keys)")
	rf := declareRunFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := grpo.Default()
	if done, err := loadRunConfig(*config, sets, &cfg, &cfg.Model, *rf.printConfig, stdout); done || err != nil {
		return err
	}
	stop, err := serveDashboard(*rf.dashboard, cfg.Out, stdout)
	if err != nil {
		return err
	}
	defer stop()
	return trainGRPO(ctx, cfg, *rf.resume, *rf.overwrite, stdout)
}

// trainGRPO builds the trainer, resumes when asked, and runs it.
func trainGRPO(ctx context.Context, cfg grpo.Config, resume, overwrite bool, stdout io.Writer) error {
	tr, _, err := openTrainer(cfg, resume, overwrite, stdout)
	if err != nil {
		return err
	}
	if err := runTraining(ctx, tr, cfg.Out, false, nil, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps, run directory %s\n", tr.StepsDone(), cfg.Out)
	return nil
}

// loadRunConfig loads a trainer's config (defaults already in cfg) from
// src and the --set overrides, resolves its model reference (*model), and
// with printOnly writes the resolved YAML to stdout and reports done.
func loadRunConfig(src string, sets []string, cfg any, model *string, printOnly bool, stdout io.Writer) (done bool, err error) {
	if err := configs.Load(src, sets, cfg); err != nil {
		return false, err
	}
	if *model, err = resolveModel(*model); err != nil {
		return false, err
	}
	if !printOnly {
		return false, nil
	}
	y, err := configs.YAML(cfg)
	if err != nil {
		return true, err
	}
	_, err = stdout.Write(y)
	return true, err
}

// builtinTiny names the built-in tiny base model in a config's model key.
const builtinTiny = "builtin:tiny"

// resolveModel turns a config's model reference into a directory:
// "builtin:tiny" is the model carried in the binary, anything else a path.
func resolveModel(ref string) (string, error) {
	if ref != builtinTiny {
		return ref, nil
	}
	dir := defaultModelDir()
	if dir == "" {
		return "", fmt.Errorf("model: %s: the built-in model could not be unpacked into the user cache directory", ref)
	}
	return dir, nil
}

// openTrainer builds the GRPO trainer of cfg on its device and, when resume
// is set, restores the newest checkpoint in cfg.Out; resumed reports
// whether there was one. A new run refuses a directory that holds one
// unless overwrite is set.
func openTrainer(cfg grpo.Config, resume, overwrite bool, stdout io.Writer) (tr *grpo.Trainer, resumed bool, err error) {
	dev, err := openRun(cfg.Out, resume, overwrite, cfg.Device)
	if err != nil {
		return nil, false, err
	}
	if tr, err = grpo.New(cfg, dev); err != nil {
		return nil, false, err
	}
	tr.Progress = stdout
	if tr.Adapter != nil {
		fmt.Fprintln(stdout, describeLoRA(tr.Adapter, tr.Policy)+"; reference: the base (adapter off)")
	}
	if resumed, err = resumeTraining(tr, cfg.Out, resume, stdout); err != nil {
		return nil, false, err
	}
	return tr, resumed, nil
}
