package eval

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func BenchmarkPassAtK(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := PassAtK(1024, 37, 64); err != nil {
			b.Fatal(err)
		}
	}
}

// A realistic vote: 16 answers in a few equivalent spellings.
func BenchmarkVoteMath16(b *testing.B) {
	v := MathVoter(context.Background(), time.Second)
	answers := []string{`\frac{1}{2}`, "0.5", "1/2", "3", `\sqrt{2}`, "", "3", "0.50", `\dfrac12`, "3.0",
		`2^{1/2}`, "7", "", "1/2", "x+1", "1+x"}
	for i := 0; i < b.N; i++ {
		if w, _ := v.Vote(answers); w != 0 {
			b.Fatalf("winner %d", w)
		}
	}
}

// Scoring throughput of math completions (samples/s), the part of an eval
// that runs on the CPU next to generation.
func BenchmarkCheckMath(b *testing.B) {
	c, err := NewChecker(KindMath, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := Problem{Gold: `\frac{14}{3}`}
	comp := Completion{Text: "<think>First 2+2 = 4, then add 2/3.</think> So the total is \\boxed{\\dfrac{14}{3}}."}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.Check(context.Background(), p, "", comp); !r.Correct {
			b.Fatal("not correct")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// End to end through Run with the tiny random model: generation, scoring
// and caching of 4 problems × 4 samples × up to 16 tokens.
func BenchmarkRunTinyModel(b *testing.B) {
	g := tinyGen(b, 512, 16)
	p := b.TempDir()
	bench := &Benchmark{Name: "arith", Kind: KindMath}
	for i := 0; i < 4; i++ {
		bench.Problems = append(bench.Problems, Problem{Index: i, Question: fmt.Sprintf("What is %d plus 30?", i), Gold: fmt.Sprint(i + 30)})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := Config{Settings: Settings{Model: "tiny", Prompt: "r1-zero", K: 4, Samples: 4, Temperature: 0.6, TopP: 0.95,
			MaxNewTokens: 16, Seed: uint64(i)}, Out: fmt.Sprintf("%s/%d", p, i)}
		if _, err := Run(context.Background(), cfg, g, []*Benchmark{bench}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "samples/s")
}
