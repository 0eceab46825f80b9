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

// BenchmarkServeVsSample measures r1 serve's aggregate generated tokens/s
// with C concurrent streaming clients (the batch bounded at C) and its time
// to first token (p50/p99), against r1 sample's engine (Engine.Generate) on
// the same 64 prompts at batch C. The two alternate, three times each, so
// that a shared machine's load hits both alike; the medians and their
// ratio are reported:
//
//	go test ./serve -run - -bench ServeVsSample -benchtime 1x
func BenchmarkServeVsSample(b *testing.B) {
	for _, c := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			o := tinyOptions(b, cpu.New())
			var served, sampled, p50s, p99s []float64
			for rep := 0; rep < 3*b.N; rep++ {
				sampled = append(sampled, generateTokS(b, o, c))
				tps, p50, p99 := serveTokS(b, o, c)
				served, p50s, p99s = append(served, tps), append(p50s, p50), append(p99s, p99)
			}
			med := func(x []float64) float64 { sort.Float64s(x); return x[len(x)/2] }
			ms, mg := med(served), med(sampled)
			b.ReportMetric(ms, "serve_tok/s")
			b.ReportMetric(mg, "sample_tok/s")
			b.ReportMetric(ms/mg, "serve/sample")
			b.ReportMetric(1000*med(p50s), "ttft_p50_ms")
			b.ReportMetric(1000*med(p99s), "ttft_p99_ms")
		})
	}
}

// serveTokS runs the 64 prompts through a server with the given number of
// clients and returns tokens/s and the TTFT p50 and p99 in seconds. Every
// request has generateTokS's seed, so both sides generate the same tokens
// (a sample's draws depend on the seed, its prompt and its index): with
// other seeds the completions' lengths differ, and with them the share of
// prefill time in tokens/s.
func serveTokS(b testing.TB, o Options, clients int) (float64, float64, float64) {
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
					`{"prompt": %s, "max_tokens": %d, "temperature": 1, "seed": 1, "stream": true, "stream_options": {"include_usage": true}}`, p, benchMaxTokens)))
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
	el := time.Since(start)
	sort.Float64s(ttfts)
	return float64(tokens) / el.Seconds(), ttfts[len(ttfts)/2], ttfts[min(len(ttfts)-1, len(ttfts)*99/100)]
}

// generateTokS runs the 64 prompts through Engine.Generate at batch C (what
// r1 sample --prompts --batch C does) and returns tokens/s.
func generateTokS(b testing.TB, o Options, batch int) float64 {
	eng := &sample.Engine{Model: o.Model, MaxBatch: batch, Decode: func(ids []int32) string { return o.Tokenizer.Decode(ids, true) }}
	var reqs []sample.Request
	for _, p := range benchPrompts() {
		reqs = append(reqs, sample.Request{Prompt: o.Tokenizer.Encode(p, true), N: 1})
	}
	start := time.Now()
	out, err := eng.Generate(context.Background(), reqs, sample.Params{Temperature: 1, TopP: 1, MaxNewTokens: benchMaxTokens, StopIDs: o.StopIDs, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	tokens := 0
	for _, s := range out {
		tokens += len(s.Tokens)
	}
	return float64(tokens) / el.Seconds()
}
