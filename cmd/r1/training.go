package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

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
