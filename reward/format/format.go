// Package format scores whether a completion follows the R1 layout
// "<think> reasoning </think> <answer> answer </answer>".
//
// Three rewards are registered:
//
//   - "format": strict. Exactly one think block followed by exactly one
//     answer block, only whitespace before, between and after; neither block
//     may contain another tag, and the answer must not be blank. 1 or 0.
//   - "format_lenient": the four tags appear in order (anything may surround
//     them). 1 or 0.
//   - "tag_count": partial credit, 0.25 for each of the four tags that
//     appears exactly once (open-r1's tag_count_reward, without its newline
//     requirements).
//   - "format_summary": the R1 output format that cold start teaches
//     (DeepSeek-R1 §2.3.1, |special_token|<reasoning_process>|special_token|<summary>):
//     exactly one non-empty think block, then a non-empty summary with no
//     tag in it. 1 or 0.
//
// All three handle prompts that end with an open "<think>" (R1-Distill and
// TinyZero templates): the completion is scored as if "<think>" had been
// generated. Param "think_in_prompt" ("auto" by default, "yes" or "no")
// overrides the detection.
package format

import (
	"context"
	"fmt"
	"strings"

	"github.com/r1go/r1/reward"
)

// Mode selects the rule.
type Mode int

// The rules registered as "format", "format_lenient" and "tag_count".
const (
	Strict Mode = iota
	Lenient
	TagCount
	Summary
)

var names = map[Mode]string{Strict: "format", Lenient: "format_lenient", TagCount: "tag_count", Summary: "format_summary"}

func init() {
	for m, n := range names {
		reward.Register(n, func(params map[string]any) (reward.Func, error) { return New(m, params) })
	}
}

// Reward is a format reward.
type Reward struct {
	mode   Mode
	prefix string // "auto", "yes" or "no"
}

// New builds a format reward of the given mode from params.
func New(mode Mode, params map[string]any) (*Reward, error) {
	p := reward.NewParams(params)
	pre, err := p.String("think_in_prompt", "auto")
	if err != nil {
		return nil, err
	}
	switch pre {
	case "auto", "yes", "no":
	default:
		return nil, fmt.Errorf(`param "think_in_prompt": expected auto, yes or no, got %q`, pre)
	}
	if err := p.Done(); err != nil {
		return nil, err
	}
	return &Reward{mode: mode, prefix: pre}, nil
}

// Name implements reward.Func.
func (r *Reward) Name() string { return names[r.mode] }

// Score implements reward.Func.
func (r *Reward) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	text := r.text(s)
	switch r.mode {
	case Lenient:
		v := b2f(InOrder(text))
		return reward.Score{Value: v, Parts: map[string]float64{"lenient": v}}, nil
	case TagCount:
		parts := map[string]float64{}
		total := 0.0
		for _, t := range []struct{ part, tag string }{
			{"think_open", reward.ThinkOpen}, {"think_close", reward.ThinkClose},
			{"answer_open", reward.AnswerOpen}, {"answer_close", reward.AnswerClose},
		} {
			v := 0.0
			if strings.Count(text, t.tag) == 1 {
				v = 0.25
			}
			parts[t.part] = v
			total += v
		}
		return reward.Score{Value: total, Parts: parts}, nil
	case Summary:
		v := b2f(IsSummary(text))
		return reward.Score{Value: v, Parts: map[string]float64{"summary": v}}, nil
	default:
		v := b2f(IsStrict(text))
		return reward.Score{Value: v, Parts: map[string]float64{"strict": v}}, nil
	}
}

func (r *Reward) text(s reward.Sample) string {
	switch r.prefix {
	case "yes":
		return reward.ThinkOpen + s.Completion
	case "no":
		return s.Completion
	}
	return reward.FullCompletion(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var tags = []string{reward.ThinkOpen, reward.ThinkClose, reward.AnswerOpen, reward.AnswerClose}

func hasTag(s string) bool {
	for _, t := range tags {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// IsStrict reports whether text is exactly one think block then one answer
// block with only whitespace around them. It is a hand-written scan rather
// than a regexp so that the rule is explicit and linear in the text.
func IsStrict(text string) bool {
	rest := strings.TrimSpace(text)
	think, rest, ok := block(rest, reward.ThinkOpen, reward.ThinkClose)
	if !ok || hasTag(think) {
		return false
	}
	answer, rest, ok := block(strings.TrimLeft(rest, " \t\r\n"), reward.AnswerOpen, reward.AnswerClose)
	if !ok || hasTag(answer) || strings.TrimSpace(answer) == "" {
		return false
	}
	return rest == ""
}

// IsSummary reports whether text is one non-empty think block followed by
// a non-empty, tag-free summary: the R1 format after cold start.
func IsSummary(text string) bool {
	think, rest, ok := block(strings.TrimSpace(text), reward.ThinkOpen, reward.ThinkClose)
	if !ok || hasTag(think) || strings.TrimSpace(think) == "" {
		return false
	}
	return strings.TrimSpace(rest) != "" && !hasTag(rest)
}

// block expects s to start with open and returns what lies up to the first
// close and what follows it.
func block(s, open, close string) (inner, rest string, ok bool) {
	if !strings.HasPrefix(s, open) {
		return "", "", false
	}
	s = s[len(open):]
	i := strings.Index(s, close)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(close):], true
}

// InOrder reports whether the four tags appear in order.
func InOrder(text string) bool {
	for _, t := range tags {
		i := strings.Index(text, t)
		if i < 0 {
			return false
		}
		text = text[i+len(t):]
	}
	return true
}
