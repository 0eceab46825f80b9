package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/sample"
)

// benchPrompts are R1-Zero prompts of arithmetic questions (the tiny
// model's task), 64 of them.
func benchPrompts() []string {
	var ps []string
	for i := 0; i < 64; i++ {
		ps = append(ps, chat.R1Zero(fmt.Sprintf("What is %d + %d?", 10+i, 3+i%17)))
	}
	return ps
}

const benchMaxTokens = 128

// BenchmarkServe measures r1 serve's aggregate generated tokens/s with C
// concurrent streaming clients (the batch bounded at C), and the time to
// first token's p50/p99; BenchmarkGenerate is r1 sample's engine on the
// same prompts at batch C. Compare them side by side:
//
//	go test ./serve -run - -bench 'Serve|Generate' -benchtime 1x
func BenchmarkServe(b *testing.B) {
	for _, clients := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			o := tinyOptions(b, cpu.New())
			o.MaxBatch = clients
			s, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(s)
			defer func() { hs.Close(); s.Close() }()
			prompts := benchPrompts()
			var tokens int
			var ttfts []float64
			var elapsed time.Duration
			for it := 0; it < b.N; it++ {
				var mu sync.Mutex
				next := 0
				var wg sync.WaitGroup
				start := time.Now()
				for c := 0; c < clients; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							mu.Lock()
							i := next
							next++
							mu.Unlock()
							if i >= len(prompts) {
								return
							}
							p, _ := json.Marshal(prompts[i])
							t0 := time.Now()
							resp, err := http.Post(hs.URL+"/v1/completions", "application/json", strings.NewReader(fmt.Sprintf(
								`{"prompt": %s, "max_tokens": %d, "temperature": 1, "seed": %d, "stream": true, "stream_options": {"include_usage": true}}`, p, benchMaxTokens, i)))
							if err != nil {
								b.Error(err)
								return
							}
							var first time.Duration
							buf := make([]byte, 4096)
							var body strings.Builder
							for {
								n, err := resp.Body.Read(buf)
								if n > 0 && first == 0 && strings.Contains(string(buf[:n]), `"text"`) {
									first = time.Since(t0)
								}
								body.Write(buf[:n])
								if err != nil {
									break
								}
							}
							resp.Body.Close()
							chunks, _ := streamed(b, strings.NewReader(body.String()))
							_, _, _, u := assemble(chunks)
							mu.Lock()
							tokens += int(u["completion_tokens"].(float64))
							ttfts = append(ttfts, first.Seconds())
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				elapsed += time.Since(start)
			}
			sort.Float64s(ttfts)
			b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
			b.ReportMetric(1000*ttfts[len(ttfts)/2], "ttft_p50_ms")
			b.ReportMetric(1000*ttfts[min(len(ttfts)-1, len(ttfts)*99/100)], "ttft_p99_ms")
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, batch := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			o := tinyOptions(b, cpu.New())
			eng := &sample.Engine{Model: o.Model, MaxBatch: batch, Decode: func(ids []int32) string { return o.Tokenizer.Decode(ids, true) }}
			var reqs []sample.Request
			for _, p := range benchPrompts() {
				reqs = append(reqs, sample.Request{Prompt: o.Tokenizer.Encode(p, true), N: 1})
			}
			var tokens int
			var elapsed time.Duration
			for it := 0; it < b.N; it++ {
				start := time.Now()
				out, err := eng.Generate(context.Background(), reqs, sample.Params{Temperature: 1, TopP: 1, MaxNewTokens: benchMaxTokens, StopIDs: o.StopIDs, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				for _, s := range out {
					tokens += len(s.Tokens)
				}
			}
			b.ReportMetric(float64(tokens)/elapsed.Seconds(), "tok/s")
		})
	}
}
