package all

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/reward"
)

func TestAllRegistered(t *testing.T) {
	names := reward.Names()
	for _, want := range []string{"format", "format_lenient", "tag_count", "countdown", "language",
		"overlong", "cosine", "repetition", "remote", "math", "code", "judge", "rm"} {
		if !slices.Contains(names, want) {
			t.Errorf("reward %q not registered (have %v)", want, names)
		}
	}
}

// BenchmarkScorer scores a batch of 256 Countdown-style completions with
// format, countdown, language and repetition, as one GRPO step would.
func BenchmarkScorer(b *testing.B) {
	sc, err := reward.NewScorer(reward.Config{Rewards: []reward.Spec{
		{Name: "format"}, {Name: "countdown"}, {Name: "language"}, {Name: "repetition"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	samples := make([]reward.Sample, 256)
	for i := range samples {
		samples[i] = reward.Sample{
			Prompt:     "Assistant: Let me solve this step by step.\n<think>",
			Completion: strings.Repeat("We try 44 + 19 = 63, then add 35. ", 40) + "</think>\n<answer>(44 + 19) + 35</answer>",
			Fields:     map[string]any{"nums": []any{44.0, 19.0, 35.0}, "target": 98.0},
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		sc.Score(ctx, samples)
	}
	b.ReportMetric(float64(b.N*len(samples))/b.Elapsed().Seconds(), "samples/s")
}
