// Package countdown implements TinyZero's Countdown reward, registered as
// "countdown".
//
// The task: combine the numbers Fields["nums"] with + - * / and parentheses,
// each exactly once, to make Fields["target"]. The rules follow TinyZero's
// verl/utils/reward_score/countdown.py compute_score:
//
//  1. Keep only the last line of the text, and in it the last
//     <answer>…</answer>; none found scores 0.
//  2. Every integer in the answer (maximal digit runs, so "2.5" holds 2 and
//     5), sorted, must equal the sorted nums; otherwise format_score (0.1).
//  3. The answer is evaluated as Python would (true division, ints exact,
//     // and ** included since their characters are allowed); if evaluation
//     fails, format_score.
//  4. |value − target| < 1e-5 scores score (1.0), anything else format_score.
//
// One difference, by design: TinyZero scores the prompt and completion
// together and first cuts everything up to the first "Assistant:" (or
// "<|im_start|>assistant"), scoring 0 when neither is present. r1 keeps the
// prompt apart, so the completion alone is scored and no marker is needed.
// When the prompt ends with such a marker (as TinyZero's templates do) both
// give the same reward. Param "full_text": true restores TinyZero's exact
// behaviour on Prompt+Completion.
package countdown

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("countdown", func(params map[string]any) (reward.Func, error) { return New(params) })
}

// Reward is the Countdown reward.
type Reward struct {
	score, formatScore float64
	fullText           bool
}

// New builds the reward. Params: score (1.0), format_score (0.1),
// full_text (false).
func New(params map[string]any) (*Reward, error) {
	p := reward.NewParams(params)
	r := &Reward{}
	var err error
	if r.score, err = p.Float("score", 1); err != nil {
		return nil, err
	}
	if r.formatScore, err = p.Float("format_score", 0.1); err != nil {
		return nil, err
	}
	if r.fullText, err = p.Bool("full_text", false); err != nil {
		return nil, err
	}
	return r, p.Done()
}

// Name implements reward.Func.
func (r *Reward) Name() string { return "countdown" }

// Score implements reward.Func. Missing or malformed nums/target is an
// error (the sample is unscorable), not a wrong answer.
func (r *Reward) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	nums, target, err := Task(s.Fields)
	if err != nil {
		return reward.Score{}, err
	}
	text := s.Completion
	if r.fullText {
		full := s.Prompt + s.Completion
		var ok bool
		if text, ok = afterMarker(full); !ok {
			return r.result(0, 0, 0, 0), nil
		}
	}
	eq, ok := ExtractAnswer(text)
	if !ok {
		return r.result(0, 0, 0, 0), nil
	}
	if !NumbersMatch(eq, nums) {
		return r.result(1, 0, 0, 0), nil
	}
	v, err := Eval(eq)
	if err != nil {
		return r.result(1, 1, 0, 0), nil
	}
	if math.Abs(v-target) < 1e-5 {
		return r.result(1, 1, 1, 1), nil
	}
	return r.result(1, 1, 1, 0), nil
}

func (r *Reward) result(found, numsOK, evals, correct float64) reward.Score {
	v := 0.0
	switch {
	case correct == 1:
		v = r.score
	case found == 1:
		v = r.formatScore
	}
	return reward.Score{Value: v, Parts: map[string]float64{
		"answer_found": found, "numbers_ok": numsOK, "evaluates": evals, "correct": correct,
	}}
}

func afterMarker(text string) (string, bool) {
	for _, m := range []string{"Assistant:", "<|im_start|>assistant"} {
		if _, after, ok := strings.Cut(text, m); ok {
			return after, true
		}
	}
	return "", false
}

// ExtractAnswer returns the stripped content of the last <answer>…</answer>
// on the last line of text.
func ExtractAnswer(text string) (string, bool) {
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[i+1:]
	}
	var last string
	found := false
	for {
		i := strings.Index(text, reward.AnswerOpen)
		if i < 0 {
			break
		}
		text = text[i+len(reward.AnswerOpen):]
		j := strings.Index(text, reward.AnswerClose)
		if j < 0 {
			break
		}
		last, found = text[:j], true
		text = text[j+len(reward.AnswerClose):]
	}
	return strings.TrimSpace(last), found
}

// NumbersMatch reports whether the integers written in eq are exactly nums,
// as multisets. Numbers are compared as decimal strings so that a huge
// literal cannot overflow.
func NumbersMatch(eq string, nums []int64) bool {
	var got []string
	for i := 0; i < len(eq); {
		r := rune(eq[i])
		if r < '0' || r > '9' {
			i++
			continue
		}
		j := i
		for j < len(eq) && eq[j] >= '0' && eq[j] <= '9' {
			j++
		}
		d := strings.TrimLeft(eq[i:j], "0")
		if d == "" {
			d = "0"
		}
		got = append(got, d)
		i = j
	}
	if len(got) != len(nums) {
		return false
	}
	want := make([]string, len(nums))
	for i, n := range nums {
		want[i] = strconv.FormatInt(n, 10)
	}
	sort.Strings(got)
	sort.Strings(want)
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// Task reads "nums" (or TinyZero's "numbers") and "target" from a dataset
// row.
func Task(fields map[string]any) (nums []int64, target float64, err error) {
	key := "nums"
	raw, ok := fields[key]
	if !ok {
		key = "numbers"
		if raw, ok = fields[key]; !ok {
			return nil, 0, fmt.Errorf(`fields: expected "nums" (a list of integers) and "target"`)
		}
	}
	var list []any
	switch v := raw.(type) {
	case []any:
		list = v
	case []float64:
		for _, x := range v {
			list = append(list, x)
		}
	case []int:
		for _, x := range v {
			list = append(list, x)
		}
	case []int64:
		for _, x := range v {
			list = append(list, x)
		}
	default:
		return nil, 0, fmt.Errorf("fields.%s: expected a list of integers, got %T", key, raw)
	}
	if len(list) == 0 {
		return nil, 0, fmt.Errorf("fields.%s: expected a non-empty list", key)
	}
	for i, x := range list {
		f, err := reward.ToFloat(x)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, 0, fmt.Errorf("fields.%s[%d]: expected an integer, got %v", key, i, x)
		}
		nums = append(nums, int64(f))
	}
	t, ok := fields["target"]
	if !ok {
		return nil, 0, fmt.Errorf(`fields.target: missing (expected a number)`)
	}
	if target, err = reward.ToFloat(t); err != nil {
		return nil, 0, fmt.Errorf("fields.target: %w", err)
	}
	return nums, target, nil
}
