package length

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/r1go/r1/reward"
)

func init() {
	// Correctness read from the sample, so the cosine truth table controls it.
	reward.Register("length_test_acc", func(map[string]any) (reward.Func, error) { return acc{}, nil })
}

type acc struct{}

func (acc) Name() string { return "length_test_acc" }
func (acc) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	switch s.Fields["ok"] {
	case true:
		return reward.Score{Value: 1}, nil
	case false:
		return reward.Score{Value: 0}, nil
	}
	return reward.Score{}, errors.New("no gold answer")
}

func score(t *testing.T, name string, params map[string]any, s reward.Sample) reward.Score {
	t.Helper()
	fn, err := reward.New(name, params)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := fn.Score(context.Background(), s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return sc
}

func TestOverlong(t *testing.T) {
	tests := []struct {
		tokens, maxLen, cache int
		want                  float64
	}{
		{0, 100, 20, 0},
		{80, 100, 20, 0},
		{81, 100, 20, -0.05},
		{90, 100, 20, -0.5},
		{100, 100, 20, -1},
		{101, 100, 20, -1},
		{100, 100, 0, 0},
		{101, 100, 0, -1},
		{4096, 5120, 1024, 0}, // DAPO's setting: 4096 expected + 1024 cache
		{4097, 5120, 1024, -1.0 / 1024},
		{4608, 5120, 1024, -0.5},
	}
	for _, tc := range tests {
		got := score(t, "overlong", map[string]any{"max_len": tc.maxLen, "cache": tc.cache},
			reward.Sample{Completion: "x", Tokens: max(tc.tokens, 1)})
		if tc.tokens == 0 {
			got = score(t, "overlong", map[string]any{"max_len": tc.maxLen, "cache": tc.cache}, reward.Sample{})
		}
		if math.Abs(got.Value-tc.want) > 1e-12 {
			t.Errorf("overlong(n=%d, L=%d, C=%d) = %v, want %v", tc.tokens, tc.maxLen, tc.cache, got.Value, tc.want)
		}
	}
	// Default cache is max_len/5; unit chars counts code points.
	got := score(t, "overlong", map[string]any{"max_len": 10, "unit": "chars"}, reward.Sample{Completion: "ééééééééé"})
	if got.Value != -0.5 {
		t.Errorf("chars: %v, want -0.5", got.Value)
	}
}

func TestCosine(t *testing.T) {
	p := map[string]any{"accuracy": "length_test_acc"}
	tests := []struct {
		tokens  int
		correct bool
		want    float64
	}{
		{1, true, 1},
		{500, true, 0.75},
		{1000, true, 0.5},
		{2000, true, 0.5},
		{1, false, -1},
		{500, false, -0.75},
		{1000, false, -0.5},
		{5000, false, -0.5},
	}
	for _, tc := range tests {
		got := score(t, "cosine", p, reward.Sample{Completion: "x", Tokens: tc.tokens, Fields: map[string]any{"ok": tc.correct}})
		if math.Abs(got.Value-tc.want) > 1e-5 {
			t.Errorf("cosine(n=%d, correct=%v) = %v, want %v", tc.tokens, tc.correct, got.Value, tc.want)
		}
	}
	fn, _ := reward.New("cosine", p)
	if _, err := fn.Score(context.Background(), reward.Sample{Completion: "x", Tokens: 3}); err == nil || !strings.Contains(err.Error(), "no gold answer") {
		t.Errorf("accuracy failure: err %v", err)
	}
}

func TestRepetition(t *testing.T) {
	tests := []struct {
		text   string
		params map[string]any
		want   float64
	}{
		{"a b c a b c", nil, -0.25},
		{"A a a a", map[string]any{"ngram_size": 2}, -2.0 / 3},
		{"all different words here", nil, 0},
		{"", nil, 0},
		{"a b", nil, 0},
		{"a b c a b c", map[string]any{"max_penalty": -0.5}, -0.125},
		{"哈哈哈哈", map[string]any{"ngram_size": 2, "split": "chars"}, -2.0 / 3},
	}
	for _, tc := range tests {
		got := score(t, "repetition", tc.params, reward.Sample{Completion: tc.text})
		if math.Abs(got.Value-tc.want) > 1e-12 || math.Signbit(got.Value) != (tc.want < 0) {
			t.Errorf("repetition(%q, %v) = %v, want %v", tc.text, tc.params, got.Value, tc.want)
		}
	}
}

func TestParamErrors(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"overlong", nil, `"max_len": required`},
		{"overlong", map[string]any{"max_len": 0}, `"max_len": expected > 0`},
		{"overlong", map[string]any{"max_len": 10, "cache": 11}, `"cache"`},
		{"overlong", map[string]any{"max_len": 10, "unit": "bytes"}, `"unit"`},
		{"cosine", nil, `"accuracy": required`},
		{"cosine", map[string]any{"accuracy": "nope"}, "unknown reward"},
		{"cosine", map[string]any{"accuracy": "length_test_acc", "maxlen": 3}, "unknown param"},
		{"repetition", map[string]any{"max_penalty": 1}, `"max_penalty"`},
		{"repetition", map[string]any{"ngram_size": 0}, `"ngram_size"`},
		{"repetition", map[string]any{"split": "jieba"}, `"split"`},
	}
	for _, tc := range tests {
		if _, err := reward.New(tc.name, tc.params); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: err %v, want %q", tc.name, tc.params, err, tc.want)
		}
	}
	fn, _ := reward.New("overlong", map[string]any{"max_len": 10})
	if _, err := fn.Score(context.Background(), reward.Sample{Completion: "text but no tokens"}); err == nil {
		t.Error("missing token count should be an error")
	}
}

func BenchmarkRepetition(b *testing.B) {
	fn, _ := NewRepetition(nil)
	s := reward.Sample{Completion: strings.Repeat("so we add the two numbers and then check the result again ", 300)}
	for b.Loop() {
		fn.Score(context.Background(), s)
	}
}
