package language

import (
	"context"
	"strings"
	"testing"

	"github.com/r1go/r1/reward"
)

func TestCount(t *testing.T) {
	tests := []struct {
		text, lang    string
		words, target int
	}{
		{"The answer is 4.", "en", 3, 3},
		{"答案是四", "zh", 4, 4},
		{"我们 compute 这个", "zh", 5, 4},
		{"我们 compute 这个", "en", 5, 1},
		{"我们compute这个", "en", 5, 1},
		{"Привет, world!", "ru", 2, 1},
		{"Привет, world!", "Cyrillic", 2, 1},
		{"日本語のテキスト", "ja", 8, 8},
		{"日本語のテキスト", "zh", 8, 3},
		{"コーヒー", "ja", 2, 2}, // ー is script-neutral: it neither counts nor splits
		{"cafe\u0301 naïve", "fr", 2, 2},
		{"abcабв", "en", 2, 1},
		{`\frac{a}{b} is x`, "en", 4, 4},
		{"123 + 456 = 579", "en", 0, 0},
		{"", "en", 0, 0},
		{"한국어 문장", "ko", 2, 2},
		{"Ελληνικά and English", "el", 3, 1},
		{"pt_BR usa português", "pt-BR", 4, 4},
	}
	for _, tc := range tests {
		tg, err := ParseTarget(tc.lang)
		if err != nil {
			t.Fatal(err)
		}
		w, tw := Count(tc.text, tg)
		if w != tc.words || tw != tc.target {
			t.Errorf("Count(%q, %s) = %d, %d; want %d, %d", tc.text, tc.lang, w, tw, tc.words, tc.target)
		}
	}
}

func TestScore(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		params map[string]any
		s      reward.Sample
		want   float64
	}{
		{"think only", map[string]any{"language": "zh"},
			reward.Sample{Completion: "<think>我们来算</think><answer>The answer</answer>"}, 1},
		{"scope all", map[string]any{"language": "zh", "scope": "all"},
			reward.Sample{Completion: "<think>我们来算</think><answer>The answer</answer>"}, 4.0 / 6},
		{"prefilled think", map[string]any{"language": "zh"},
			reward.Sample{Prompt: "<｜Assistant｜><think>\n", Completion: "思考</think>answer words"}, 1},
		{"no think block: whole completion", nil,
			reward.Sample{Completion: "mixed 中文 text"}, 2.0 / 4},
		{"fields override", map[string]any{"language": "en"},
			reward.Sample{Completion: "<think>Привет world</think>", Fields: map[string]any{"language": "ru"}}, 0.5},
		// A chain of thought with no words (pure arithmetic) is consistent:
		// neutral, not punished.
		{"no words", nil, reward.Sample{Completion: "<think>1+1=2</think>"}, 1},
		{"no words, zh target", map[string]any{"language": "zh"}, reward.Sample{Completion: "<think>12 * 4 = 48, 48 - 6 = 42</think><answer>42</answer>"}, 1},
		{"only LaTeX commands", nil, reward.Sample{Completion: `<think>\frac{1}{2} + \sqrt{4} = 2.5</think>`}, 1},
		{"no words, empty param", map[string]any{"empty": 0}, reward.Sample{Completion: "<think>1+1=2</think>"}, 0},
	}
	for _, tc := range tests {
		fn, err := reward.New("language", tc.params)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := fn.Score(ctx, tc.s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.Value != tc.want {
			t.Errorf("%s: %v, want %v (parts %v)", tc.name, got.Value, tc.want, got.Parts)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, p := range []map[string]any{{"language": "klingon"}, {"scope": "answer"}, {"langauge": "en"}} {
		if _, err := reward.New("language", p); err == nil || !strings.Contains(err.Error(), "param") {
			t.Errorf("params %v: err %v", p, err)
		}
	}
	fn, _ := reward.New("language", nil)
	for _, f := range []map[string]any{{"language": 3}, {"language": "xx"}} {
		if _, err := fn.Score(context.Background(), reward.Sample{Completion: "a", Fields: f}); err == nil || !strings.Contains(err.Error(), "fields.language") {
			t.Errorf("fields %v: err %v", f, err)
		}
	}
}

func BenchmarkCount(b *testing.B) {
	tg, _ := ParseTarget("en")
	text := strings.Repeat("Let me think about this 问题 step by step. ", 200)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Count(text, tg)
	}
}

// FuzzCount checks that counting never panics and never finds more target
// words than words.
func FuzzCount(f *testing.F) {
	for _, s := range []string{"hello 世界", `\frac{x}`, "cafe\u0301", "\xff\xfe"} {
		f.Add(s)
	}
	tg, _ := ParseTarget("ja")
	f.Fuzz(func(t *testing.T, s string) {
		w, tw := Count(s, tg)
		if tw > w || tw < 0 {
			t.Fatalf("%q: %d target of %d words", s, tw, w)
		}
	})
}
