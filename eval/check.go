package eval

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/reward/code"
	"github.com/r1go/r1/reward/mathverify"

	// Registers "countdown" (and "code", imported above).
	_ "github.com/r1go/r1/reward/countdown"
)

// SampleResult is one scored completion.
type SampleResult struct {
	Completion string `json:"completion"`
	// Answer is the extracted final answer ("" when none was found); it is
	// what cons@k votes on.
	Answer  string  `json:"answer"`
	Correct bool    `json:"correct"`
	Score   float64 `json:"score"`
	Finish  string  `json:"finish,omitempty"`
	Tokens  int     `json:"tokens"`
	// Err is set when the sample could not be scored (e.g. no sandbox for
	// code); the sample then counts as incorrect.
	Err string `json:"err,omitempty"`
}

// Checker scores completions of one benchmark kind.
type Checker struct {
	kind    Kind
	fn      reward.Func // countdown and code
	timeout time.Duration
	// Plain is set when prompts are in the plain format: code completions
	// are then continuations, cut at the problem's ContinuationStops.
	Plain bool
}

// NewChecker builds the checker of a kind. codeParams configure the code
// reward (sandbox, python, timeout_s, ...); other kinds ignore them.
func NewChecker(kind Kind, codeParams map[string]any) (*Checker, error) {
	c := &Checker{kind: kind, timeout: mathverify.DefaultTimeout}
	switch kind {
	case KindMath:
	case KindCountdown, KindCode:
		var params map[string]any
		if kind == KindCode {
			params = codeParams
		}
		fn, err := reward.New(string(kind), params)
		if err != nil {
			return nil, err
		}
		c.fn = fn
		if kind == KindCode {
			c.timeout = 2 * code.DefaultWall
		}
	default:
		return nil, fmt.Errorf("checker kind %q: expected math, countdown or code", kind)
	}
	return c, nil
}

// Voter returns how this kind's answers are clustered for cons@k: math by
// mathverify equivalence, the others by their text with whitespace runs
// collapsed (an equation or program has no cheaper equivalence test).
func (c *Checker) Voter(ctx context.Context) Voter {
	if c.kind == KindMath {
		return MathVoter(ctx, c.timeout)
	}
	return Voter{Key: func(s string) string { return strings.Join(strings.Fields(s), " ") }}
}

var answerTagRE = regexp.MustCompile(`(?s)<answer>(.*?)</answer>`)

// Check scores one completion of p given the exact prompt text.
func (c *Checker) Check(ctx context.Context, p Problem, prompt string, comp Completion) SampleResult {
	r := SampleResult{Completion: comp.Text, Finish: comp.FinishReason, Tokens: comp.Tokens}
	text := comp.Text
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	switch c.kind {
	case KindMath:
		r.Answer, _ = mathverify.ExtractAnswer(comp.Text)
		if r.Answer != "" && mathverify.Verify(ctx, p.Gold, comp.Text) {
			r.Correct, r.Score = true, 1
		}
		return r
	case KindCountdown:
		if m := answerTagRE.FindAllStringSubmatch(comp.Text, -1); len(m) > 0 {
			r.Answer = strings.TrimSpace(m[len(m)-1][1])
		}
	case KindCode:
		if c.Plain {
			text = cutAtFirst(text, p.ContinuationStops)
		}
		r.Answer = strings.TrimSpace(code.ExtractCode(text))
	}
	s, err := c.fn.Score(ctx, reward.Sample{Prompt: prompt, Completion: text, Fields: p.Fields,
		Truncated: comp.FinishReason == "length", Tokens: comp.Tokens})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Score = s.Value
	// Countdown gives 1.0 only for a right equation; code gives the
	// fraction of tests passed, so only a full pass is correct.
	r.Correct = s.Value >= 1-1e-9
	if c.kind == KindCode && s.Parts != nil && s.Parts["total"] == 0 {
		r.Correct = false
	}
	return r
}

// cutAtFirst returns s up to the earliest occurrence of any stop.
func cutAtFirst(s string, stops []string) string {
	end := len(s)
	for _, st := range stops {
		if i := strings.Index(s, st); i >= 0 && i < end {
			end = i
		}
	}
	return s[:end]
}
