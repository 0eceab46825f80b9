package eval

import (
	"context"
	"fmt"
	"testing"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
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
	v := mathVoter(b)
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
	js, err := data.NewJudges([]data.Task{data.TaskMath}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p := data.Example{Task: data.TaskMath, Gold: `\frac{14}{3}`, Fields: map[string]any{"answer": `\frac{14}{3}`}}
	comp := Completion{Text: "<think>First 2+2 = 4, then add 2/3.</think> So the total is \\boxed{\\dfrac{14}{3}}."}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := check(context.Background(), js, p, "", comp, false); !r.Correct {
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
	bench := &data.Dataset{Name: "arith", Task: data.TaskMath}
	for i := 0; i < 4; i++ {
		gold := fmt.Sprint(i + 30)
		bench.Examples = append(bench.Examples, data.Example{Index: i, Input: chat.PromptInput{Question: fmt.Sprintf("What is %d plus 30?", i)},
			Gold: gold, Task: data.TaskMath, Fields: map[string]any{"answer": gold}})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := Config{Settings: Settings{Model: "tiny", Prompt: "r1-zero", K: 4, Samples: 4, Temperature: 0.6, TopP: 0.95,
			MaxNewTokens: 16, Seed: uint64(i)}, Out: fmt.Sprintf("%s/%d", p, i)}
		if _, err := Run(context.Background(), cfg, g, []*data.Dataset{bench}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "samples/s")
}
