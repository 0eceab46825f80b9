package countdown

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/reward"
)

// Expected values are what Python 3's eval gives for the same text.
func TestEval(t *testing.T) {
	tests := []struct {
		expr string
		want float64
		ok   bool
	}{
		{"1+2", 3, true},
		{" 44 + 19 + 35 ", 98, true},
		{"7/2", 3.5, true},
		{"7//2", 3, true},
		{"-7//2", -4, true},
		{"7//-2", -4, true},
		{"7.5//2", 3, true},
		{"4433445//.2", 22167224, true}, // not floor(4433445/.2)
		{"-7.5//2", -4, true},
		{"7.5//-2", -4, true},
		{"2**3", 8, true},
		{"2**3**2", 512, true},
		{"-2**2", -4, true},
		{"2**-1", 0.5, true},
		{"(1+2)*3", 9, true},
		{"--3", 3, true},
		{"3 - - 2", 5, true},
		{"1.", 1, true},
		{".5*2", 1, true},
		{"00+1", 1, true},
		{"8/2*3", 12, true},
		{"(((4)))", 4, true},
		{"1/0", 0, false},
		{"1//0", 0, false},
		{"1.0/0", 0, false},
		{"05+1", 0, false},
		{"1 2", 0, false},
		{"(1+2", 0, false},
		{"1+2)", 0, false},
		{"", 0, false},
		{"()", 0, false},
		{"2***3", 0, false},
		{"2* *3", 0, false},
		{"1.2.3", 0, false},
		{"1e5", 0, false},
		{"1*(2)(3)", 0, false},
		{"99**99**99", 0, false},
		{"(-8)**(1/3)", 0, false},
		{"0**-1", 0, false},
		{"2 % 3", 0, false},
		{"x", 0, false},
		{"٣+1", 0, false},
	}
	for _, tc := range tests {
		got, err := Eval(tc.expr)
		if (err == nil) != tc.ok {
			t.Errorf("Eval(%q) error = %v, want ok=%v", tc.expr, err, tc.ok)
			continue
		}
		if tc.ok && got != tc.want {
			t.Errorf("Eval(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestEvalNesting(t *testing.T) {
	for _, tc := range []struct {
		depth int
		ok    bool
	}{{3, true}, {150, true}, {5000, false}} {
		for _, s := range []string{strings.Repeat("(", tc.depth) + "1" + strings.Repeat(")", tc.depth), strings.Repeat("-", 2*tc.depth) + "1"} {
			v, err := Eval(s)
			if (err == nil) != tc.ok || (tc.ok && v != 1) {
				t.Errorf("depth %d: %v, %v", tc.depth, v, err)
			}
		}
	}
}

// Truth table for TinyZero's rules on the task nums [44, 19, 35], target 98.
func TestScoreTruthTable(t *testing.T) {
	fields := map[string]any{"nums": []any{44.0, 19.0, 35.0}, "target": 98.0}
	tests := []struct {
		name, completion string
		want             float64
	}{
		{"correct", "I add them.</think>\n<answer>44 + 19 + 35</answer>", 1},
		{"correct, other order and parens", "<answer>(35 + 44) + 19</answer>", 1},
		{"answer not on last line", "<answer>44 + 19 + 35</answer>\nThat's it.", 0},
		{"no answer", "44 + 19 + 35 = 98", 0},
		{"unclosed answer", "<answer>44 + 19 + 35", 0},
		{"number missing", "<answer>44 + 19</answer>", 0.1},
		{"extra number", "<answer>44 + 19 + 35 + 1</answer>", 0.1},
		{"number used twice", "<answer>44 + 19 + 35 + 35 - 35</answer>", 0.1},
		{"wrong value", "<answer>44 * 19 - 35</answer>", 0.1},
		{"equation with result", "<answer>44 + 19 + 35 = 98</answer>", 0.1},
		{"decimal adds a number", "<answer>44 + 19 + 35.0</answer>", 0.1},
		{"leading zero: numbers ok, eval fails", "<answer>44 + 19 + 035</answer>", 0.1},
		{"letters", "<answer>x = 44 + 19 + 35</answer>", 0.1},
		{"last of several answers counts", "<answer>1 + 1</answer> <answer>44 + 19 + 35</answer>", 1},
		{"last answer wrong", "<answer>44 + 19 + 35</answer> <answer>44 - 19 - 35</answer>", 0.1},
		{"empty answer", "<answer></answer>", 0.1},
	}
	fn, err := reward.New("countdown", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		got, err := fn.Score(context.Background(), reward.Sample{Completion: tc.completion, Fields: fields})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.Value != tc.want {
			t.Errorf("%s: %v, want %v (parts %v)", tc.name, got.Value, tc.want, got.Parts)
		}
	}
}

func TestScoreDivisionAndParams(t *testing.T) {
	fields := map[string]any{"nums": []int{8, 3, 2}, "target": 12}
	fn, err := reward.New("countdown", map[string]any{"score": 2, "format_score": 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    string
		want float64
	}{{"<answer>8 / 2 * 3</answer>", 2}, {"<answer>8 / (2 * 3)</answer>", 0}, {"<answer>3 / (2 - 2) + 8</answer>", 0}} {
		got, _ := fn.Score(context.Background(), reward.Sample{Completion: tc.c, Fields: fields})
		if got.Value != tc.want {
			t.Errorf("%s: %v, want %v", tc.c, got.Value, tc.want)
		}
	}
}

func TestFullTextMode(t *testing.T) {
	fields := map[string]any{"numbers": []any{1, 2}, "target": 3}
	fn, err := reward.New("countdown", map[string]any{"full_text": true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prompt string
		want   float64
	}{
		{"User: use [1, 2].\nAssistant: Let me solve this step by step.\n<think>", 1},
		{"<|im_start|>assistant\nLet me solve this step by step.\n<think>", 1},
		{"no marker here\n", 0},
	} {
		got, _ := fn.Score(context.Background(), reward.Sample{Prompt: tc.prompt, Completion: "ok</think>\n<answer>1+2</answer>", Fields: fields})
		if got.Value != tc.want {
			t.Errorf("prompt %q: %v, want %v", tc.prompt, got.Value, tc.want)
		}
	}
}

func TestTaskErrors(t *testing.T) {
	for _, tc := range []struct {
		fields map[string]any
		want   string
	}{
		{nil, `expected "nums"`},
		{map[string]any{"nums": "1,2", "target": 3}, "fields.nums: expected a list"},
		{map[string]any{"nums": []any{1, 2.5}, "target": 3}, "fields.nums[1]: expected an integer"},
		{map[string]any{"nums": []any{}, "target": 3}, "non-empty"},
		{map[string]any{"nums": []any{1}}, "fields.target: missing"},
		{map[string]any{"nums": []any{1}, "target": "x"}, "fields.target"},
	} {
		_, _, err := Task(tc.fields)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Task(%v) = %v, want %q", tc.fields, err, tc.want)
		}
	}
}

// solve finds an expression that uses every number once and equals target,
// by exact search over pairs; it exists to check the reward on real rows.
func solve(vals []float64, exprs []string, target float64) string {
	if len(vals) == 1 {
		if math.Abs(vals[0]-target) < 1e-9 {
			return exprs[0]
		}
		return ""
	}
	for i := range vals {
		for j := range vals {
			if i == j {
				continue
			}
			var rv []float64
			var re []string
			for k := range vals {
				if k != i && k != j {
					rv, re = append(rv, vals[k]), append(re, exprs[k])
				}
			}
			a, b, ea, eb := vals[i], vals[j], exprs[i], exprs[j]
			cands := []struct {
				v float64
				e string
			}{{a + b, "(" + ea + " + " + eb + ")"}, {a - b, "(" + ea + " - " + eb + ")"}, {a * b, "(" + ea + " * " + eb + ")"}}
			if b != 0 {
				cands = append(cands, struct {
					v float64
					e string
				}{a / b, "(" + ea + " / " + eb + ")"})
			}
			for _, c := range cands {
				if s := solve(append(rv, c.v), append(re, c.e), target); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

// Real rows of TinyZero's Countdown test split: a solution found by search
// scores 1 and a perturbed one does not.
func TestRealData(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "countdown", "test.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no data: %v", err)
	}
	defer f.Close()
	fn, _ := reward.New("countdown", nil)
	sc := bufio.NewScanner(f)
	for n := 0; n < 60 && sc.Scan(); n++ {
		var fields map[string]any
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			t.Fatalf("%s line %d: %v", path, n+1, err)
		}
		nums, target, err := Task(fields)
		if err != nil {
			t.Fatalf("%s line %d: %v", path, n+1, err)
		}
		vals := make([]float64, len(nums))
		exprs := make([]string, len(nums))
		for i, x := range nums {
			vals[i], exprs[i] = float64(x), fmt.Sprint(x)
		}
		sol := solve(vals, exprs, target)
		if sol == "" {
			t.Fatalf("line %d: no solution found for %v → %v", n+1, nums, target)
		}
		for _, tc := range []struct {
			c    string
			want float64
		}{{"<think>search</think>\n<answer>" + sol + "</answer>", 1}, {"<answer>" + sol + " + 1</answer>", 0.1}} {
			got, err := fn.Score(context.Background(), reward.Sample{Completion: tc.c, Fields: fields})
			if err != nil || got.Value != tc.want {
				t.Errorf("line %d %v→%v: %q scored %v (%v), want %v", n+1, nums, target, tc.c, got.Value, err, tc.want)
			}
		}
	}
}

func BenchmarkScore(b *testing.B) {
	fn, _ := reward.New("countdown", nil)
	s := reward.Sample{Completion: strings.Repeat("thinking ", 300) + "</think>\n<answer>(44 + 19) + 35</answer>",
		Fields: map[string]any{"nums": []any{44.0, 19.0, 35.0}, "target": 98.0}}
	for b.Loop() {
		fn.Score(context.Background(), s)
	}
}

// FuzzScore checks that no completion makes the reward panic or return a
// value other than 0, format_score or score.
func FuzzScore(f *testing.F) {
	for _, s := range []string{"<answer>44 + 19 + 35</answer>", "<answer>((44**19)**35)</answer>", "<answer>-(-44//0.0)</answer>", "<answer>1e999</answer>"} {
		f.Add(s)
	}
	fn, _ := reward.New("countdown", nil)
	fields := map[string]any{"nums": []any{44.0, 19.0, 35.0}, "target": 98.0}
	f.Fuzz(func(t *testing.T, c string) {
		got, err := fn.Score(context.Background(), reward.Sample{Completion: c, Fields: fields})
		if err != nil || (got.Value != 0 && got.Value != 0.1 && got.Value != 1) {
			t.Fatalf("%q: %v, %v", c, got.Value, err)
		}
		Eval(c)
	})
}
