package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/r1go/r1/internal/atomicfile"
)

// record is DIR/.pipeline/NAME.json: the hash a stage last started with
// and whether it finished.
type record struct {
	Hash    string  `json:"hash"`
	Kind    string  `json:"kind"`
	Done    bool    `json:"done"`
	Seconds float64 `json:"seconds"` // the finished stage's wall time, all attempts
}

func (p *Plan) recordPath(name string) string { return filepath.Join(p.Dir, ".pipeline", name+".json") }

func (p *Plan) record(name string) (record, error) {
	var r record
	err := readJSON(p.recordPath(name), &r)
	return r, err
}

// Options select what Run runs.
type Options struct {
	// Only runs this stage alone; From runs this stage and those after
	// it. The stages they read from must be done.
	Only, From string
	Env        Env
	// Log gets one line per stage (nil: none).
	Log io.Writer
}

// Run runs the plan's stages in order: a finished stage with its current
// hash is skipped, an interrupted one resumes, the others start over.
// DIR/pipeline.yaml gets the resolved plan first; the report is written
// at the end (and after an error, with what is there).
func (p *Plan) Run(ctx context.Context, o Options) error {
	say := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	sel, err := p.selected(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(p.Dir, ".pipeline"), 0o755); err != nil {
		return err
	}
	desc, err := p.Describe()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(p.Dir, "pipeline.yaml"), desc); err != nil {
		return err
	}
	for i, s := range p.Stages {
		if !sel[s.Name] {
			continue
		}
		for _, d := range s.Deps {
			if st := p.Status(p.Stage(d)); st != "done" {
				return fmt.Errorf("stage %s needs stage %s, which is not done (%s): run it first", s.Name, d, st)
			}
		}
		status := p.Status(s)
		if status == "done" {
			say("pipeline: stage %d/%d %s (%s): done, skipped", i+1, len(p.Stages), s.Name, s.Kind)
			continue
		}
		resume := status == "resume"
		prev, _ := p.record(s.Name)
		if !resume {
			prev = record{}
		}
		say("pipeline: stage %d/%d %s (%s): %s → %s", i+1, len(p.Stages), s.Name, s.Kind, status, s.Outputs["output"])
		if err := writeJSON(p.recordPath(s.Name), record{Hash: s.Hash, Kind: s.Kind, Seconds: prev.Seconds}); err != nil {
			return err
		}
		start := time.Now()
		err := s.kind.Run(ctx, &o.Env, s.Config, s.Dir, resume)
		secs := prev.Seconds + time.Since(start).Seconds()
		if err != nil {
			// The time spent so far counts towards the stage's wall time.
			_ = writeJSON(p.recordPath(s.Name), record{Hash: s.Hash, Kind: s.Kind, Seconds: secs})
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return fmt.Errorf("stage %s interrupted (%w); rerun the same command to resume it", s.Name, context.Canceled)
			}
			return fmt.Errorf("stage %s (%s): %w", s.Name, s.Kind, err)
		}
		if !outputsExist(s) {
			return fmt.Errorf("stage %s (%s): finished without its output %s", s.Name, s.Kind, s.Outputs["output"])
		}
		if err := writeJSON(p.recordPath(s.Name), record{Hash: s.Hash, Kind: s.Kind, Done: true, Seconds: secs}); err != nil {
			return err
		}
		say("pipeline: stage %s done in %.0f s", s.Name, secs)
	}
	return p.WriteReport()
}

// selected is the set of stages o asks for.
func (p *Plan) selected(o Options) (map[string]bool, error) {
	if o.Only != "" && o.From != "" {
		return nil, fmt.Errorf("give one of --only and --from")
	}
	sel := map[string]bool{}
	on := o.Only == "" && o.From == ""
	for _, s := range p.Stages {
		if s.Name == o.From {
			on = true
		}
		sel[s.Name] = on || s.Name == o.Only
	}
	for _, n := range []string{o.Only, o.From} {
		if n != "" && p.Stage(n) == nil {
			return nil, fmt.Errorf("no stage %q in the pipeline", n)
		}
	}
	return sel, nil
}
