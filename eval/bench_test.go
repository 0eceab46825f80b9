package eval

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
)

// dataDir is /work/shared/data seen from this package; tests that need it
// skip when it is absent.
func dataDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Skip("shared data not found at", d)
	}
	return d
}

func TestLoadBuiltins(t *testing.T) {
	dir := dataDir(t)
	// Problem counts from shared/data/README.md (MBPP: the 11..510 test split).
	tests := []struct {
		name string
		kind Kind
		n    int
	}{
		{"gsm8k", KindMath, 1319}, {"math500", KindMath, 500}, {"aime24", KindMath, 30}, {"amc23", KindMath, 40},
		{"countdown", KindCountdown, 2001}, {"humaneval", KindCode, 164}, {"mbpp", KindCode, 500},
	}
	for _, tt := range tests {
		b, err := Load(tt.name, dir, 0)
		if err != nil {
			t.Fatalf("Load(%s): %v", tt.name, err)
		}
		if b.Kind != tt.kind || len(b.Problems) != tt.n {
			t.Errorf("%s: kind %s with %d problems, want %s with %d", tt.name, b.Kind, len(b.Problems), tt.kind, tt.n)
		}
		for i, p := range b.Problems {
			if p.Index != i || p.Question == "" {
				t.Fatalf("%s problem %d: index %d, question %q", tt.name, i, p.Index, p.Question)
			}
			if tt.kind == KindMath && p.Gold == "" {
				t.Fatalf("%s problem %d: empty gold", tt.name, i)
			}
		}
		if lb, err := Load(tt.name, dir, 3); err != nil || len(lb.Problems) != 3 {
			t.Errorf("Load(%s, limit 3): %v problems, %v", tt.name, len(lb.Problems), err)
		}
	}
}

// GSM8K gold is the number after "####" without thousands separators;
// AMC's numeric answers print without ".0"; MBPP starts at task 11.
func TestLoadGoldQuirks(t *testing.T) {
	dir := dataDir(t)
	g, err := Load("gsm8k", dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Problems {
		if _, err := strconv.ParseFloat(p.Gold, 64); err != nil {
			t.Fatalf("gsm8k problem %d: gold %q is not a plain number", p.Index, p.Gold)
		}
	}
	a, err := Load("amc23", dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Problems {
		if strings.HasSuffix(p.Gold, ".0") {
			t.Fatalf("amc23 problem %d: gold %q keeps a float suffix", p.Index, p.Gold)
		}
	}
	m, err := Load("mbpp", dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Problems[0].ID != "11" {
		t.Fatalf("mbpp first problem is task %s, want 11", m.Problems[0].ID)
	}
}

func TestLoadUserFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("mine.jsonl", `{"problem": "1+1?", "answer": "2"}`+"\n\n"+`{"question": "2+2?", "answer": 4}`+"\n")
	b, err := Load(good, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "mine" || b.Kind != KindMath || len(b.Problems) != 2 || b.Problems[1].Gold != "4" || b.Problems[1].Question != "2+2?" {
		t.Fatalf("Load = %+v", b)
	}
	bad := []struct{ name, body, want string }{
		{"nojson.jsonl", "{\"problem\": \"x\", \"answer\": \"1\"}\nnot json\n", "nojson.jsonl:2"},
		{"noans.jsonl", `{"problem": "x"}`, `field "answer"`},
		{"noprob.jsonl", `{"answer": "1"}`, `field "problem"`},
		{"badprob.jsonl", `{"problem": 3, "answer": "1"}`, `field "problem"`},
		{"empty.jsonl", "\n", "no problems"},
	}
	for _, tt := range bad {
		_, err := Load(write(tt.name, tt.body), "", 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	if _, err := Load("nosuch", dir, 0); err == nil || !strings.Contains(err.Error(), "unknown benchmark") {
		t.Errorf("Load(nosuch) = %v", err)
	}
	if _, err := Load("gsm8k", "", 0); err == nil {
		t.Error("Load(gsm8k) without a data dir: want an error")
	}
}

func TestBuildPrompt(t *testing.T) {
	tmpl, err := chat.Parse("test", "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
	if err != nil {
		t.Fatal(err)
	}
	math := Problem{Question: "What is 1+1?"}
	code := Problem{Question: "Complete f.", Continuation: "def f():\n"}
	tests := []struct {
		format string
		kind   Kind
		p      Problem
		want   string
	}{
		{"plain", KindMath, math, "What is 1+1?\n" + MathInstruction},
		{"chat", KindMath, math, "<user>What is 1+1?\n" + MathInstruction + "<assistant>"},
		{"r1-zero", KindMath, math, chat.R1Zero("What is 1+1?")},
		{"plain", KindCode, code, "def f():\n"},
		{"chat", KindCode, code, "<user>Complete f.<assistant>"},
		{"plain", KindCountdown, Problem{Question: "Use 1, 2"}, "Use 1, 2"},
	}
	for _, tt := range tests {
		got, err := BuildPrompt(tt.format, tt.kind, tt.p, tmpl)
		if err != nil || got != tt.want {
			t.Errorf("BuildPrompt(%s, %s) = %q, %v; want %q", tt.format, tt.kind, got, err, tt.want)
		}
	}
	if _, err := BuildPrompt("chat", KindMath, math, nil); err == nil {
		t.Error("chat without a template: want an error")
	}
	if _, err := BuildPrompt("few-shot", KindMath, math, nil); err == nil {
		t.Error("unknown format: want an error")
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	mathC, err := NewChecker(KindMath, nil)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := NewChecker(KindCountdown, nil)
	if err != nil {
		t.Fatal(err)
	}
	cdFields := map[string]any{"nums": []any{3.0, 5.0, 2.0}, "target": 13.0}
	tests := []struct {
		name    string
		c       *Checker
		p       Problem
		text    string
		answer  string
		correct bool
	}{
		{"AIME zero-padded gold", mathC, Problem{Gold: "025"}, `so the answer is \boxed{25}.`, "25", true},
		{"AMC numeric gold", mathC, Problem{Gold: "-1"}, `<answer>-1</answer>`, "-1", true},
		{"LaTeX gold", mathC, Problem{Gold: `\frac{\pi}{2}`}, `\boxed{\dfrac{\pi}{2}}`, `\dfrac{\pi}{2}`, true},
		{"wrong", mathC, Problem{Gold: "18"}, `\boxed{17}`, "17", false},
		{"no answer", mathC, Problem{Gold: "18"}, `I do not know`, "", false},
		{"countdown right", cd, Problem{Fields: cdFields}, "<think>x</think> <answer>3 * 5 - 2</answer>", "3 * 5 - 2", true},
		{"countdown wrong value", cd, Problem{Fields: cdFields}, "<answer>3 + 5 + 2</answer>", "3 + 5 + 2", false},
		{"countdown no tag", cd, Problem{Fields: cdFields}, "13", "", false},
	}
	for _, tt := range tests {
		r := tt.c.Check(ctx, tt.p, "", Completion{Text: tt.text, FinishReason: "stop", Tokens: 3})
		if r.Answer != tt.answer || r.Correct != tt.correct || r.Err != "" || r.Tokens != 3 {
			t.Errorf("%s: Check = %+v, want answer %q correct %v", tt.name, r, tt.answer, tt.correct)
		}
	}
	// A row the countdown reward cannot read is an unscored sample, not a panic.
	r := cd.Check(ctx, Problem{Fields: map[string]any{}}, "", Completion{Text: "<answer>1</answer>"})
	if r.Err == "" || r.Correct {
		t.Errorf("countdown without nums: %+v, want an error", r)
	}
	if _, err := NewChecker("essay", nil); err == nil {
		t.Error("unknown kind: want an error")
	}
}

func TestCheckCode(t *testing.T) {
	c, err := NewChecker(KindCode, map[string]any{"timeout_s": 10.0})
	if err != nil {
		t.Fatal(err)
	}
	p := Problem{Fields: map[string]any{"test_list": []any{"assert add(1, 2) == 3", "assert add(0, 0) == 0"}}}
	good := c.Check(context.Background(), p, "", Completion{Text: "```python\ndef add(a, b):\n    return a + b\n```"})
	if good.Err != "" {
		t.Skip("code sandbox unavailable here:", good.Err)
	}
	bad := c.Check(context.Background(), p, "", Completion{Text: "```python\ndef add(a, b):\n    return a - b\n```"})
	if !good.Correct || good.Score != 1 || bad.Correct || bad.Err != "" {
		t.Fatalf("good %+v, bad %+v", good, bad)
	}
	if !strings.HasPrefix(good.Answer, "def add") {
		t.Fatalf("answer %q, want the extracted program", good.Answer)
	}

	// A plain-format HumanEval continuation is cut at the next top-level
	// statement, so the rambling after the function does not break it.
	he := Problem{Continuation: "def inc(x):\n", ContinuationStops: humanEvalStops, Fields: map[string]any{
		"prompt": "def inc(x):\n", "entry_point": "inc",
		"test": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n"}}
	ramble := Completion{Text: "    return x + 1\n\nprint(inc(3)) and then some words that are not Python\n"}
	c.Plain = true
	if r := c.Check(context.Background(), he, "", ramble); !r.Correct || r.Answer != "return x + 1" {
		t.Fatalf("plain continuation: %+v", r)
	}
	c.Plain = false
	if r := c.Check(context.Background(), he, "", ramble); r.Correct {
		t.Fatalf("uncut continuation passed: %+v", r)
	}
}
