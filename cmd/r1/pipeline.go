package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/r1go/r1/pipeline"
)

func init() {
	register(&command{
		name:    "pipeline",
		summary: "the whole R1 recipe from one YAML: stages (sft, grpo, ppo, generate, pairs, rm, dpo, distill, eval) wired by ${stage.output}, skipped when done, resumed when interrupted; DIR/report.md and report.html",
		run:     runPipeline,
	})
}

const pipelineNotes = `A pipeline file lists stages; each has a name, a kind and a config block with
the keys of that command's config file (sft, grpo, rm, dpo: as --print-config
shows them; generate, pairs, distill, eval: see pipeline/kinds.go), optionally
over a preset of that trainer (preset: tiny-zero). ${NAME.output} in a block is
stage NAME's output (a model directory or data file); ${NAME.dir},
${NAME.samples} (grpo), ${NAME.data} (generate, distill) too. out is set by
the pipeline: DIR/NAME. Presets: r1-tiny (CPU, built-in model),
r1-qwen2.5-1.5b, r1-distill-qwen.
A stage that finished with the same config (and inputs) is skipped; rerunning
after an interruption resumes the stage that was running.`

func runPipeline(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("pipeline", "--config FILE|PRESET --out DIR [--only STAGE | --from STAGE] [--dry-run]", stderr)
	config := fs.String("config", "", "pipeline YAML file, or a pipeline preset's name (r1-tiny, r1-qwen2.5-1.5b, r1-distill-qwen)")
	out := fs.String("out", "", "pipeline directory: one run directory per stage, pipeline.yaml (the resolved plan), report.md, report.html")
	only := fs.String("only", "", "run only this stage (the stages it reads from must be done)")
	from := fs.String("from", "", "run this stage and the ones after it (the stages they read from must be done)")
	dryRun := fs.Bool("dry-run", false, "print the resolved plan (every stage's directory, outputs, status and full config) and exit")
	reportOnly := fs.Bool("report", false, "only (re)write DIR/report.md and report.html from what the stages left")
	dash := dashboardFlag(fs, "every stage's run (the pipeline directory)")
	usageNotes(fs, pipelineNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *config == "" || *out == "" {
		fs.Usage()
		return usageErrorf("--config and --out are required")
	}
	spec, err := pipeline.LoadSpec(*config)
	if err != nil {
		return err
	}
	plan, err := pipeline.Resolve(spec, *out)
	if err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	if *dryRun {
		y, err := plan.Describe()
		if err != nil {
			return err
		}
		_, err = stdout.Write(y)
		return err
	}
	if *reportOnly {
		if err := plan.WriteReport(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s and %s\n", filepath.Join(plan.Dir, "report.md"), filepath.Join(plan.Dir, "report.html"))
		return nil
	}
	stopDash, err := serveDashboard(*dash, plan.Dir, stdout)
	if err != nil {
		return err
	}
	defer stopDash()
	o := pipeline.Options{Only: *only, From: *from, Log: stdout, Env: pipeline.Env{OpenDevice: openDevice, Progress: stdout}}
	if err := plan.Run(ctx, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pipeline done: %s (report: %s)\n", plan.Dir, filepath.Join(plan.Dir, "report.md"))
	return nil
}
