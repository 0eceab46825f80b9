package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/train"
)

// runFlags are the flags every training command on the core takes besides
// its config: resume, start over, print the config, serve a dashboard.
type runFlags struct {
	resume, overwrite, printConfig *bool
	dashboard                      *string
}

func declareRunFlags(fs *flag.FlagSet) runFlags {
	return runFlags{
		resume:      fs.Bool("resume", false, "continue from the newest checkpoint in the run directory"),
		overwrite:   fs.Bool("overwrite", false, "start over in a run directory that holds a run (deletes its checkpoints and logs)"),
		printConfig: fs.Bool("print-config", false, "print the resolved config as YAML and exit"),
		dashboard:   dashboardFlag(fs, "the run directory"),
	}
}

// openRun readies a training command's run directory — a new run refuses
// one that holds a run unless overwrite is set; a resumed run keeps it —
// and opens the config's device.
func openRun(out string, resume, overwrite bool, device string) (tensor.Backend, error) {
	if !resume {
		if err := train.Prepare(out, overwrite); err != nil {
			return nil, err
		}
	}
	return openDevice(device)
}

// trainingRun is what every trainer on the training core offers a command.
type trainingRun interface {
	Resume() (bool, error)
	Run(ctx context.Context) error
	StepsDone() int
}

// resumeTraining continues tr from the newest checkpoint in out when asked,
// saying where it continues.
func resumeTraining(tr trainingRun, out string, resume bool, stdout io.Writer) (bool, error) {
	if !resume {
		return false, nil
	}
	resumed, err := tr.Resume()
	if err != nil {
		return false, err
	}
	if resumed {
		fmt.Fprintf(stdout, "resumed %s at step %d\n", out, tr.StepsDone())
	} else {
		fmt.Fprintf(stdout, "no checkpoint in %s: starting from step 0\n", out)
	}
	return resumed, nil
}

// runTraining resumes tr when asked and runs it; an interrupted run says
// how to continue it. final, when set, saves the model after the last
// step (SFT, RM and DPO; an RL run's model is its last checkpoint).
func runTraining(ctx context.Context, tr trainingRun, out string, resume bool, final func() error, stdout io.Writer) error {
	if _, err := resumeTraining(tr, out, resume, stdout); err != nil {
		return err
	}
	if err := tr.Run(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			// Not wrapped: main would print only "interrupted by SIGINT"
			// for a canceled context; the exit status (130/143) comes
			// from the signal either way.
			return fmt.Errorf("interrupted after step %d; checkpoint written, continue with --resume", tr.StepsDone())
		}
		return err
	}
	if final != nil {
		return final()
	}
	return nil
}
