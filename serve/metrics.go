package serve

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// metrics are the server's counters, written as Prometheus text.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // (path, code) → count

	promptTokens, completionTokens, reasoningTokens atomic.Int64

	duration, ttft *histogram
}

func newMetrics() *metrics {
	buckets := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}
	return &metrics{requests: map[[2]string]int64{}, duration: newHistogram(buckets), ttft: newHistogram(buckets)}
}

func (m *metrics) request(path string, code int) {
	switch path {
	case "/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions", "/v1/load_weights":
	default:
		path = "other" // unbounded label values would grow the series without end
	}
	m.mu.Lock()
	m.requests[[2]string{path, fmt.Sprint(code)}]++
	m.mu.Unlock()
}

// histogram is a Prometheus histogram: cumulative bucket counts.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []int64 // per bucket, not cumulative; last is +Inf
	sum    float64
	n      int64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.SearchFloat64s(h.bounds, v) // first bound ≥ v: le is inclusive
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(b *strings.Builder, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var acc int64
	for i, le := range h.bounds {
		acc += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{le=\"%g\"} %d\n", name, le, acc)
	}
	acc += h.counts[len(h.bounds)]
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, acc, name, h.sum, name, h.n)
}

// serveMetrics writes the Prometheus text exposition format.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	m := s.metrics
	var b strings.Builder
	m.mu.Lock()
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	b.WriteString("# HELP r1_requests_total HTTP requests answered, by path and status code.\n# TYPE r1_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "r1_requests_total{path=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	m.mu.Unlock()
	counter := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter("r1_prompt_tokens_total", "Prompt tokens of admitted requests.", m.promptTokens.Load())
	counter("r1_completion_tokens_total", "Tokens generated for completed requests.", m.completionTokens.Load())
	counter("r1_reasoning_tokens_total", "Generated tokens inside the reasoning (<think>) part.", m.reasoningTokens.Load())
	st := s.sched.Stats()
	counter("r1_decode_steps_total", "Decode steps the scheduler ran (one forward pass each).", st.Steps)
	counter("r1_sampled_tokens_total", "Tokens the scheduler sampled in decode steps.", st.Tokens)
	gauge("r1_queue_depth", "Requests waiting for admission.", int64(st.Waiting))
	gauge("r1_running_sequences", "Sequences decoding.", int64(st.Running))
	gauge("r1_kv_blocks_free", "KV cache blocks neither used nor reserved.", int64(st.FreeBlocks))
	gauge("r1_kv_blocks_total", "KV cache blocks.", int64(st.TotalBlocks))
	m.duration.write(&b, "r1_request_duration_seconds", "Time from a generation request's arrival to its last token.")
	m.ttft.write(&b, "r1_time_to_first_token_seconds", "Time from a generation request's arrival to its first token.")
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}
