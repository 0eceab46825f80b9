package distill

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/openai/openaitest"
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
