package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r1go/r1/assets"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// tinyOptions loads the built-in tiny model (R1-Zero format, no template).
func tinyOptions(t testing.TB, dev tensor.Backend) Options {
	t.Helper()
	dir, err := assets.TinyDir()
	if err != nil {
		t.Skipf("no built-in model: %v", err)
	}
	o, err := Load(dir, "", dev)
	if err != nil {
		t.Fatal(err)
	}
	o.Name = "r1-tiny"
	return o
}

// startServer serves o on an httptest server closed with the test.
func startServer(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); s.Close() })
	return s, hs.URL
}

func post(t testing.TB, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// errorBody is OpenAI's error shape; decoding it strictly checks the shape.
type errorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// Bad requests get the status code and error body OpenAI's API gives.
func TestRawHTTPErrors(t *testing.T) {
	_, url := startServer(t, tinyOptions(t, cpu.New()))
	long := strings.Repeat("What is 2 + 2? ", 200)
	for _, c := range []struct {
		name, path, body string
		status           int
		param, code      string
		msg              string // a substring of the message
	}{
		{"malformed JSON", "/v1/chat/completions", `{"model": "r1-tiny", "messages": [`, 400, "", "", "could not parse the JSON body"},
		{"not an object", "/v1/chat/completions", `[1, 2]`, 400, "", "", "could not parse"},
		{"unknown field", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "frobnicate": 1}`, 400, "frobnicate", "", "Unrecognized request argument supplied: frobnicate"},
		{"wrong type", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}`, 400, "temperature", "invalid_type", "Invalid type"},
		{"negative max_tokens", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}`, 400, "max_tokens", "integer_below_min_value", "got -5"},
		{"zero max_completion_tokens", "/v1/completions", `{"prompt": "hi", "max_completion_tokens": 0}`, 400, "max_completion_tokens", "integer_below_min_value", ">= 1"},
		{"oversized prompt", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "` + long + `"}], "max_tokens": 100}`, 400, "messages", "context_length_exceeded", "tokens too many"},
		{"oversized completion", "/v1/completions", `{"prompt": "hi", "max_tokens": 5000}`, 400, "prompt", "context_length_exceeded", "maximum context length is 1024 tokens"},
		{"temperature out of range", "/v1/completions", `{"prompt": "hi", "temperature": 3}`, 400, "temperature", "decimal_out_of_range", "between 0 and 2"},
		{"n too large", "/v1/completions", `{"prompt": "hi", "n": 1000}`, 400, "n", "integer_out_of_range", "from 1 to 64"},
		{"empty messages", "/v1/chat/completions", `{"messages": []}`, 400, "messages", "", "empty array"},
		{"bad role", "/v1/chat/completions", `{"messages": [{"role": "wizard", "content": "hi"}]}`, 400, "messages[0].role", "", "wizard"},
		{"last turn not the user's", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}`, 400, "messages", "", "last message"},
		{"missing prompt", "/v1/completions", `{"model": "r1-tiny"}`, 400, "prompt", "", "Missing required parameter"},
		{"unknown model", "/v1/completions", `{"model": "gpt-9", "prompt": "hi"}`, 404, "model", "model_not_found", "gpt-9"},
		{"unknown URL", "/v1/engines", `{}`, 404, "", "unknown_url", "Invalid URL"},
		{"too many stops", "/v1/completions", `{"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}`, 400, "stop", "", "at most 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := post(t, url+c.path, c.body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			var e errorBody
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("not OpenAI's error shape (%v): %s", err, body)
			}
			if got := deref(e.Error.Param); got != c.param {
				t.Errorf("param %q, want %q", got, c.param)
			}
			if got := deref(e.Error.Code); got != c.code {
				t.Errorf("code %q, want %q", got, c.code)
			}
			if !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("message %q does not say %q", e.Error.Message, c.msg)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The API key, when set, is required on /v1/ and not on /health.
func TestAPIKey(t *testing.T) {
	o := tinyOptions(t, cpu.New())
	o.APIKey = "sekrit"
	_, url := startServer(t, o)
	for _, c := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer sekrit", 200}} {
		req, _ := http.NewRequest("GET", url+"/v1/models", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Fatalf("Authorization %q: status %d, want %d: %s", c.auth, resp.StatusCode, c.status, b)
		}
		if c.status == 401 && !strings.Contains(string(b), `"code":"invalid_api_key"`) {
			t.Fatalf("401 body: %s", b)
		}
	}
	if resp, err := http.Get(url + "/health"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health without a key: %v %v", resp, err)
	}
}

type chatResponse struct {
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role             string `json:"role"`
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"message"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage usage `json:"usage"`
}

// streamed reads an SSE response: the chunks' data and whether [DONE]
// ended it.
func streamed(t testing.TB, r io.Reader) (chunks []map[string]any, done bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		if done {
			t.Fatalf("data after [DONE]: %q", data)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("chunk is not JSON: %q", data)
		}
		chunks = append(chunks, m)
	}
	return chunks, done
}

// assemble joins the streamed deltas per choice.
func assemble(chunks []map[string]any) (reasoning, content, finish map[int]string, u map[string]any) {
	reasoning, content, finish = map[int]string{}, map[int]string{}, map[int]string{}
	for _, c := range chunks {
		if x, ok := c["usage"].(map[string]any); ok {
			u = x
		}
		for _, ch := range c["choices"].([]any) {
			ch := ch.(map[string]any)
			i := int(ch["index"].(float64))
			if d, ok := ch["delta"].(map[string]any); ok {
				if s, ok := d["reasoning_content"].(string); ok {
					reasoning[i] += s
				}
				if s, ok := d["content"].(string); ok {
					content[i] += s
				}
			}
			if s, ok := ch["text"].(string); ok {
				content[i] += s
			}
			if f, ok := ch["finish_reason"].(string); ok {
				finish[i] = f
			}
		}
	}
	return
}

// A chat request to the tiny model is the R1-Zero prompt of its user turn:
// the same seed gives the completion /v1/completions gives for that prompt,
// split into reasoning_content (inside <think>) and content (the <answer>).
// Streaming sends deltas that add up to the non-streamed message, for each
// of n choices, and usage counts the reasoning tokens.
func TestChatSplitsR1ZeroReasoning(t *testing.T) {
	_, url := startServer(t, tinyOptions(t, cpu.New()))
	q := "What is 20 - 4?"
	promptJSON, _ := json.Marshal(chat.R1Zero(q))
	status, body := post(t, url+"/v1/completions", `{"prompt": `+string(promptJSON)+`, "seed": 7, "n": 3, "temperature": 0.8, "max_tokens": 120}`)
	if status != 200 {
		t.Fatalf("completions: %d %s", status, body)
	}
	var raw chatResponse
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	status, body = post(t, url+"/v1/chat/completions", `{"model": "r1-tiny", "messages": [{"role": "user", "content": "`+q+`"}], "seed": 7, "n": 3, "temperature": 0.8, "max_tokens": 120}`)
	if status != 200 {
		t.Fatalf("chat: %d %s", status, body)
	}
	var got chatResponse
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 3 || len(raw.Choices) != 3 {
		t.Fatalf("want 3 choices: %s", body)
	}
	split := 0
	for i, c := range got.Choices {
		r, ct := splitReasoning(raw.Choices[i].Text, false)
		if c.Index != i || c.Message.Role != "assistant" || c.Message.ReasoningContent != r || c.Message.Content != ct || c.FinishReason != raw.Choices[i].FinishReason {
			t.Fatalf("choice %d: %+v; the completion was %q", i, c, raw.Choices[i].Text)
		}
		if strings.Contains(raw.Choices[i].Text, "</think>") {
			split++
			if r == "" || strings.Contains(c.Message.Content, "<answer>") {
				t.Fatalf("choice %d not split: %+v", i, c)
			}
		}
	}
	if split == 0 {
		t.Fatal("no sample closed its <think>: the split was not exercised")
	}
	if got.Usage.CompletionTokensDetails.ReasoningTokens <= 0 || got.Usage.CompletionTokensDetails.ReasoningTokens >= got.Usage.CompletionTokens ||
		got.Usage.TotalTokens != got.Usage.PromptTokens+got.Usage.CompletionTokens || got.Usage.CompletionTokens != raw.Usage.CompletionTokens {
		t.Fatalf("usage %+v (completions gave %+v)", got.Usage, raw.Usage)
	}

	// The same request streamed.
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(
		`{"messages": [{"role": "user", "content": "`+q+`"}], "seed": 7, "n": 3, "temperature": 0.8, "max_tokens": 120, "stream": true, "stream_options": {"include_usage": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	chunks, done := streamed(t, resp.Body)
	if !done {
		t.Fatal("the stream did not end with [DONE]")
	}
	reas, cont, fin, u := assemble(chunks)
	for i, c := range got.Choices {
		if reas[i] != c.Message.ReasoningContent || cont[i] != c.Message.Content || fin[i] != c.FinishReason {
			t.Fatalf("choice %d streamed %q / %q / %q, non-streamed %+v", i, reas[i], cont[i], fin[i], c)
		}
	}
	if u == nil || int(u["completion_tokens"].(float64)) != got.Usage.CompletionTokens {
		t.Fatalf("streamed usage %v, want %+v", u, got.Usage)
	}
}

// A client that disconnects mid-stream cancels its sequences: they leave
// the batch and free their KV blocks long before max_tokens.
func TestDisconnectMidStreamFreesSequence(t *testing.T) {
	o := tinyOptions(t, cpu.New())
	o.StopIDs = nil // no EOS: only max_tokens would end the sample
	s, url := startServer(t, o)
	total := s.sched.Stats().TotalBlocks
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/completions", strings.NewReader(`{"prompt": "What is 2 + 2?", "max_tokens": 900, "stream": true, "n": 2}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for n := 0; n < 5; { // a few chunks arrive: it is running
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			n++
		}
	}
	if st := s.sched.Stats(); st.Running != 2 || st.FreeBlocks == total {
		t.Fatalf("while streaming: %+v", st)
	}
	cancel() // the client goes away
	resp.Body.Close()
	for st := s.sched.Stats(); st.Running != 0 || st.FreeBlocks != total; st = s.sched.Stats() {
		if st.Tokens >= 2*899 {
			t.Fatalf("the sequences ran to max_tokens after the client left: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// A full queue answers 429; the request already queued still completes.
func TestQueueFull429(t *testing.T) {
	o := tinyOptions(t, cpu.New())
	o.MaxQueue = 1
	s, url := startServer(t, o)
	// Hold the scheduler's loop (as a weight swap would) so that requests
	// stay queued while the test looks.
	release := make(chan struct{})
	held := make(chan struct{})
	go s.sched.Exclusive(context.Background(), func(*model.Model) error { close(held); <-release; return nil })
	<-held
	var wg sync.WaitGroup
	wg.Add(1)
	queued := 0
	go func() {
		defer wg.Done()
		queued, _ = post(t, url+"/v1/completions", `{"prompt": "hi", "max_tokens": 5}`)
	}()
	for s.sched.Stats().Waiting < 1 {
		time.Sleep(time.Millisecond)
	}
	status, body := post(t, url+"/v1/completions", `{"prompt": "hi", "max_tokens": 5}`)
	var e errorBody
	if status != 429 || json.Unmarshal(body, &e) != nil || deref(e.Error.Code) != "rate_limit_exceeded" {
		t.Fatalf("request beyond the queue: %d %s", status, body)
	}
	close(release)
	wg.Wait()
	if queued != 200 {
		t.Fatalf("the queued request: status %d", queued)
	}
	// /metrics counts the 429.
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`r1_requests_total{path="/v1/completions",code="429"} 1`, "# TYPE r1_time_to_first_token_seconds histogram",
		"r1_queue_depth ", "r1_kv_blocks_total "} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, b)
		}
	}
}

// When Serve's context ends (SIGTERM) it stops accepting connections,
// lets the in-flight stream finish whole, and returns nil.
func TestServeDrains(t *testing.T) {
	o := tinyOptions(t, cpu.New())
	o.StopIDs = nil
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, term := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(`{"prompt": "What is", "max_tokens": 300, "stream": true}`))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil { // it is streaming
		t.Fatal(err)
	}
	term()
	chunks, done := streamed(t, br)
	resp.Body.Close()
	_, _, fin, _ := assemble(chunks)
	if !done || fin[0] != "length" {
		t.Fatalf("the in-flight stream was cut: done %v, finish %q", done, fin[0])
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after drain: %v", err)
	}
	if _, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(`{"prompt": "hi"}`)); err == nil {
		t.Fatal("a request after the drain was accepted")
	}
}

// POST /v1/load_weights swaps in another checkpoint's weights: greedy
// completions afterwards are that checkpoint's. A checkpoint of another
// shape is refused with a 400.
func TestLoadWeights(t *testing.T) {
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	for i, d := range []string{dirA, dirB} {
		if _, err := testmodel.Write(d, "qwen2", uint64(1+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testmodel.Write(dirC, "llama", 3); err != nil {
		t.Fatal(err)
	}
	complete := func(url string) string {
		status, body := post(t, url+"/v1/completions", `{"prompt": "What is 12 + 7?", "temperature": 0, "max_tokens": 20}`)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		return string(body[bytes.Index(body, []byte(`"choices"`)):bytes.Index(body, []byte(`"usage"`))])
	}
	load := func(dir string) Options {
		o, err := Load(dir, "", cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	_, urlA := startServer(t, load(dirA))
	_, urlB := startServer(t, load(dirB))
	a, b := complete(urlA), complete(urlB)
	if a == b {
		t.Fatal("the two checkpoints complete alike: the test cannot tell them apart")
	}
	body, _ := json.Marshal(map[string]string{"path": dirB})
	if status, resp := post(t, urlA+"/v1/load_weights", string(body)); status != 200 {
		t.Fatalf("load_weights: %d %s", status, resp)
	}
	if got := complete(urlA); got != b {
		t.Fatalf("after load_weights: %s, want B's %s", got, b)
	}
	body, _ = json.Marshal(map[string]string{"path": dirC})
	if status, resp := post(t, urlA+"/v1/load_weights", string(body)); status != 400 || !strings.Contains(string(resp), "different architecture") {
		t.Fatalf("load_weights of another architecture: %d %s", status, resp)
	}
	body, _ = json.Marshal(map[string]string{"path": filepath.Join(dirC, "missing")})
	if status, _ := post(t, urlA+"/v1/load_weights", string(body)); status != 400 {
		t.Fatalf("load_weights of a missing directory: %d", status)
	}
}

// Load test: 32 concurrent streaming clients send requests for a bounded
// time; every response is complete and well-formed, and once the load is
// over and the server closed, live memory is back to its baseline.
func TestLoad32StreamingClients(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	mc := memcheck.Wrap(cpu.New())
	o := tinyOptions(t, mc)
	// Warm up: the model grows its RoPE tables on first use and keeps them.
	warm, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(warm)
	post(t, hs.URL+"/v1/completions", `{"prompt": "hi", "max_tokens": 1000, "temperature": 0}`)
	hs.Close()
	warm.Close()
	base := mc.Stats()
	mark := mc.Mark()

	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs = httptest.NewServer(s)
	const clients = 32
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	requests := 0
	var failures []string
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				body := fmt.Sprintf(`{"messages": [{"role": "user", "content": "What is %d + %d?"}], "stream": true, "max_tokens": 64, "seed": %d, "stream_options": {"include_usage": true}}`, c, k, c*1000+k)
				resp, err := http.Post(hs.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				chunks, done := streamed(t, resp.Body)
				resp.Body.Close()
				_, _, fin, u := assemble(chunks)
				mu.Lock()
				requests++
				if resp.StatusCode != 200 || !done || (fin[0] != "stop" && fin[0] != "length") || u == nil {
					failures = append(failures, fmt.Sprintf("client %d request %d: status %d, done %v, finish %q, usage %v", c, k, resp.StatusCode, done, fin[0], u))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	hs.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d responses incomplete or malformed, e.g. %s", len(failures), requests, failures[0])
	}
	if requests < clients {
		t.Fatalf("only %d requests completed", requests)
	}
	st := mc.Stats()
	if st.Live != base.Live || st.LiveBytes != base.LiveBytes {
		t.Fatalf("after the load: %d tensors / %d B live, baseline %d / %d; leaked: %q", st.Live, st.LiveBytes, base.Live, base.LiveBytes, mc.Since(mark))
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
	t.Logf("%d streamed requests from %d clients", requests, clients)
}

// Requests from concurrent clients share the batch and still get exactly
// what each gets alone (per-request seeds): the choices of 8 seeded
// requests sent at once equal those sent one by one.
func TestConcurrentRequestsEqualAlone(t *testing.T) {
	_, url := startServer(t, tinyOptions(t, cpu.New()))
	body := func(i int) string {
		return fmt.Sprintf(`{"messages": [{"role": "user", "content": "What is %d + %d?"}], "seed": %d, "n": 2, "temperature": 0.9, "max_tokens": 80}`, i, 2*i, i)
	}
	choices := func(b []byte) string {
		return string(b[bytes.Index(b, []byte(`"choices"`)):bytes.Index(b, []byte(`"usage"`))])
	}
	alone := make([]string, 8)
	for i := range alone {
		status, b := post(t, url+"/v1/chat/completions", body(i))
		if status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		alone[i] = choices(b)
	}
	together := make([]string, 8)
	var wg sync.WaitGroup
	for i := range together {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, b := post(t, url+"/v1/chat/completions", body(i))
			if status == 200 {
				together[i] = choices(b)
			}
		}()
	}
	wg.Wait()
	for i := range alone {
		if together[i] != alone[i] {
			t.Fatalf("request %d concurrent:\n%s\nalone:\n%s", i, together[i], alone[i])
		}
	}
}
