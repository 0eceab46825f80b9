package data

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/reward"
	// The judges' rewards and format (tests only: package data links
	// none); not reward/all, whose rm reward imports sft, which imports data.
	_ "github.com/r1go/r1/reward/code"
	_ "github.com/r1go/r1/reward/countdown"
	_ "github.com/r1go/r1/reward/format"
	_ "github.com/r1go/r1/reward/mathverify"
)

// grade judges a completion of a synthetic problem as r1 pretrain's
// base-model check does: correct by the problem's judge, format by the
// strict "format" reward.
func grade(t testing.TB, p Problem, completion string) (format, correct bool) {
	t.Helper()
	g, err := graders()
	if err != nil {
		t.Fatal(err)
	}
	js, fr := g.judges, g.format
	prompt := p.R1ZeroPrompt()
	v := js.Check(context.Background(), p.Example(), Attempt{Prompt: prompt, Completion: completion})
	if v.Err != nil {
		t.Fatalf("%q: %v", completion, v.Err)
	}
	s, err := fr.Score(context.Background(), reward.Sample{Prompt: prompt, Completion: completion})
	if err != nil {
		t.Fatal(err)
	}
	return s.Value >= 1, v.Correct
}

// graders are built once: the corpus tests grade thousands of documents.
var graders = sync.OnceValues(func() (graderSet, error) {
	js, err := NewJudges([]Task{TaskMath, TaskCountdown}, nil)
	if err != nil {
		return graderSet{}, err
	}
	fr, err := reward.New("format", nil)
	return graderSet{js, fr}, err
})

type graderSet struct {
	judges Judges
	format reward.Func
}

func TestGradeSynthetic(t *testing.T) {
	ar := Problem{Kind: Arithmetic, Problem: "What is 2 + 3?", Answer: "5", Expr: "2 + 3"}
	cd := Problem{Kind: Countdown, Nums: []int{3, 7, 12}, Target: 48, Answer: "(7 - 3) * 12"}
	for _, tc := range []struct {
		p                Problem
		completion       string
		format, accurate bool
	}{
		{ar, " <think> 2 + 3 = 5. </think> <answer> 5 </answer>", true, true},
		{ar, "<think>\n2 + 3 = 6.\n</think>\n<answer>6</answer>\n", true, false},
		// The math reward reads a stated answer without tags too, as it
		// does when it trains.
		{ar, " 2 + 3 = 5. The answer is 5.", false, true},
		{ar, " 2 + 3 = 5. The answer is 6.", false, false},
		{ar, " <think> 2 + 3 = 5. </think> The answer is <answer> 5 </answer>", false, true},
		{ar, " <think> a <think> b </think> <answer> 5 </answer>", false, true},
		{ar, " <think> ok </think> <answer> 5 </answer> more", false, true},
		{ar, " <think> ok </think> <answer> five </answer>", true, false},
		{cd, " <think> 7 - 3 = 4, 4 * 12 = 48. </think> <answer> (7 - 3) * 12 </answer>", true, true},
		{cd, " <think> hmm </think> <answer> 12 * (7 - 3) </answer>", true, true},
		{cd, " <think> hmm </think> <answer> 12 * 4 </answer>", true, false},
		{cd, " <think> hmm </think> <answer> 48 </answer>", true, false},
		{cd, " <think> hmm </think> <answer> 12 * 7 - 3 </answer>", true, false},
		{cd, "", false, false},
	} {
		f, ok := grade(t, tc.p, tc.completion)
		if f != tc.format || ok != tc.accurate {
			t.Errorf("%s %q: format %v correct %v, want %v %v", tc.p.Kind, tc.completion, f, ok, tc.format, tc.accurate)
		}
	}
}

// One right and one wrong completion per task, through the judge that
// every caller uses, with the answer it extracts for voting.
func TestJudgeTasks(t *testing.T) {
	ctx := context.Background()
	math := Example{Task: TaskMath, Gold: "18", Fields: map[string]any{"answer": "18"}}
	aime := Example{Task: TaskMath, Gold: "025", Fields: map[string]any{"answer": "025"}}
	latex := Example{Task: TaskMath, Gold: `\frac{\pi}{2}`, Fields: map[string]any{"answer": `\frac{\pi}{2}`}}
	cd := Example{Task: TaskCountdown, Input: chat.PromptInput{Numbers: []int{3, 5, 2}, Target: 13},
		Fields: map[string]any{"nums": []any{3.0, 5.0, 2.0}, "target": 13.0}}
	tests := []struct {
		name    string
		ex      Example
		text    string
		answer  string
		correct bool
	}{
		{"math right", math, `so she makes \boxed{18} dollars.`, "18", true},
		{"math wrong", math, `\boxed{17}`, "17", false},
		{"math no answer", math, `I do not know`, "", false},
		{"AIME zero-padded gold", aime, `so the answer is \boxed{25}.`, "25", true},
		{"LaTeX gold", latex, `\boxed{\dfrac{\pi}{2}}`, `\dfrac{\pi}{2}`, true},
		{"countdown right", cd, "<think>x</think> <answer>3 * 5 - 2</answer>", "3 * 5 - 2", true},
		{"countdown wrong value", cd, "<answer>3 + 5 + 2</answer>", "3 + 5 + 2", false},
		{"countdown no tag", cd, "13", "", false},
	}
	js, err := NewJudges([]Task{TaskMath, TaskCountdown}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		v := js.Check(ctx, tt.ex, Attempt{Completion: tt.text, Tokens: 3})
		if v.Answer != tt.answer || v.Correct != tt.correct || v.Err != nil {
			t.Errorf("%s: %+v, want answer %q correct %v", tt.name, v, tt.answer, tt.correct)
		}
	}
	// A row the countdown reward cannot read is unjudged, not wrong by
	// accident or a panic.
	if v := js.Check(ctx, Example{Task: TaskCountdown, Fields: map[string]any{}}, Attempt{Completion: "<answer>1</answer>"}); v.Err == nil || v.Correct {
		t.Errorf("countdown without nums: %+v, want an error", v)
	}
	if v := js.Check(ctx, Example{Task: TaskCode}, Attempt{}); v.Err == nil {
		t.Errorf("no code judge built: %+v, want an error", v)
	}
	if _, err := NewJudge("essay", nil); err == nil {
		t.Error("unknown task: want an error")
	}
	if _, err := NewJudge(Mixed, nil); err == nil {
		t.Error("mixed is not a judge's task: want an error")
	}
}

func TestJudgeCode(t *testing.T) {
	j, err := NewJudge(TaskCode, map[string]any{"timeout_s": 10.0})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ex := Example{Task: TaskCode, Fields: map[string]any{"test_list": []any{"assert add(1, 2) == 3", "assert add(0, 0) == 0"}}}
	good := j.Check(ctx, ex, Attempt{Completion: "```python\ndef add(a, b):\n    return a + b\n```"})
	if good.Err != nil {
		t.Skip("code sandbox unavailable here:", good.Err)
	}
	bad := j.Check(ctx, ex, Attempt{Completion: "```python\ndef add(a, b):\n    return a - b\n```"})
	if !good.Correct || good.Score != 1 || bad.Correct || bad.Err != nil {
		t.Fatalf("good %+v, bad %+v", good, bad)
	}
	if !strings.HasPrefix(good.Answer, "def add") {
		t.Fatalf("answer %q, want the extracted program", good.Answer)
	}
	// A plain-format HumanEval continuation is cut at the next top-level
	// statement, so the rambling after the function does not break it.
	he := Example{Task: TaskCode, Continuation: "def inc(x):\n", ContinuationStops: humanEvalStops, Fields: map[string]any{
		"prompt": "def inc(x):\n", "entry_point": "inc",
		"test": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n"}}
	ramble := "    return x + 1\n\nprint(inc(3)) and then some words that are not Python\n"
	if v := j.Check(ctx, he, Attempt{Completion: ramble, Continued: true}); !v.Correct || v.Answer != "return x + 1" {
		t.Fatalf("plain continuation: %+v", v)
	}
	if v := j.Check(ctx, he, Attempt{Completion: ramble}); v.Correct {
		t.Fatalf("uncut continuation passed: %+v", v)
	}
}

// Votes group math answers by equivalence and the others by their text.
func TestJudgeVoting(t *testing.T) {
	ctx := context.Background()
	js, err := NewJudges([]Task{TaskMath, TaskCountdown}, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, same := js[TaskMath].Voting(ctx)
	if key("1/2") != key("0.5") || key("1/2") == key("1/3") || same == nil || !same(`\sin^2 x + \cos^2 x`, "1") {
		t.Errorf("math voting: key(1/2)=%q key(0.5)=%q", key("1/2"), key("0.5"))
	}
	key, same = js[TaskCountdown].Voting(ctx)
	if key("(3 +  5) * 2") != key("(3 + 5) * 2") || same != nil {
		t.Errorf("countdown voting: %q, same %v", key("(3 +  5) * 2"), same != nil)
	}
}
