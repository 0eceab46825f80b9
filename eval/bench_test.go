package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
)

// mathVoter is how Run groups math answers for cons@k: the math judge's
// voting.
func mathVoter(t testing.TB) Voter {
	t.Helper()
	js, err := data.NewJudges([]data.Task{data.TaskMath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return voter(context.Background(), js, data.Example{Task: data.TaskMath})
}

func TestBuildPrompt(t *testing.T) {
	tmpl, err := chat.Parse("test", "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	math := data.Example{Task: data.TaskMath, Input: chat.PromptInput{Question: "What is 1+1?"}}
	code := data.Example{Task: data.TaskCode, Input: chat.PromptInput{Question: "Complete f."}, Continuation: "def f():\n"}
	countdown := data.Example{Task: data.TaskCountdown, Input: chat.PromptInput{Question: "Use 1, 2"}}
	tests := []struct {
		format string
		ex     data.Example
		want   string
	}{
		{"plain", math, "What is 1+1?\n" + MathInstruction},
		{"chat", math, "<user>What is 1+1?\n" + MathInstruction + "<assistant>"},
		{"chat-bare", math, "<user>What is 1+1?<assistant>"},
		{"r1-zero", math, chat.R1Zero("What is 1+1?")},
		{"plain", code, "def f():\n"},
		{"chat", code, "<user>Complete f.<assistant>"},
		{"plain", countdown, "Use 1, 2"},
	}
	for _, tt := range tests {
		got, err := BuildPrompt(tt.format, tt.ex, tmpl)
		if err != nil || got != tt.want {
			t.Errorf("BuildPrompt(%s, %s) = %q, %v; want %q", tt.format, tt.ex.Task, got, err, tt.want)
		}
	}
	if _, err := BuildPrompt("chat", math, nil); err == nil {
		t.Error("chat without a template: want an error")
	}
	if _, err := BuildPrompt("few-shot", math, nil); err == nil {
		t.Error("unknown format: want an error")
	}
}

// Every built-in benchmark's test split renders in every format that
// suits it.
func TestBuildPromptBuiltins(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Skip("shared data not found at", dir)
	}
	for _, name := range []string{"gsm8k", "math500", "aime24", "amc23", "countdown", "humaneval", "mbpp"} {
		ds, err := data.Open(name, data.SplitTest, data.Options{Dir: dir, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"plain", "r1-zero"} {
			p, err := BuildPrompt(f, ds.Examples[0], nil)
			if err != nil || p == "" {
				t.Errorf("%s %s: %q, %v", name, f, p, err)
			}
		}
	}
}

// SampleResult carries the judge's verdict; a sample the judge cannot
// score is an error, counted wrong.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	js, err := data.NewJudges([]data.Task{data.TaskMath, data.TaskCountdown}, nil)
	if err != nil {
		t.Fatal(err)
	}
	math := data.Example{Task: data.TaskMath, Gold: "025", Fields: map[string]any{"answer": "025"}}
	cd := data.Example{Task: data.TaskCountdown, Fields: map[string]any{"nums": []any{3.0, 5.0, 2.0}, "target": 13.0}}
	tests := []struct {
		name    string
		ex      data.Example
		text    string
		answer  string
		correct bool
	}{
		{"AIME zero-padded gold", math, `so the answer is \boxed{25}.`, "25", true},
		{"wrong", math, `\boxed{17}`, "17", false},
		{"countdown right", cd, "<think>x</think> <answer>3 * 5 - 2</answer>", "3 * 5 - 2", true},
		{"countdown no tag", cd, "13", "", false},
	}
	for _, tt := range tests {
		r := check(ctx, js, tt.ex, "", Completion{Text: tt.text, FinishReason: "stop", Tokens: 3}, false)
		if r.Answer != tt.answer || r.Correct != tt.correct || r.Err != "" || r.Tokens != 3 || r.Completion != tt.text || r.Finish != "stop" {
			t.Errorf("%s: check = %+v, want answer %q correct %v", tt.name, r, tt.answer, tt.correct)
		}
	}
	r := check(ctx, js, data.Example{Task: data.TaskCountdown, Fields: map[string]any{}}, "", Completion{Text: "<answer>1</answer>"}, false)
	if r.Err == "" || r.Correct {
		t.Errorf("countdown without nums: %+v, want an error", r)
	}
}

// In the plain format a HumanEval completion is a continuation, cut at the
// next top-level statement before its tests run.
func TestCheckCodeContinuation(t *testing.T) {
	js, err := data.NewJudges([]data.Task{data.TaskCode}, map[data.Task]map[string]any{data.TaskCode: {"timeout_s": 10.0}})
	if err != nil {
		t.Fatal(err)
	}
	he := data.Example{Task: data.TaskCode, Continuation: "def inc(x):\n", ContinuationStops: []string{"\nprint("},
		Fields: map[string]any{"prompt": "def inc(x):\n", "entry_point": "inc",
			"test": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n"}}
	ramble := Completion{Text: "    return x + 1\n\nprint(inc(3)) and then some words that are not Python\n"}
	r := check(context.Background(), js, he, "", ramble, true)
	if r.Err != "" {
		t.Skip("code sandbox unavailable here:", r.Err)
	}
	if !r.Correct || r.Answer != "return x + 1" {
		t.Fatalf("plain continuation: %+v", r)
	}
	if r := check(context.Background(), js, he, "", ramble, false); r.Correct || !strings.Contains(r.Completion, "words") {
		t.Fatalf("uncut continuation passed: %+v", r)
	}
}
