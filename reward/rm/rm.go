// Package rm is the "rm" reward: a local reward model (as `r1 rm train`
// writes it) scoring completions in batches on r1's engine, as DeepSeek-R1's
// final RL stage did for general prompts.
//
// Params:
//   - model (required): the reward model's directory;
//   - scope: "full" (default) scores the prompt and the whole completion,
//     reasoning included (R1's harmlessness reward); "summary" scores the
//     prompt and only the text after </think> (R1's helpfulness reward,
//     which judged the final summary) — empty when the think block is not
//     closed;
//   - normalize: "none" (default) or "whiten": scores of one batch (one
//     GRPO rollout) shifted to mean 0 and scaled to standard deviation 1,
//     so that a reward model's arbitrary offset and scale do not set its
//     weight against rule rewards;
//   - clip: > 0 clamps the (normalised) score to [−clip, clip];
//   - batch_size (16) and max_len (0: the model's context; longer texts
//     keep their last max_len tokens).
//
// Models are loaded once per process and shared by rewards that name the
// same directory with the same batch_size and max_len.
package rm

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("rm", func(p map[string]any) (reward.Func, error) { return New(p) })
}

// Reward scores samples with a reward model.
type Reward struct {
	scorer    *Scorer
	summary   bool
	whiten    bool
	clip      float64
	timeLimit time.Duration
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Scorer{}
)

// New builds the "rm" reward from its params.
func New(params map[string]any) (*Reward, error) {
	p := reward.NewParams(params)
	dir, err := p.String("model", "")
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, fmt.Errorf(`param "model": required (a reward model directory, as r1 rm train writes)`)
	}
	r := &Reward{timeLimit: 10 * time.Minute}
	scope, err := p.String("scope", "full")
	if err != nil {
		return nil, err
	}
	switch scope {
	case "full":
	case "summary":
		r.summary = true
	default:
		return nil, fmt.Errorf(`param "scope": expected full or summary, got %q`, scope)
	}
	norm, err := p.String("normalize", "none")
	if err != nil {
		return nil, err
	}
	switch norm {
	case "none":
	case "whiten":
		r.whiten = true
	default:
		return nil, fmt.Errorf(`param "normalize": expected none or whiten, got %q`, norm)
	}
	if r.clip, err = p.Float("clip", 0); err != nil {
		return nil, err
	}
	if r.clip < 0 {
		return nil, fmt.Errorf(`param "clip": expected ≥ 0 (0: no clipping), got %g`, r.clip)
	}
	batch, err := p.Int("batch_size", 16)
	if err != nil {
		return nil, err
	}
	maxLen, err := p.Int("max_len", 0)
	if err != nil {
		return nil, err
	}
	if batch < 1 || maxLen < 0 {
		return nil, fmt.Errorf(`params "batch_size" (%d) and "max_len" (%d): expected ≥ 1 and ≥ 0`, batch, maxLen)
	}
	if err := p.Done(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s|%d|%d", abs, batch, maxLen)
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if r.scorer = cache[key]; r.scorer == nil {
		// Reward models run on the CPU backend, the one r1's tensor ops
		// run on today.
		s, err := LoadScorer(dir, cpu.New())
		if err != nil {
			return nil, fmt.Errorf(`param "model": %w`, err)
		}
		s.Batch = batch
		if maxLen > 0 {
			s.MaxLen = min(maxLen, s.MaxLen)
		}
		cache[key] = s
		r.scorer = s
	}
	return r, nil
}

// Name implements reward.Func.
func (r *Reward) Name() string { return "rm" }

// TimeLimit implements reward.TimeLimiter: a batch of a large model's
// forward passes on a CPU takes far longer than a rule check.
func (r *Reward) TimeLimit() time.Duration { return r.timeLimit }

// Text is what the reward model reads for s: the prompt and the
// completion, or with scope summary the prompt and the text after
// </think>.
func (r *Reward) Text(s reward.Sample) string {
	if !r.summary {
		return s.Prompt + s.Completion
	}
	_, rest, _ := reward.SplitThink(s)
	return s.Prompt + rest
}

// Score implements reward.Func: one sample alone (no whitening, which
// needs a batch).
func (r *Reward) Score(ctx context.Context, s reward.Sample) (reward.Score, error) {
	v, err := r.scorer.Score([]string{r.Text(s)})
	if err != nil {
		return reward.Score{}, err
	}
	return r.finish(v, false)[0], nil
}

// ScoreBatch implements reward.BatchFunc: the whole batch through the
// model, batch_size texts per forward pass, then normalised over the
// batch.
func (r *Reward) ScoreBatch(ctx context.Context, samples []reward.Sample) ([]reward.Score, error) {
	texts := make([]string, len(samples))
	for i, s := range samples {
		texts[i] = r.Text(s)
	}
	v, err := r.scorer.Score(texts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.finish(v, r.whiten), nil
}

// finish normalises and clips raw scores; Parts keeps the raw score.
func (r *Reward) finish(raw []float64, whiten bool) []reward.Score {
	v := append([]float64(nil), raw...)
	if whiten {
		Whiten(v)
	}
	out := make([]reward.Score, len(v))
	for i, x := range v {
		if r.clip > 0 {
			x = math.Max(-r.clip, math.Min(r.clip, x))
		}
		out[i] = reward.Score{Value: x, Parts: map[string]float64{reward.RawPart: raw[i]}}
	}
	return out
}

// Whiten shifts v to mean 0 and scales it to standard deviation 1 (the
// population std; all-equal values become 0).
func Whiten(v []float64) {
	if len(v) == 0 {
		return
	}
	var s, s2 float64
	for _, x := range v {
		s += x
		s2 += x * x
	}
	n := float64(len(v))
	mean := s / n
	std := math.Sqrt(math.Max(0, s2/n-mean*mean))
	for i := range v {
		v[i] -= mean
		if std > 1e-8 {
			v[i] /= std
		}
	}
}
