package data

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/r1go/r1/reward"
)

// Judge decides whether completions of one task's examples are correct,
// and what answer they give, through the registered reward the task names.
// Training (grpo's evaluation), r1 eval and r1 pretrain's base-model check
// all judge with it, so "accuracy" means one thing everywhere. It is safe
// for concurrent use when its reward is, as the registered ones are.
type Judge struct {
	task    Task
	fn      reward.Func
	answers reward.Answerer
	matcher reward.AnswerMatcher // nil: answer keys alone decide votes
	timeout time.Duration
}

// Attempt is one completion of an example.
type Attempt struct {
	// Prompt is the exact text the model was conditioned on.
	Prompt string
	// Completion is the generated text, without the prompt.
	Completion string
	// Truncated is set when generation stopped at its token limit.
	Truncated bool
	// Tokens is the completion's length in tokens.
	Tokens int
	// Continued is set when the prompt was the example's Continuation (a
	// base model continuing code): the completion is cut at the example's
	// ContinuationStops before it is judged.
	Continued bool
}

// Verdict is a judged attempt.
type Verdict struct {
	// Answer is the final answer the reward extracted ("" when none); it is
	// what cons@k votes on.
	Answer string
	// Correct is set when the reward gave full marks (≥ 1): a right math
	// answer, a right Countdown equation, every test passed.
	Correct bool
	// Score is the reward's value (code: the fraction of tests passed).
	Score float64
	// Err is set when the attempt could not be judged (no sandbox for code,
	// a row without the fields the reward needs, a check that ran out of
	// time); the attempt then counts as wrong.
	Err error
}

// NewJudge builds the judge of a task. params configure its reward (for
// code: sandbox, python, timeout_s, …); nil takes the defaults, which
// define correctness.
func NewJudge(task Task, params map[string]any) (*Judge, error) {
	switch task {
	case TaskMath, TaskCountdown, TaskCode:
	default:
		return nil, fmt.Errorf("judge: unknown task %q (expected math, countdown or code)", task)
	}
	name := string(task)
	if !reward.Registered(name) {
		return nil, fmt.Errorf("judge %s: reward %q is not registered (link github.com/r1go/r1/reward/all into the program)", task, name)
	}
	fn, err := reward.New(name, params)
	if err != nil {
		return nil, fmt.Errorf("judge %s: %w", task, err)
	}
	answers, ok := fn.(reward.Answerer)
	if !ok {
		return nil, fmt.Errorf("judge %s: reward %q does not extract answers (it implements no reward.Answerer)", task, name)
	}
	j := &Judge{task: task, fn: fn, answers: answers, timeout: reward.DefaultTimeout}
	j.matcher, _ = fn.(reward.AnswerMatcher)
	if tl, ok := fn.(reward.TimeLimiter); ok {
		// Running code needs the sandbox's own limit, not the default.
		j.timeout = tl.TimeLimit()
	}
	return j, nil
}

// Task is the task the judge decides.
func (j *Judge) Task() Task { return j.task }

// Check judges one attempt at ex. It never panics: a reward that does
// leaves the attempt unjudged, as the training scorer does.
func (j *Judge) Check(ctx context.Context, ex Example, at Attempt) (v Verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = Verdict{Err: fmt.Errorf("%s judge: panic: %v", j.task, r)}
		}
	}()
	text := at.Completion
	if at.Continued {
		text = cutAtFirst(text, ex.ContinuationStops)
	}
	v.Answer = j.answers.Answer(text)
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	s, err := j.fn.Score(ctx, reward.Sample{Prompt: at.Prompt, Completion: text, Fields: ex.Fields,
		Truncated: at.Truncated, Tokens: at.Tokens})
	if err != nil {
		v.Err = fmt.Errorf("%s judge: %w", j.task, err)
		return v
	}
	v.Score = s.Value
	// Countdown gives its full score only for a right equation and code
	// the fraction of tests passed, so only full marks are correct.
	v.Correct = s.Value >= 1-1e-9
	return v
}

// Voting returns how this task's answers are grouped for majority voting
// (cons@k): key maps an answer to a group, and same, when not nil, also
// merges groups whose answers are equivalent though their keys differ.
func (j *Judge) Voting(ctx context.Context) (key func(answer string) string, same func(a, b string) bool) {
	key = j.answers.AnswerKey
	if j.matcher != nil {
		same = func(a, b string) bool { return j.matcher.SameAnswer(ctx, a, b) }
	}
	return key, same
}

// Judges holds a judge per task, for datasets whose examples mix tasks.
type Judges map[Task]*Judge

// NewJudges builds a judge for each task; params[task] configures its
// reward. General prompts (TaskGeneral) have no judge.
func NewJudges(tasks []Task, params map[Task]map[string]any) (Judges, error) {
	js := Judges{}
	for _, t := range tasks {
		if js[t] != nil || t == TaskGeneral {
			continue
		}
		j, err := NewJudge(t, params[t])
		if err != nil {
			return nil, err
		}
		js[t] = j
	}
	return js, nil
}

// Check judges an attempt at ex with the judge of ex's task.
func (js Judges) Check(ctx context.Context, ex Example, at Attempt) Verdict {
	j := js[ex.Task]
	if j == nil {
		return Verdict{Err: fmt.Errorf("no judge for task %q of example %d", ex.Task, ex.Index)}
	}
	return j.Check(ctx, ex, at)
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
