// Package openai is a client for OpenAI-compatible chat-completions
// endpoints (vLLM, SGLang, DeepSeek's API, r1's own server): the teacher of
// r1 generate and r1 distill, and the model behind the judge reward.
//
// It sends POST {base}/chat/completions, plain or streamed (server-sent
// events), and returns each choice's reasoning and answer apart: from the
// "reasoning_content" field where the server separates it (DeepSeek, vLLM's
// reasoning parsers; "reasoning" as some servers name it), else by
// splitting a "<think>…</think>" block off the content.
//
// At most Concurrency requests are in flight at once (the rest wait); each
// try has its own Timeout, so a dead or silent endpoint gives an error,
// never a hang; network errors, timeouts, 429 and 5xx replies are retried
// with exponential backoff (internal/retry, as the remote reward does),
// honouring a Retry-After header; other 4xx replies are not.
package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/r1go/r1/internal/retry"
)

// Config configures a Client.
type Config struct {
	// URL is the API base ("http://localhost:8000/v1") or the full
	// ".../chat/completions" URL.
	URL string
	// Model is the "model" field of every request.
	Model string
	// APIKeyEnv names the environment variable holding the API key, sent as
	// "Authorization: Bearer KEY" ("" or an unset variable: no key).
	APIKeyEnv string
	// Concurrency is the most requests in flight at once (default 8).
	Concurrency int
	// Timeout bounds one try of one request, streaming included
	// (default 120 s).
	Timeout time.Duration
	// Retries and Backoff: a failed try is repeated up to Retries times
	// (default 3; negative: none), first after Backoff (default 500 ms),
	// doubling, at most 30 s.
	Retries int
	Backoff time.Duration
	// Stream asks for server-sent events; the answer is the same.
	Stream bool
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one chat completion to make.
type Request struct {
	Messages    []Message
	Temperature *float64 // nil: the server's default
	TopP        *float64
	MaxTokens   int      // 0: the server's default
	N           int      // choices wanted (0: 1)
	Seed        *int64   // servers that support it sample reproducibly
	Stop        []string // stop strings
}

// Choice is one generated answer.
type Choice struct {
	Index int
	// Reasoning is the chain of thought: reasoning_content, or the text of
	// a <think> block in the content ("" when there is none).
	Reasoning string
	// Content is the answer after the reasoning.
	Content string
	// FinishReason is "stop", "length", …
	FinishReason string
}

// Response is a finished chat completion.
type Response struct {
	ID      string
	Model   string
	Choices []Choice
	// Usage as reported by the server (zero when it reports none).
	PromptTokens, CompletionTokens int
}

// Stats count a client's requests.
type Stats struct {
	Requests, Retries, Failures int64
	// InFlight is the number of requests being sent now; MaxInFlight the
	// most there have been at once. With enough work queued MaxInFlight
	// reaches Concurrency: the endpoint is kept busy.
	InFlight, MaxInFlight int
	// Busy is the total time requests spent in flight (summed over
	// requests), Wall the time from the first request's start: Busy/Wall
	// is the mean number of requests in flight.
	Busy, Wall time.Duration
}

// Client talks to one endpoint. It is safe for concurrent use.
type Client struct {
	cfg    Config
	url    string
	key    string
	http   *http.Client
	slots  chan struct{}
	mu     sync.Mutex
	stats  Stats
	start  time.Time
	policy retry.Policy
}

// maxReply bounds a non-streamed reply so a broken server cannot exhaust
// memory.
const maxReply = 64 << 20

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: url %q: expected an http:// or https:// URL such as http://localhost:8000/v1", cfg.URL)
	}
	if cfg.Model == "" {
		return nil, errors.New("openai: no model name (the \"model\" of every request)")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("openai: concurrency %d: expected ≥ 1", cfg.Concurrency)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 120 * time.Second
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("openai: timeout %v: expected > 0", cfg.Timeout)
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	cfg.Retries = max(cfg.Retries, 0)
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	c := &Client{cfg: cfg, url: strings.TrimRight(cfg.URL, "/"), http: &http.Client{},
		slots: make(chan struct{}, cfg.Concurrency), policy: retry.Policy{Retries: cfg.Retries, Backoff: cfg.Backoff, MaxBackoff: 30 * time.Second}}
	if !strings.HasSuffix(c.url, "/chat/completions") {
		c.url += "/chat/completions"
	}
	if cfg.APIKeyEnv != "" {
		c.key = os.Getenv(cfg.APIKeyEnv)
	}
	return c, nil
}

// Config is the client's configuration with the defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	if !c.start.IsZero() {
		s.Wall = time.Since(c.start)
	}
	return s
}

// Chat makes one chat completion, waiting for a free slot first.
func (c *Client) Chat(ctx context.Context, req Request) (*Response, error) {
	body, err := c.body(req)
	if err != nil {
		return nil, err
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.slots }()
	c.mu.Lock()
	if c.start.IsZero() {
		c.start = time.Now()
	}
	c.stats.Requests++
	c.stats.InFlight++
	c.stats.MaxInFlight = max(c.stats.MaxInFlight, c.stats.InFlight)
	c.mu.Unlock()
	t0 := time.Now()
	defer func() {
		c.mu.Lock()
		c.stats.InFlight--
		c.stats.Busy += time.Since(t0)
		c.mu.Unlock()
	}()

	var resp *Response
	err = retry.Do(ctx, c.policy, func(attempt int) (bool, time.Duration, error) {
		if attempt > 0 {
			c.mu.Lock()
			c.stats.Retries++
			c.mu.Unlock()
		}
		var again bool
		var wait time.Duration
		resp, again, wait, err = c.once(ctx, body)
		return again, wait, err
	})
	if err != nil {
		c.mu.Lock()
		c.stats.Failures++
		c.mu.Unlock()
		return nil, fmt.Errorf("openai %s (model %s): %w", c.url, c.cfg.Model, err)
	}
	return resp, nil
}

// body encodes the request as the protocol's JSON.
func (c *Client) body(req Request) ([]byte, error) {
	if len(req.Messages) == 0 {
		return nil, errors.New("openai: request without messages")
	}
	b := map[string]any{"model": c.cfg.Model, "messages": req.Messages}
	if req.Temperature != nil {
		b["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		b["top_p"] = *req.TopP
	}
	if req.MaxTokens > 0 {
		b["max_tokens"] = req.MaxTokens
	}
	if req.N > 1 {
		b["n"] = req.N
	}
	if req.Seed != nil {
		b["seed"] = *req.Seed
	}
	if len(req.Stop) > 0 {
		b["stop"] = req.Stop
	}
	if c.cfg.Stream {
		b["stream"] = true
		b["stream_options"] = map[string]any{"include_usage": true}
	}
	return json.Marshal(b)
}

// once makes one try. retry says whether a failure is transient; wait is a
// Retry-After the server asked for.
func (c *Client) once(ctx context.Context, body []byte) (resp *Response, again bool, wait time.Duration, err error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, false, 0, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if c.cfg.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if c.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.key)
	}
	timedOut := func(err error) error {
		if cctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("no complete reply within the %v timeout", c.cfg.Timeout)
		}
		return err
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, true, 0, timedOut(err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(hresp.Body, 4096))
		again := hresp.StatusCode == http.StatusTooManyRequests || hresp.StatusCode >= 500
		if s, err := strconv.Atoi(hresp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, 60*time.Second)
		}
		return nil, again, wait, fmt.Errorf("HTTP %s: %s", hresp.Status, snippet(data))
	}
	if c.cfg.Stream {
		resp, err = readStream(hresp.Body)
	} else {
		resp, err = readReply(hresp.Body)
	}
	if err != nil {
		// A reply cut off mid-way (timeout, dropped connection) is worth
		// another try; a malformed one is not.
		var bad *badReply
		return nil, !errors.As(err, &bad), 0, timedOut(err)
	}
	return resp, false, 0, nil
}

// badReply is a reply that arrived whole but does not follow the protocol.
type badReply struct{ msg string }

func (e *badReply) Error() string { return e.msg }

func badf(format string, a ...any) error { return &badReply{fmt.Sprintf(format, a...)} }

// wireChoice is a choice or a streamed delta.
type wireChoice struct {
	Index   int `json:"index"`
	Message *struct {
		Content          *string `json:"content"`
		ReasoningContent *string `json:"reasoning_content"`
		Reasoning        *string `json:"reasoning"`
	} `json:"message"`
	Delta *struct {
		Content          *string `json:"content"`
		ReasoningContent *string `json:"reasoning_content"`
		Reasoning        *string `json:"reasoning"`
	} `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type wireReply struct {
	ID      string       `json:"id"`
	Model   string       `json:"model"`
	Choices []wireChoice `json:"choices"`
	Usage   *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func readReply(r io.Reader) (*Response, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("reading reply: %w", err)
	}
	if len(data) > maxReply {
		return nil, badf("reply larger than %d bytes", maxReply)
	}
	var w wireReply
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, badf("reply is not a chat completion: %v (reply: %s)", err, snippet(data))
	}
	if w.Error != nil {
		return nil, badf("endpoint reported error: %s", w.Error.Message)
	}
	if len(w.Choices) == 0 {
		return nil, badf("reply has no choices (reply: %s)", snippet(data))
	}
	resp := &Response{ID: w.ID, Model: w.Model}
	for i, ch := range w.Choices {
		if ch.Message == nil {
			return nil, badf("choices[%d] has no message", i)
		}
		reasoning := str(ch.Message.ReasoningContent) + str(ch.Message.Reasoning)
		resp.Choices = append(resp.Choices, finish(ch.Index, reasoning, str(ch.Message.Content), str(ch.FinishReason)))
	}
	if w.Usage != nil {
		resp.PromptTokens, resp.CompletionTokens = w.Usage.PromptTokens, w.Usage.CompletionTokens
	}
	return resp, nil
}

// readStream reads server-sent events ("data: {chunk}" lines, ending with
// "data: [DONE]"), joining each choice's deltas.
func readStream(r io.Reader) (*Response, error) {
	type acc struct {
		reasoning, content strings.Builder
		finish             string
	}
	choices := map[int]*acc{}
	resp := &Response{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	done := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue // blank separators, "event:", ": keep-alive" comments
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			done = true
			break
		}
		var w wireReply
		if err := json.Unmarshal([]byte(data), &w); err != nil {
			return nil, badf("stream chunk is not JSON: %v (chunk: %s)", err, snippet([]byte(data)))
		}
		if w.Error != nil {
			return nil, badf("endpoint reported error: %s", w.Error.Message)
		}
		resp.ID, resp.Model = w.ID, w.Model
		if w.Usage != nil {
			resp.PromptTokens, resp.CompletionTokens = w.Usage.PromptTokens, w.Usage.CompletionTokens
		}
		for _, ch := range w.Choices {
			a := choices[ch.Index]
			if a == nil {
				a = &acc{}
				choices[ch.Index] = a
			}
			if d := ch.Delta; d != nil {
				a.reasoning.WriteString(str(d.ReasoningContent) + str(d.Reasoning))
				a.content.WriteString(str(d.Content))
			}
			if ch.FinishReason != nil {
				a.finish = *ch.FinishReason
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading stream: %w", err)
	}
	if !done {
		return nil, errors.New("stream ended before data: [DONE]")
	}
	if len(choices) == 0 {
		return nil, badf("stream had no choices")
	}
	for i := range len(choices) {
		a, ok := choices[i]
		if !ok {
			return nil, badf("stream has choices up to %d but none with index %d", len(choices)-1, i)
		}
		resp.Choices = append(resp.Choices, finish(i, a.reasoning.String(), a.content.String(), a.finish))
	}
	return resp, nil
}

// finish builds a choice, splitting a <think> block off the content when
// the server did not separate the reasoning.
func finish(index int, reasoning, content, reason string) Choice {
	if reasoning == "" {
		reasoning, content = SplitThink(content)
	}
	return Choice{Index: index, Reasoning: strings.TrimSpace(reasoning), Content: strings.TrimSpace(content), FinishReason: reason}
}

// SplitThink splits "<think>r</think>a" into r and a. A content with a
// closing tag but no opening one (the chat template's generation prompt
// opened the block, as R1-Distill's does) splits at the closing tag; an
// unclosed block is all reasoning; content without tags is all answer.
func SplitThink(content string) (reasoning, answer string) {
	s := strings.TrimSpace(content)
	if rest, ok := strings.CutPrefix(s, "<think>"); ok {
		if r, a, ok := strings.Cut(rest, "</think>"); ok {
			return r, a
		}
		return rest, ""
	}
	if r, a, ok := strings.Cut(s, "</think>"); ok && !strings.Contains(r, "<think>") {
		return r, a
	}
	return "", content
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}
