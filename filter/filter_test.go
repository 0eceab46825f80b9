package filter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
)

// mathEx is a math example whose gold answer is 12.
var mathEx = data.Example{Task: data.TaskMath, Gold: "12", Fields: map[string]any{"answer": "12"}}

func resp(reasoning, summary string) string { return chat.FormatReasoning(reasoning, summary) }

const good = "Three boxes of four apples make three times four, which is twelve apples in total."

// Each crafted row is dropped for its reason, and only for it.
func TestFilterReasons(t *testing.T) {
	cfg := Defaults()
	cfg.MinChars, cfg.MaxChars = 20, 400
	loop := strings.Repeat("then I add one and check again ", 6)
	tests := []struct {
		name string
		row  Row
		want string
	}{
		{"kept", Row{Response: resp(good, "The answer is $\\boxed{12}$.")}, ""},
		{"wrong answer", Row{Response: resp(good, "The answer is $\\boxed{13}$.")}, "incorrect"},
		{"no answer", Row{Response: resp(good, "I do not know.")}, "incorrect"},
		{"no think block", Row{Response: "The answer is $\\boxed{12}$."}, "format"},
		{"R1-Zero tags in the summary", Row{Response: resp(good, "<answer>\\boxed{12}</answer>")}, "format"},
		{"mixed-language reasoning", Row{Response: resp("Three boxes 每个盒子有四个苹果 所以一共是十二个 apples.", "The answer is $\\boxed{12}$.")}, "language"},
		{"other-language summary", Row{Response: resp(good, "答案是 $\\boxed{12}$。")}, "language"},
		{"truncated", Row{Response: resp(good, "The answer is $\\boxed{12}$."), Truncated: true}, "length"},
		{"too long", Row{Response: resp(strings.Repeat(good+" ", 6), "The answer is $\\boxed{12}$.")}, "length"},
		{"loop", Row{Response: resp(loop, "The answer is $\\boxed{12}$.")}, "repetition"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(cfg, []data.Task{data.TaskMath})
			if err != nil {
				t.Fatal(err)
			}
			r := tc.row
			r.Prompt, r.Example = i, mathEx
			if got := s.Keep(context.Background(), &r); got != tc.want {
				t.Errorf("Keep = %q, want %q (scores %v)", got, tc.want, r.Scores)
			}
			st := s.Stats()
			if st.Seen != 1 || (tc.want == "") != (st.Kept == 1) || (tc.want != "" && st.Dropped[tc.want] != 1) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// Duplicates and near duplicates of a kept row of the same prompt are
// dropped; the same text for another prompt is not; the cap keeps M.
func TestFilterDuplicatesAndCap(t *testing.T) {
	cfg := Defaults()
	cfg.PerPrompt = 2
	a := resp(good, "The answer is $\\boxed{12}$.")
	near := resp(strings.Replace(good, "in total", "in all", 1), "The answer is $\\boxed{12}$.")
	other := resp("Four apples in each of three boxes: 4 + 4 + 4 = 12.", "So there are $\\boxed{12}$ apples.")
	third := resp("Multiply the boxes by the apples per box: 3 × 4 = 12.", "Hence $\\boxed{12}$.")
	s, err := New(cfg, []data.Task{data.TaskMath})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		prompt int
		text   string
		want   string
	}{
		{0, a, ""},
		{0, "  " + strings.ReplaceAll(a, " ", "  "), "duplicate"}, // same after whitespace normalisation
		{0, near, "duplicate"},
		{1, a, ""}, // another prompt
		{0, other, ""},
		{0, third, "over_cap"},
	}
	for i, st := range steps {
		r := Row{Prompt: st.prompt, Example: mathEx, Response: st.text}
		if got := s.Keep(context.Background(), &r); got != st.want {
			t.Errorf("step %d: Keep = %q, want %q", i, got, st.want)
		}
	}
	if got, want := s.Stats().String(), "3 of 6 kept; dropped: 2 duplicate, 1 over_cap"; got != want {
		t.Errorf("stats %q, want %q", got, want)
	}
}

// A score threshold decides correctness when Correct is "score".
func TestFilterScoreThreshold(t *testing.T) {
	cfg := Config{Correct: "score", ScoreName: "judge", MinScore: 0.5}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scores map[string]float64
		want   string
	}{{map[string]float64{"judge": 0.7}, ""}, {map[string]float64{"judge": 0.2}, "incorrect"}, {nil, "incorrect"}} {
		r := Row{Response: "x", Scores: tc.scores}
		if got := s.Keep(context.Background(), &r); got != tc.want {
			t.Errorf("scores %v: Keep = %q, want %q", tc.scores, got, tc.want)
		}
	}
}

// MinHash estimates Jaccard similarity within its stated error.
func TestMinHashSimilarity(t *testing.T) {
	shingles := func(s string) map[string]bool {
		m := map[string]bool{}
		r := []rune(s)
		for i := 0; i+shingle <= len(r); i++ {
			m[string(r[i:i+shingle])] = true
		}
		return m
	}
	jaccard := func(a, b string) float64 {
		x, y := shingles(a), shingles(b)
		inter := 0
		for k := range x {
			if y[k] {
				inter++
			}
		}
		return float64(inter) / float64(len(x)+len(y)-inter)
	}
	base := strings.Repeat("", 0) + "the quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill"
	for i, other := range []string{
		base,
		strings.Replace(base, "lazy", "sleepy", 1),
		strings.Replace(base, "the cat watches from the warm windowsill", "a bird sings in the old oak tree nearby", 1),
		"completely unrelated text about prime numbers and their distribution on the line",
	} {
		want := jaccard(base, other)
		got := Similarity(MinHash(base), MinHash(other))
		if d := got - want; d > 0.15 || d < -0.15 { // > 3 standard errors
			t.Errorf("case %d: MinHash similarity %.3f, exact Jaccard %.3f", i, got, want)
		}
	}
}

func TestMaxNGramCount(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		want int
	}{{"a b c a b c a b", 2, 3}, {"a b c", 4, 0}, {"x x x x", 1, 4}} {
		if got := MaxNGramCount(tc.text, tc.n); got != tc.want {
			t.Errorf("MaxNGramCount(%q, %d) = %d, want %d", tc.text, tc.n, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{{Correct: "vibes"}, {Correct: "score"}, {Format: "nope"}, {Language: "klingon", MinLanguage: 1},
		{Language: "en"}, {MinChars: 10, MaxChars: 5}, {RepeatNGram: 3}, {NearDup: 2}, {PerPrompt: -1}}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Error(err)
	}
	_ = fmt.Sprint()
}

func TestMix(t *testing.T) {
	var general []map[string]json.RawMessage
	for i := range 10 {
		general = append(general, map[string]json.RawMessage{"messages": json.RawMessage(fmt.Sprintf(`[{"role":"user","content":"hi %d"},{"role":"assistant","content":"hello"}]`, i))})
	}
	got, err := Mix(general, "g.jsonl", 8, 0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0]["kind"]) != `"general"` || string(got[0]["messages"]) == string(got[1]["messages"]) {
		t.Errorf("Mix gave %d rows %v: want 2 distinct general rows", len(got), got)
	}
	again, _ := Mix(general, "g.jsonl", 8, 0.25, 1)
	if string(again[0]["messages"]) != string(got[0]["messages"]) {
		t.Error("same seed, other rows")
	}
	if _, err := Mix(general, "g.jsonl", 100, 0.5, 1); err == nil {
		t.Error("50 rows drawn from 10")
	}
	if _, err := Mix([]map[string]json.RawMessage{{"foo": json.RawMessage("1")}}, "g.jsonl", 1, 1, 1); err == nil || !strings.Contains(err.Error(), "g.jsonl:1") {
		t.Errorf("non-SFT row: err %v", err)
	}
}
