package eval

import (
	"context"

	"github.com/r1go/r1/data"

	// The judges' rewards (math, countdown, code), looked up by name;
	// not reward/all, whose rm reward loads models through sft, which
	// imports eval.
	_ "github.com/r1go/r1/reward/code"
	_ "github.com/r1go/r1/reward/countdown"
	_ "github.com/r1go/r1/reward/mathverify"
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

// check judges one completion of ex given the exact prompt text; plain
// says the prompt was in the plain format, whose code completions are
// continuations.
func check(ctx context.Context, js data.Judges, ex data.Example, prompt string, comp Completion, plain bool) SampleResult {
	v := js.Check(ctx, ex, data.Attempt{Prompt: prompt, Completion: comp.Text, Truncated: comp.FinishReason == "length",
		Tokens: comp.Tokens, Continued: plain && ex.Continuation != ""})
	r := SampleResult{Completion: comp.Text, Answer: v.Answer, Correct: v.Correct, Score: v.Score, Finish: comp.FinishReason,
		Tokens: comp.Tokens}
	if v.Err != nil {
		r.Err = v.Err.Error()
	}
	return r
}

// voter groups the answers of ex's task for cons@k as its judge does.
func voter(ctx context.Context, js data.Judges, ex data.Example) Voter {
	j := js[ex.Task]
	if j == nil {
		return Voter{}
	}
	key, same := j.Voting(ctx)
	return Voter{Key: key, Equal: same}
}
