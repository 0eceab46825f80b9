package reward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout is the per-sample time limit of a reward when neither its
// Spec nor the Config sets one. Execution rewards (code) need more.
const DefaultTimeout = 10 * time.Second

// TimeoutPrefix starts Score.Err when a reward ran out of time, so that
// timeouts can be counted apart from other failures.
const TimeoutPrefix = "timed out"

// BatchFunc is implemented by rewards that are cheaper to call once for a
// whole batch (a remote endpoint, a reward model). The Scorer prefers it to
// Score; the reward's time limit then applies to the whole call.
type BatchFunc interface {
	Func
	// ScoreBatch returns one Score per sample, in order. An error fails
	// every sample of the batch (each scores 0 and is logged).
	ScoreBatch(ctx context.Context, samples []Sample) ([]Score, error)
}

// TimeLimiter is implemented by rewards whose work needs a different
// per-sample time limit than the Config's (running generated code does).
// A Spec's own Timeout still wins.
type TimeLimiter interface {
	TimeLimit() time.Duration
}

// Spec is one reward in a config: which one, how much it counts, and its
// parameters.
type Spec struct {
	// Name is the registered reward ("format", "math", "countdown", …).
	Name string `yaml:"name" json:"name"`
	// Label names this entry in logs and metrics; it defaults to Name and
	// must be set when one reward appears twice with different params.
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
	// Weight multiplies the reward in the total. Nil means 1; 0 logs the
	// reward without training on it.
	Weight *float64 `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Params configure the reward (see each reward's documentation).
	Params map[string]any `yaml:"params,omitempty" json:"params,omitempty"`
	// Timeout overrides Config.Timeout (and the reward's TimeLimit) for
	// this reward; for a BatchFunc it bounds the whole batch.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// W returns the weight, 1 when unset.
func (s Spec) W() float64 {
	if s.Weight == nil {
		return 1
	}
	return *s.Weight
}

// L returns the label, Name when unset.
func (s Spec) L() string {
	if s.Label == "" {
		return s.Name
	}
	return s.Label
}

// Config lists the rewards whose weighted sum is the training reward.
type Config struct {
	Rewards []Spec `yaml:"rewards" json:"rewards"`
	// Workers bounds how many (sample, reward) pairs are scored at once;
	// 0 means GOMAXPROCS.
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"`
	// Timeout is the per-sample time limit; 0 means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Validate checks the config without building the rewards.
func (c Config) Validate() error {
	if len(c.Rewards) == 0 {
		return errors.New("rewards: expected at least one reward")
	}
	if c.Workers < 0 {
		return fmt.Errorf("workers: expected >= 0, got %d", c.Workers)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: expected >= 0, got %v", c.Timeout)
	}
	seen := map[string]int{}
	for i, s := range c.Rewards {
		if s.Name == "" {
			return fmt.Errorf("rewards[%d].name: expected a reward name (known: %v)", i, Names())
		}
		if w := s.W(); math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("rewards[%d].weight: expected a finite number, got %v", i, w)
		}
		if s.Timeout < 0 {
			return fmt.Errorf("rewards[%d].timeout: expected >= 0, got %v", i, s.Timeout)
		}
		if strings.ContainsAny(s.L(), "/ \t\n") {
			return fmt.Errorf("rewards[%d].label: %q must not contain '/' or spaces (it names metrics)", i, s.L())
		}
		if j, dup := seen[s.L()]; dup {
			return fmt.Errorf("rewards[%d]: label %q already used by rewards[%d]; set label to tell them apart", i, s.L(), j)
		}
		seen[s.L()] = i
	}
	return nil
}

// Scorer scores batches of samples with the weighted rewards of a Config.
// It is safe for concurrent use.
type Scorer struct {
	funcs    []Func
	labels   []string
	weights  []float64
	timeouts []time.Duration
	workers  int
	// Logger receives one line per failed or timed-out score; nil is silent.
	Logger *slog.Logger
}

// NewScorer validates cfg and builds its rewards from the registry.
func NewScorer(cfg Config) (*Scorer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Scorer{workers: cfg.Workers}
	if s.workers == 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	def := cfg.Timeout
	if def == 0 {
		def = DefaultTimeout
	}
	for i, sp := range cfg.Rewards {
		fn, err := New(sp.Name, sp.Params)
		if err != nil {
			return nil, fmt.Errorf("rewards[%d]: %w", i, err)
		}
		t := sp.Timeout
		if tl, ok := fn.(TimeLimiter); ok && t == 0 {
			t = tl.TimeLimit()
		}
		if t <= 0 {
			t = def
		}
		s.funcs = append(s.funcs, fn)
		s.labels = append(s.labels, sp.L())
		s.weights = append(s.weights, sp.W())
		s.timeouts = append(s.timeouts, t)
	}
	return s, nil
}

// Labels returns the rewards' labels in config order.
func (s *Scorer) Labels() []string { return append([]string(nil), s.labels...) }

// Result is what a Scorer gives a batch.
type Result struct {
	// Labels and Weights describe the rewards, in config order.
	Labels  []string
	Weights []float64
	// Scores[i][j] is reward j's score of sample i.
	Scores [][]Score
	// Total[i] is Σ_j Weights[j]·Scores[i][j].Value.
	Total []float64
}

// Row returns sample i's scores keyed by label, the shape samples.jsonl
// and `r1 reward` log.
func (r Result) Row(i int) map[string]Score {
	m := make(map[string]Score, len(r.Labels))
	for j, l := range r.Labels {
		m[l] = r.Scores[i][j]
	}
	return m
}

// Score scores every sample with every reward, at most Workers at a time.
// It never fails: a reward that errors, panics, returns a non-finite value
// or runs past its time limit scores 0 with Err set, and is logged. When
// ctx is cancelled the remaining scores are 0 with Err set.
func (s *Scorer) Score(ctx context.Context, samples []Sample) Result {
	n, m := len(samples), len(s.funcs)
	res := Result{
		Labels:  s.Labels(),
		Weights: append([]float64(nil), s.weights...),
		Scores:  make([][]Score, n),
		Total:   make([]float64, n),
	}
	for i := range res.Scores {
		res.Scores[i] = make([]Score, m)
	}
	if n == 0 {
		return res
	}
	type job struct{ sample, reward int } // sample < 0: a whole-batch call
	jobs := make(chan job)
	var wg sync.WaitGroup
	workers := min(s.workers, n*m)
	for range workers {
		wg.Go(func() {
			for jb := range jobs {
				if jb.sample < 0 {
					s.runBatch(ctx, jb.reward, samples, res.Scores)
				} else {
					res.Scores[jb.sample][jb.reward] = s.runOne(ctx, jb.reward, samples[jb.sample])
				}
			}
		})
	}
	for j, fn := range s.funcs {
		if _, ok := fn.(BatchFunc); ok {
			jobs <- job{-1, j}
			continue
		}
		for i := range samples {
			jobs <- job{i, j}
		}
	}
	close(jobs)
	wg.Wait()
	for i := range samples {
		for j := range s.funcs {
			sc := res.Scores[i][j]
			if sc.Err != "" && s.Logger != nil {
				s.Logger.Warn("reward failed", "reward", s.labels[j], "sample", i, "err", sc.Err)
			}
			res.Total[i] += s.weights[j] * sc.Value
		}
	}
	return res
}

// runOne scores one sample in its own goroutine so that a reward which
// ignores its context cannot stall training: after the deadline the
// goroutine is abandoned (it leaks until the reward returns).
func (s *Scorer) runOne(ctx context.Context, j int, smp Sample) Score {
	cctx, cancel := context.WithTimeout(ctx, s.timeouts[j])
	defer cancel()
	ch := make(chan Score, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- Score{Err: fmt.Sprintf("panic: %v", r)}
			}
		}()
		sc, err := s.funcs[j].Score(cctx, smp)
		if err != nil {
			ch <- Score{Err: s.errText(cctx, j, err)}
			return
		}
		ch <- sc
	}()
	select {
	case sc := <-ch:
		return clean(sc)
	case <-cctx.Done():
		select {
		case sc := <-ch: // finished at the deadline: keep the answer
			return clean(sc)
		default:
		}
		return Score{Err: s.errText(cctx, j, cctx.Err())}
	}
}

func (s *Scorer) runBatch(ctx context.Context, j int, samples []Sample, out [][]Score) {
	cctx, cancel := context.WithTimeout(ctx, s.timeouts[j])
	defer cancel()
	type reply struct {
		scores []Score
		err    error
	}
	ch := make(chan reply, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- reply{err: fmt.Errorf("panic: %v", r)}
			}
		}()
		sc, err := s.funcs[j].(BatchFunc).ScoreBatch(cctx, samples)
		ch <- reply{sc, err}
	}()
	var r reply
	select {
	case r = <-ch:
	case <-cctx.Done():
		select {
		case r = <-ch:
		default:
			r.err = cctx.Err()
		}
	}
	if r.err == nil && len(r.scores) != len(samples) {
		r.err = fmt.Errorf("returned %d scores for %d samples", len(r.scores), len(samples))
	}
	for i := range samples {
		if r.err != nil {
			out[i][j] = Score{Err: s.errText(cctx, j, r.err)}
		} else {
			out[i][j] = clean(r.scores[i])
		}
	}
}

func (s *Scorer) errText(ctx context.Context, j int, err error) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("%s after %v", TimeoutPrefix, s.timeouts[j])
	}
	return err.Error()
}

// clean enforces Score's contract: a failed score is worth 0, and a
// non-finite value is a failure rather than a poisoned gradient.
func clean(sc Score) Score {
	if sc.Err == "" && (math.IsNaN(sc.Value) || math.IsInf(sc.Value, 0)) {
		sc.Err = fmt.Sprintf("non-finite value %v", sc.Value)
	}
	if sc.Err != "" {
		return Score{Err: sc.Err}
	}
	return sc
}
