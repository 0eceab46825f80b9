package distill

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/filter"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/openai/openaitest"
	"github.com/r1go/r1/sample"
)

// BenchmarkGenerateRemote measures how busy r1 generate keeps an
// OpenAI-compatible teacher: 256 samples against a server that takes
// 20 ms per request, with concurrency 8. It reports the mean and the most
// requests in flight (as the client counts them: busy time / wall time)
// and samples/s; 8 in flight at 20 ms each is the ceiling of 400/s.
//
//	go test ./distill -run '^$' -bench GenerateRemote -benchtime 3x
func BenchmarkGenerateRemote(b *testing.B) {
	srv := openaitest.New(teacherAnswer)
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	var mean, most, rate float64
	for i := range b.N {
		c, err := openai.New(openai.Config{URL: srv.URL(), Model: "teacher", Concurrency: 8})
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(b.TempDir(), "gen.jsonl")
		st, err := Generate(context.Background(), GenerateConfig{Out: out, N: 4, NoFilter: true}, testPrompts(64),
			&Remote{Client: c, Temperature: 0.6, TopP: 0.95, MaxTokens: 100, Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		cs := c.Stats()
		mean += cs.Busy.Seconds() / cs.Wall.Seconds()
		most = max(most, float64(cs.MaxInFlight))
		rate += float64(st.Generated) / st.Elapsed.Seconds()
	}
	b.ReportMetric(mean/float64(b.N), "in-flight-mean")
	b.ReportMetric(most, "in-flight-max")
	b.ReportMetric(rate/float64(b.N), "samples/s")
}

// BenchmarkLocalTeacher compares r1 generate's local path (Generate with
// a Local teacher: rows appended to OUT.partial, filters at the end) with
// the bare engine r1 sample runs, on the same random test model, prompts
// and sampling settings, side by side in one process:
//
//	go test ./distill -run '^$' -bench LocalTeacher -benchtime 3x -count 3
func BenchmarkLocalTeacher(b *testing.B) {
	dir := b.TempDir()
	md := filepath.Join(dir, "m")
	if _, err := testmodel.Write(md, "qwen2", 9); err != nil {
		b.Fatal(err)
	}
	p := sample.Params{Temperature: 0.6, TopP: 0.95, MaxNewTokens: 48, Seed: 1}
	prompts := testPrompts(32)
	for _, mode := range []string{"engine", "generate"} {
		b.Run(mode, func(b *testing.B) {
			l, err := LoadLocal(md, cpu.New(), p, "r1-zero", 64)
			if err != nil {
				b.Fatal(err)
			}
			tokens := 0
			for i := range b.N {
				if mode == "engine" {
					reqs := make([]sample.Request, len(prompts))
					for j, pr := range prompts {
						t, _ := chat.Prompt("r1-zero", pr.Example.Input, nil)
						reqs[j] = sample.Request{Prompt: l.Tok.Encode(t, true), N: 4}
					}
					l.Engine.OnFinish = func(s *sample.Sample) { tokens += len(s.Tokens) }
					if _, err := l.Engine.Generate(context.Background(), reqs, l.Params); err != nil {
						b.Fatal(err)
					}
					continue
				}
				out := filepath.Join(b.TempDir(), fmt.Sprintf("g%d.jsonl", i))
				st, err := Generate(context.Background(), GenerateConfig{Out: out, N: 4, Filter: filter.Defaults()}, prompts, l)
				if err != nil {
					b.Fatal(err)
				}
				tokens += st.Tokens
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
