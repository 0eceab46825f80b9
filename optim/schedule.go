package optim

import (
	"fmt"
	"math"
)

// Schedule maps an optimizer step (0-based) to a learning-rate multiplier
// in [0,1]: linear warmup from 0 over Warmup steps, then constant, linear
// decay or cosine decay to MinRatio at Total steps.
type Schedule struct {
	// Kind is "constant", "linear" or "cosine".
	Kind string `yaml:"kind"`
	// Warmup steps of linear increase (0 = none).
	Warmup int `yaml:"warmup"`
	// Total steps of the run; decay ends here.
	Total int `yaml:"total"`
	// MinRatio is the final multiplier of linear/cosine decay (e.g. 0.1).
	MinRatio float64 `yaml:"min_ratio"`
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	switch s.Kind {
	case "constant", "linear", "cosine":
	default:
		return fmt.Errorf("schedule kind %q: want constant, linear or cosine", s.Kind)
	}
	if s.Warmup < 0 || s.Total < 0 || s.MinRatio < 0 || s.MinRatio > 1 {
		return fmt.Errorf("schedule: warmup (%d) and total (%d) must be ≥ 0 and min_ratio (%g) in [0,1]", s.Warmup, s.Total, s.MinRatio)
	}
	if s.Kind != "constant" && s.Total <= s.Warmup {
		return fmt.Errorf("schedule: %s decay needs total (%d) > warmup (%d)", s.Kind, s.Total, s.Warmup)
	}
	return nil
}

// Factor is the multiplier at step.
func (s Schedule) Factor(step int) float64 {
	if step < s.Warmup {
		return float64(step+1) / float64(s.Warmup+1)
	}
	if s.Kind == "constant" || s.Total <= s.Warmup {
		return 1
	}
	p := math.Min(1, float64(step-s.Warmup)/float64(s.Total-s.Warmup))
	switch s.Kind {
	case "linear":
		return 1 - (1-s.MinRatio)*p
	case "cosine":
		return s.MinRatio + (1-s.MinRatio)*0.5*(1+math.Cos(math.Pi*p))
	}
	return 1
}
