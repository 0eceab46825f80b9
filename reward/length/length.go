// Package length holds length-shaping rewards:
//
//   - "overlong": DAPO's soft overlong punishment. With L = max_len and
//     C = cache, a completion of length n scores 0 when n ≤ L−C,
//     (L−C−n)/C when L−C < n ≤ L (linear from 0 down to −1), and −1 beyond.
//     Params: max_len (required), cache (default max_len/5, DAPO's ratio),
//     unit.
//   - "cosine": open-r1's cosine-scaled reward (from "Demystifying Long
//     Chain-of-Thought Reasoning"): short correct answers earn the most, long
//     wrong ones lose the least. Correctness comes from another reward named
//     by param "accuracy" (e.g. "math", with "accuracy_params"), counted as
//     correct when its value ≥ "threshold" (default 1). Params
//     min_value_wrong (−1), max_value_wrong (−0.5), min_value_correct
//     (0.5), max_value_correct (1), max_len (1000), unit. Unlike open-r1,
//     lengths beyond max_len are clamped to max_len: open-r1's cosine turns
//     back up there, rewarding rambling.
//   - "repetition": open-r1's n-gram repetition penalty, (1 − unique/total)
//     n-grams × max_penalty. Params ngram_size (3), max_penalty (−1, must
//     be ≤ 0), split ("words": lower-cased whitespace-separated words as
//     open-r1 does for English; "chars": each non-space character, for
//     languages written without spaces, where open-r1 uses jieba).
//
// Param "unit" is "tokens" (default: Sample.Tokens, as DAPO counts) or
// "chars" (Unicode code points of the completion, as open-r1 counts).
package length

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("overlong", func(p map[string]any) (reward.Func, error) { return NewOverlong(p) })
	reward.Register("cosine", func(p map[string]any) (reward.Func, error) { return NewCosine(p) })
	reward.Register("repetition", func(p map[string]any) (reward.Func, error) { return NewRepetition(p) })
}

type unit bool // true: characters

func parseUnit(p *reward.Params) (unit, error) {
	u, err := p.String("unit", "tokens")
	if err != nil {
		return false, err
	}
	switch u {
	case "tokens":
		return false, nil
	case "chars":
		return true, nil
	}
	return false, fmt.Errorf(`param "unit": expected tokens or chars, got %q`, u)
}

var errNoTokens = errors.New("sample has no token count (Sample.Tokens / \"tokens\" is 0 for a non-empty completion); provide it or set param unit: chars")

func (u unit) length(s reward.Sample) (int, error) {
	if u {
		return utf8.RuneCountInString(s.Completion), nil
	}
	if s.Tokens < 0 {
		return 0, fmt.Errorf("sample tokens: expected >= 0, got %d", s.Tokens)
	}
	if s.Tokens == 0 && s.Completion != "" {
		return 0, errNoTokens
	}
	return s.Tokens, nil
}

// Overlong is DAPO's soft overlong punishment.
type Overlong struct {
	maxLen, cache int
	unit          unit
}

// NewOverlong builds the "overlong" reward.
func NewOverlong(params map[string]any) (*Overlong, error) {
	p := reward.NewParams(params)
	if !p.Has("max_len") {
		return nil, errors.New(`param "max_len": required (the maximum generation length)`)
	}
	r := &Overlong{}
	var err error
	if r.maxLen, err = p.Int("max_len", 0); err != nil {
		return nil, err
	}
	if r.maxLen <= 0 {
		return nil, fmt.Errorf(`param "max_len": expected > 0, got %d`, r.maxLen)
	}
	if r.cache, err = p.Int("cache", r.maxLen/5); err != nil {
		return nil, err
	}
	if r.cache < 0 || r.cache > r.maxLen {
		return nil, fmt.Errorf(`param "cache": expected 0..max_len (%d), got %d`, r.maxLen, r.cache)
	}
	if r.unit, err = parseUnit(p); err != nil {
		return nil, err
	}
	return r, p.Done()
}

// Name implements reward.Func.
func (r *Overlong) Name() string { return "overlong" }

// Score implements reward.Func.
func (r *Overlong) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	n, err := r.unit.length(s)
	if err != nil {
		return reward.Score{}, err
	}
	return reward.Score{Value: SoftOverlong(n, r.maxLen, r.cache), Parts: map[string]float64{"length": float64(n)}}, nil
}

// SoftOverlong is DAPO's penalty for a completion of length n.
func SoftOverlong(n, maxLen, cache int) float64 {
	switch {
	case n <= maxLen-cache:
		return 0
	case n <= maxLen:
		return float64(maxLen-cache-n) / float64(cache)
	}
	return -1
}

// Cosine is open-r1's cosine-scaled length reward.
type Cosine struct {
	acc                                reward.Func
	threshold                          float64
	minWrong, maxWrong, minCor, maxCor float64
	maxLen                             int
	unit                               unit
}

// NewCosine builds the "cosine" reward, and the accuracy reward it uses.
func NewCosine(params map[string]any) (*Cosine, error) {
	p := reward.NewParams(params)
	name, err := p.String("accuracy", "")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf(`param "accuracy": required, the reward that decides correctness (known: %v)`, reward.Names())
	}
	if name == "cosine" {
		return nil, errors.New(`param "accuracy": cannot be "cosine" itself`)
	}
	ap, err := p.Map("accuracy_params")
	if err != nil {
		return nil, err
	}
	r := &Cosine{}
	for _, f := range []struct {
		key string
		dst *float64
		def float64
	}{
		{"min_value_wrong", &r.minWrong, -1}, {"max_value_wrong", &r.maxWrong, -0.5},
		{"min_value_correct", &r.minCor, 0.5}, {"max_value_correct", &r.maxCor, 1},
		{"threshold", &r.threshold, 1},
	} {
		if *f.dst, err = p.Float(f.key, f.def); err != nil {
			return nil, err
		}
	}
	if r.maxLen, err = p.Int("max_len", 1000); err != nil {
		return nil, err
	}
	if r.maxLen <= 0 {
		return nil, fmt.Errorf(`param "max_len": expected > 0, got %d`, r.maxLen)
	}
	if r.unit, err = parseUnit(p); err != nil {
		return nil, err
	}
	if err := p.Done(); err != nil {
		return nil, err
	}
	if r.acc, err = reward.New(name, ap); err != nil {
		return nil, fmt.Errorf(`param "accuracy": %w`, err)
	}
	return r, nil
}

// Name implements reward.Func.
func (r *Cosine) Name() string { return "cosine" }

// Score implements reward.Func. A failure of the accuracy reward is a
// failure of this one: guessing "wrong" would punish right answers.
func (r *Cosine) Score(ctx context.Context, s reward.Sample) (reward.Score, error) {
	n, err := r.unit.length(s)
	if err != nil {
		return reward.Score{}, err
	}
	a, err := r.acc.Score(ctx, s)
	if err == nil && a.Err != "" {
		err = errors.New(a.Err)
	}
	if err != nil {
		return reward.Score{}, fmt.Errorf("accuracy reward %q: %w", r.acc.Name(), err)
	}
	correct := a.Value >= r.threshold
	v := CosineScaled(n, r.maxLen, correct, r.minWrong, r.maxWrong, r.minCor, r.maxCor)
	c := 0.0
	if correct {
		c = 1
	}
	return reward.Score{Value: v, Parts: map[string]float64{"correct": c, "length": float64(n)}}, nil
}

// CosineScaled interpolates along half a cosine from the value at length 0
// (max_value_correct when correct, min_value_wrong when wrong) to the value
// at maxLen and beyond (min_value_correct, max_value_wrong).
func CosineScaled(n, maxLen int, correct bool, minWrong, maxWrong, minCor, maxCor float64) float64 {
	progress := math.Min(float64(n)/float64(maxLen), 1)
	c := math.Cos(progress * math.Pi)
	lo, hi := minCor, maxCor
	if !correct {
		lo, hi = maxWrong, minWrong
	}
	return lo + 0.5*(hi-lo)*(1+c)
}

// Repetition is open-r1's n-gram repetition penalty.
type Repetition struct {
	n       int
	penalty float64
	chars   bool
}

// NewRepetition builds the "repetition" reward.
func NewRepetition(params map[string]any) (*Repetition, error) {
	p := reward.NewParams(params)
	r := &Repetition{}
	var err error
	if r.n, err = p.Int("ngram_size", 3); err != nil {
		return nil, err
	}
	if r.n < 1 {
		return nil, fmt.Errorf(`param "ngram_size": expected >= 1, got %d`, r.n)
	}
	if r.penalty, err = p.Float("max_penalty", -1); err != nil {
		return nil, err
	}
	if r.penalty > 0 {
		return nil, fmt.Errorf(`param "max_penalty": expected <= 0, got %v`, r.penalty)
	}
	split, err := p.String("split", "words")
	if err != nil {
		return nil, err
	}
	switch split {
	case "words":
	case "chars":
		r.chars = true
	default:
		return nil, fmt.Errorf(`param "split": expected words or chars, got %q`, split)
	}
	return r, p.Done()
}

// Name implements reward.Func.
func (r *Repetition) Name() string { return "repetition" }

// Score implements reward.Func.
func (r *Repetition) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	var toks []string
	if r.chars {
		for _, c := range s.Completion {
			if !unicode.IsSpace(c) {
				toks = append(toks, string(c))
			}
		}
	} else {
		toks = strings.Fields(strings.ToLower(s.Completion))
	}
	frac := RepeatedFraction(toks, r.n)
	v := 0.0 // not frac*penalty when frac is 0: -0 would be logged as "-0"
	if frac > 0 {
		v = frac * r.penalty
	}
	return reward.Score{Value: v, Parts: map[string]float64{"repeated": frac}}, nil
}

// RepeatedFraction is 1 − distinct/total over the n-grams of toks, and 0
// when there are fewer than n tokens.
func RepeatedFraction(toks []string, n int) float64 {
	if len(toks) < n || n < 1 {
		return 0
	}
	total := len(toks) - n + 1
	seen := make(map[string]struct{}, total)
	for i := 0; i < total; i++ {
		seen[strings.Join(toks[i:i+n], "\x00")] = struct{}{}
	}
	return 1 - float64(len(seen))/float64(total)
}
