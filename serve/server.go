// Package serve is an OpenAI-compatible HTTP server on the sample
// engine's continuous-batching Scheduler: /v1/chat/completions (streaming
// by Server-Sent Events or not), /v1/completions, /v1/models, /health,
// /metrics (Prometheus text) and POST /v1/load_weights (swap the weights
// between requests, so an RL trainer can roll out on a running server).
//
// The chain of thought is returned apart from the answer, as DeepSeek's API
// and vLLM's reasoning parsers do: reasoning_content holds what the model
// wrote inside <think> … </think>, content the rest. A model without a
// chat template (the built-in tiny base model) is prompted in the R1-Zero
// format, whose answer is inside <answer> tags: content is that answer.
//
// Every request joins the one Scheduler: requests from concurrent clients
// decode in the same batch. The queue is bounded (429 when full); a request
// that cannot fit the context is a 400 that says by how much; a client that
// disconnects cancels its sequences, which leave the batch and free their
// KV blocks at once; Serve drains in-flight requests when its context ends
// (SIGTERM). Error bodies have OpenAI's shape.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

// Options configure a Server.
type Options struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	// Template is the model's chat template; nil serves chat requests in
	// the R1-Zero prompt format.
	Template *chat.Template
	// Name is the model id /v1/models lists and responses carry.
	Name string
	// StopIDs end a sample (EOS / end-of-turn ids).
	StopIDs []int32
	// APIKey, when set, is required as "Authorization: Bearer KEY" on /v1/.
	APIKey string
	// MaxBatch, MaxQueue and KVTokens size the scheduler (defaults 64,
	// 256, MaxBatch × 512 tokens).
	MaxBatch, MaxQueue, KVTokens int
	// KVCacheDType is the KV cache's storage ("auto" or "bf16", see
	// model.KVCacheDType).
	KVCacheDType string
	// DefaultMaxTokens is max_tokens when a request gives none (512),
	// capped by what is left of the context.
	DefaultMaxTokens int
	// DrainTimeout bounds how long Serve waits for in-flight requests once
	// its context ends (default 60 s).
	DrainTimeout time.Duration
	// Log receives one line per event worth telling (start, drain, weight
	// swaps); nil discards.
	Log func(format string, args ...any)
}

// Server answers the OpenAI API from one Scheduler.
type Server struct {
	o       Options
	sched   *sample.Scheduler
	metrics *metrics
	mux     *http.ServeMux
	created int64

	runCancel context.CancelFunc
	runErr    chan error
	closeOnce sync.Once
	closeErr  error
}

// maxBody bounds a request body (a long conversation is well under this).
const maxBody = 16 << 20

// New starts the scheduler; Close (or Serve's drain) stops it.
func New(o Options) (*Server, error) {
	if o.Model == nil || o.Tokenizer == nil {
		return nil, errors.New("serve: Options.Model and Options.Tokenizer are required")
	}
	if o.DefaultMaxTokens <= 0 {
		o.DefaultMaxTokens = 512
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = time.Minute
	}
	if o.Name == "" {
		o.Name = "r1"
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	tok := o.Tokenizer
	sched, err := sample.NewScheduler(sample.SchedulerConfig{Model: o.Model, MaxBatch: o.MaxBatch, MaxQueue: o.MaxQueue, MaxTokens: o.KVTokens,
		KVCacheDType: o.KVCacheDType, Decode: func(ids []int32) string { return tok.Decode(ids, true) }})
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, sched: sched, metrics: newMetrics(), created: time.Now().Unix(), runErr: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.runCancel = cancel
	go func() { s.runErr <- sched.Run(ctx) }()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
	s.mux.HandleFunc("GET /v1/models", s.auth(s.models))
	s.mux.HandleFunc("POST /v1/chat/completions", s.auth(func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, true) }))
	s.mux.HandleFunc("POST /v1/completions", s.auth(func(w http.ResponseWriter, r *http.Request) { s.generate(w, r, false) }))
	s.mux.HandleFunc("POST /v1/load_weights", s.auth(s.loadWeights))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path),
			Type: "invalid_request_error", Code: strp("unknown_url")})
	})
	return s, nil
}

// Scheduler is the server's generation engine.
func (s *Server) Scheduler() *sample.Scheduler { return s.sched }

// ServeHTTP routes a request and counts it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	s.metrics.request(r.URL.Path, rec.status)
}

// Close stops the scheduler after the requests it holds finish; later
// calls return the first one's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.sched.Close()
		s.closeErr = <-s.runErr
		s.runCancel()
	})
	return s.closeErr
}

// Serve answers on ln until ctx ends, then drains: it stops accepting
// connections, lets in-flight requests finish (up to DrainTimeout), and
// stops the scheduler, which frees its KV cache.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	st := s.sched.Stats()
	s.o.Log("draining: %d running sequences, %d queued requests", st.Running, st.Waiting)
	dctx, cancel := context.WithTimeout(context.Background(), s.o.DrainTimeout)
	defer cancel()
	err := hs.Shutdown(dctx)
	if err != nil {
		hs.Close() // drain timed out: cut the rest (their sequences are cancelled)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	<-errc
	return err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// auth requires the API key, when one is set.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.o.APIKey != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.o.APIKey)) != 1 {
				msg := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
				if ok {
					msg = "Incorrect API key provided."
				}
				writeError(w, &apiError{Status: http.StatusUnauthorized, Message: msg, Type: "invalid_request_error", Code: strp("invalid_api_key")})
				return
			}
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	st := s.sched.Stats()
	writeJSON(w, map[string]any{"status": "ok", "model": s.o.Name, "running": st.Running, "waiting": st.Waiting})
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"object": "list", "data": []map[string]any{{"id": s.o.Name, "object": "model", "created": s.created,
		"owned_by": "r1", "max_model_len": s.sched.MaxLen()}}})
}

// loadWeights swaps in the weights of a checkpoint with the same
// architecture, between requests: {"path": DIR} (an HF model directory,
// e.g. a trainer's checkpoints/step-N).
func (s *Server) loadWeights(w http.ResponseWriter, r *http.Request) {
	var q struct {
		Path string `json:"path"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, invalid("", "", "Invalid body: %v (expected {\"path\": \"checkpoint directory\"})", err))
		return
	}
	if q.Path == "" {
		writeError(w, invalid("path", "", "Missing 'path': the checkpoint directory to load."))
		return
	}
	start := time.Now()
	m := s.sched.Model()
	next, err := model.Load(q.Path, m.Dev, model.WithDType(m.DType))
	if err != nil {
		writeError(w, invalid("path", "", "Could not load %s: %v", q.Path, err))
		return
	}
	defer freeParams(next)
	if a, b := m.Config.Describe(), next.Config.Describe(); a != b {
		writeError(w, invalid("path", "", "%s holds a different architecture (%s) than the served model (%s).", q.Path, b, a))
		return
	}
	err = s.sched.Exclusive(r.Context(), func(m *model.Model) error {
		for i, p := range m.Params() {
			m.Dev.Copy(p.Var.Val, next.Params()[i].Var.Val)
		}
		return nil
	})
	if err != nil {
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Message: err.Error(), Type: "server_error"})
		return
	}
	abs, _ := filepath.Abs(q.Path)
	s.o.Log("loaded weights from %s in %s", abs, time.Since(start).Round(time.Millisecond))
	writeJSON(w, map[string]any{"status": "ok", "path": abs, "seconds": time.Since(start).Seconds()})
}

// freeParams frees a model's weights (a checkpoint loaded only to copy).
func freeParams(m *model.Model) {
	for _, p := range m.Params() {
		m.Dev.Free(p.Var.Val)
	}
}

// renderChat builds the prompt of a conversation and tells whether the
// prompt opens the thought (so the completion starts inside <think>).
func (s *Server) renderChat(msgs []message) (string, bool, *apiError) {
	if len(msgs) == 0 {
		return "", false, invalid("messages", "", "Invalid 'messages': empty array. Expected an array with minimum length 1.")
	}
	conv := make([]chat.Message, len(msgs))
	for i, m := range msgs {
		text, err := m.text()
		if err != nil {
			return "", false, invalid(fmt.Sprintf("messages[%d].content", i), "", "Invalid 'messages[%d].content': %v", i, err)
		}
		switch m.Role {
		case "system", "developer", "user", "assistant":
		case "tool":
			if s.o.Template == nil {
				return "", false, invalid(fmt.Sprintf("messages[%d].role", i), "", "Invalid 'messages[%d].role': this model has no chat template; roles system, user and assistant only.", i)
			}
		default:
			return "", false, invalid(fmt.Sprintf("messages[%d].role", i), "", "Invalid 'messages[%d].role': %q (expected system, developer, user, assistant or tool).", i, m.Role)
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		conv[i] = chat.Message{Role: role, Content: text, ReasoningContent: m.ReasoningContent}
	}
	if s.o.Template != nil {
		p, err := s.o.Template.Render(conv, chat.Options{AddGenerationPrompt: true})
		if err != nil {
			return "", false, invalid("messages", "", "The chat template could not render these messages: %v", err)
		}
		return p, strings.HasSuffix(strings.TrimRight(p, " \t\r\n"), chat.ThinkOpen), nil
	}
	return r1ZeroChat(conv)
}

// r1ZeroChat renders a conversation in the R1-Zero format (paper Table 1)
// for a model without a chat template: a system message replaces the
// instruction, and each turn follows as "User: …. Assistant: …". One user
// message gives exactly chat.R1Zero's prompt.
func r1ZeroChat(conv []chat.Message) (string, bool, *apiError) {
	var b strings.Builder
	instr := chat.R1ZeroInstruction
	if conv[0].Role == "system" {
		instr, conv = conv[0].Content, conv[1:]
	}
	b.WriteString(instr)
	for i, m := range conv {
		switch m.Role {
		case "user":
			b.WriteString(" User: " + m.Content + ".")
		case "assistant":
			b.WriteString(" Assistant: " + m.Content)
		default:
			return "", false, invalid("messages", "", "Invalid 'messages': a %s message may only come first.", m.Role)
		}
		if i == len(conv)-1 && m.Role != "user" {
			return "", false, invalid("messages", "", "Invalid 'messages': the last message must be the user's.")
		}
	}
	if len(conv) == 0 {
		return "", false, invalid("messages", "", "Invalid 'messages': no user message.")
	}
	b.WriteString(" Assistant:")
	return b.String(), false, nil
}

// randomID is a response id suffix.
func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// event is one sampled token, queued by the scheduler's goroutine for the
// request's handler (the scheduler never waits for a client).
type event struct {
	index   int
	token   int32
	logprob float32
}

// events is an unbounded queue from the scheduler to a handler.
type events struct {
	mu     sync.Mutex
	list   []event
	notify chan struct{}
}

func (e *events) push(ev event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

func (e *events) take(buf []event) []event {
	e.mu.Lock()
	buf = append(buf[:0], e.list...)
	e.list = e.list[:0]
	e.mu.Unlock()
	return buf
}

// choice is the state of one of a request's n samples while it streams.
type choice struct {
	dec       *tokenizer.Decoder
	st        stream
	tokens    int
	thinkEnd  int // tokens up to the one that closed </think> (0: not yet)
	logprobs  []logprobToken
	textOff   []int
	started   bool // the first chunk (role) was sent
	firstTime time.Time
}

// generate serves /v1/chat/completions (isChat) and /v1/completions.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, isChat bool) {
	start := time.Now()
	q, aerr := decodeRequest(r, maxBody)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if q.Model != "" && q.Model != s.o.Name {
		writeError(w, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("The model `%s` does not exist (this server serves `%s`).", q.Model, s.o.Name),
			Type: "invalid_request_error", Param: strp("model"), Code: strp("model_not_found")})
		return
	}
	p, aerr := q.validate(s.sched.MaxBatch())
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var text string
	var open bool
	if isChat {
		if q.Prompt != nil {
			writeError(w, invalid("prompt", "", "Unrecognized request argument supplied: prompt (use messages, or /v1/completions)"))
			return
		}
		if text, open, aerr = s.renderChat(q.Messages); aerr != nil {
			writeError(w, aerr)
			return
		}
	} else {
		if q.Messages != nil {
			writeError(w, invalid("messages", "", "Unrecognized request argument supplied: messages (use prompt, or /v1/chat/completions)"))
			return
		}
		if q.Prompt == nil || *q.Prompt == "" {
			writeError(w, invalid("prompt", "", "Missing required parameter: 'prompt'."))
			return
		}
		text = string(*q.Prompt)
	}
	ids := s.o.Tokenizer.Encode(text, true)
	if len(ids) == 0 {
		writeError(w, invalid("messages", "", "The prompt is empty after tokenization."))
		return
	}
	limit := s.sched.MaxLen()
	maxNew := p.maxTokens
	if maxNew == 0 {
		maxNew = min(s.o.DefaultMaxTokens, limit-len(ids))
		if maxNew < 1 {
			maxNew = 1 // reported as an overflow below
		}
	}
	if need := len(ids) + maxNew; need > limit {
		what := "messages"
		if !isChat {
			what = "prompt"
		}
		writeError(w, invalid(what, "context_length_exceeded",
			"This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the %s, %d in the completion): %d tokens too many. Please reduce the length of the %s or completion.",
			limit, need, len(ids), what, maxNew, need-limit, what))
		return
	}
	seed := p.seed
	if !p.hasSeed {
		seed = randomSeed()
	}
	sp := sample.Params{Temperature: p.temperature, TopP: p.topP, TopK: p.topK, MinP: p.minP, MaxNewTokens: maxNew,
		StopIDs: s.o.StopIDs, StopStrings: p.stop, Seed: seed}

	evs := &events{notify: make(chan struct{}, 1)}
	h, err := s.sched.Submit(r.Context(), sample.Job{Prompt: ids, N: p.n, Params: sp,
		OnToken: func(index int, token int32, lp float32) { evs.push(event{index, token, lp}) }})
	if err != nil {
		var ce *sample.ContextError
		switch {
		case errors.Is(err, sample.ErrQueueFull):
			writeError(w, &apiError{Status: http.StatusTooManyRequests, Message: "The server is busy: the request queue is full. Retry after a moment.",
				Type: "requests", Code: strp("rate_limit_exceeded")})
		case errors.Is(err, sample.ErrClosed):
			writeError(w, &apiError{Status: http.StatusServiceUnavailable, Message: "The server is shutting down.", Type: "server_error"})
		case errors.As(err, &ce):
			writeError(w, invalid("messages", "context_length_exceeded", "%v", err))
		default:
			writeError(w, invalid("", "", "%v", err))
		}
		return
	}
	defer h.Cancel() // a handler that returns early (client gone) frees the sequences
	s.metrics.promptTokens.Add(int64(len(ids)))

	id, object := "chatcmpl-"+randomID(), "chat.completion"
	if !isChat {
		id, object = "cmpl-"+randomID(), "text_completion"
	}
	created := time.Now().Unix()
	chs := make([]*choice, p.n)
	for i := range chs {
		chs[i] = &choice{dec: s.o.Tokenizer.NewDecoder(true), st: stream{open: open, split: isChat, stops: p.stop}}
	}
	var sse *sseWriter
	if q.Stream {
		sse = newSSE(w)
	}
	chunk := func(ch []chatChoice) error {
		obj := object + ".chunk"
		if !isChat {
			obj = object
		}
		return sse.send(completion{ID: id, Object: obj, Created: created, Model: s.o.Name, Choices: ch})
	}
	// emit sends (streaming) or keeps the deltas of a choice.
	emit := func(i int, dr, dc string, finish string) error {
		c := chs[i]
		if sse == nil {
			return nil
		}
		var cc chatChoice
		cc.Index = i
		if isChat {
			d := &chatMessage{}
			if !c.started {
				d.Role, c.started = "assistant", true
				empty := ""
				d.Content = &empty
			}
			if dr != "" {
				d.ReasoningContent = &dr
			}
			if dc != "" {
				d.Content = &dc
			}
			if d.Role == "" && d.Content == nil && d.ReasoningContent == nil && finish == "" {
				return nil
			}
			cc.Delta = d
		} else {
			if dc == "" && finish == "" {
				return nil
			}
			cc.Text = &dc
		}
		if finish != "" {
			cc.FinishReason = &finish
		}
		return chunk([]chatChoice{cc})
	}
	// token handles one sampled token of choice i.
	token := func(ev event) error {
		c := chs[ev.index]
		if c.tokens == 0 {
			c.firstTime = time.Now()
			if ev.index == 0 {
				s.metrics.ttft.observe(time.Since(start).Seconds())
			}
		}
		c.tokens++
		piece := c.dec.Push(ev.token)
		before := c.st.text.Len()
		dr, dc := c.st.push(piece, false)
		if c.thinkEnd == 0 && isChat {
			t := c.st.text.String()
			if strings.Contains(t[max(0, before-len(chat.ThinkClose)):], chat.ThinkClose) {
				c.thinkEnd = c.tokens
			}
		}
		if p.logprobs {
			bs := make([]int, len(piece))
			for k := range bs {
				bs[k] = int(piece[k])
			}
			c.logprobs = append(c.logprobs, logprobToken{Token: piece, Logprob: ev.logprob, Bytes: bs, TopLogprobs: []string{}})
			c.textOff = append(c.textOff, before)
		}
		return emit(ev.index, dr, dc, "")
	}
	var buf []event
	drain := func() error {
		buf = evs.take(buf)
		for _, ev := range buf {
			if err := token(ev); err != nil {
				return err
			}
		}
		return nil
	}
	if sse != nil {
		if err := sse.open(); err != nil {
			return
		}
	}
loop:
	for {
		select {
		case <-evs.notify:
			if err := drain(); err != nil {
				return // the client is gone: the deferred Cancel frees the sequences
			}
		case <-h.Done():
			break loop
		case <-r.Context().Done():
			return
		}
	}
	if err := drain(); err != nil {
		return
	}
	samples, err := h.Wait()
	if err != nil {
		if sse == nil {
			writeError(w, &apiError{Status: http.StatusInternalServerError, Message: err.Error(), Type: "server_error"})
		}
		return
	}
	u := &usage{PromptTokens: len(ids)}
	out := make([]chatChoice, len(samples))
	for _, smp := range samples {
		i := smp.Index
		c := chs[i]
		dr, dc := c.st.push(c.dec.Flush(), true)
		finish := smp.FinishReason
		if err := emit(i, dr, dc, finish); err != nil {
			return
		}
		u.CompletionTokens += len(smp.Tokens)
		rt := 0
		switch {
		case c.thinkEnd > 0:
			rt = c.thinkEnd
		case c.st.reasoning != "" && c.st.content == "":
			rt = len(smp.Tokens) // an unterminated thought
		}
		u.CompletionTokensDetails.ReasoningTokens += rt
		cc := chatChoice{Index: i, FinishReason: &finish}
		if isChat {
			content := c.st.content
			msg := &chatMessage{Role: "assistant", Content: &content}
			if c.st.reasoning != "" {
				msg.ReasoningContent = &c.st.reasoning
			}
			cc.Message = msg
			if p.logprobs {
				cc.Logprobs = chatLogprobs{Content: c.logprobs}
			}
		} else {
			text := c.st.content
			cc.Text = &text
			if p.logprobs {
				lp := completionLogprobs{TextOffset: c.textOff, TopLogprobs: []any{}}
				for _, t := range c.logprobs {
					lp.Tokens = append(lp.Tokens, t.Token)
					lp.TokenLogprobs = append(lp.TokenLogprobs, t.Logprob)
				}
				cc.Logprobs = lp
			}
		}
		out[i] = cc
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	s.metrics.completionTokens.Add(int64(u.CompletionTokens))
	s.metrics.reasoningTokens.Add(int64(u.CompletionTokensDetails.ReasoningTokens))
	s.metrics.duration.observe(time.Since(start).Seconds())
	if sse != nil {
		if q.StreamOptions != nil && q.StreamOptions.IncludeUsage {
			obj := object + ".chunk"
			if !isChat {
				obj = object
			}
			if err := sse.send(completion{ID: id, Object: obj, Created: created, Model: s.o.Name, Choices: []chatChoice{}, Usage: u}); err != nil {
				return
			}
		}
		sse.done()
		return
	}
	writeJSON(w, completion{ID: id, Object: object, Created: created, Model: s.o.Name, Choices: out, Usage: u})
}

// sseWriter writes Server-Sent Events.
type sseWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sseWriter {
	f, _ := w.(http.Flusher)
	return &sseWriter{w: w, f: f}
}

func (s *sseWriter) open() error {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	s.w.WriteHeader(http.StatusOK)
	return s.flush()
}

func (s *sseWriter) flush() error {
	if s.f != nil {
		s.f.Flush()
	}
	return nil
}

func (s *sseWriter) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) done() {
	fmt.Fprint(s.w, "data: [DONE]\n\n")
	s.flush()
}

// HasChatTemplate reports whether a model directory defines a chat
// template (tokenizer_config.json's chat_template or chat_template.jinja).
func HasChatTemplate(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "chat_template.jinja")); err == nil {
		return true
	}
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return false
	}
	var cfg map[string]json.RawMessage
	if json.Unmarshal(data, &cfg) != nil {
		return false
	}
	raw, ok := cfg["chat_template"]
	return ok && string(raw) != "null"
}

// Load reads a model directory for serving: the model (with a LoRA adapter
// from adapterDir when not empty) on dev, its tokenizer, its chat template
// when it has one, its stop ids, and a name (the directory's base name).
func Load(dir, adapterDir string, dev tensor.Backend) (Options, error) {
	m, err := model.Load(dir, dev)
	if err != nil {
		return Options{}, err
	}
	if adapterDir != "" {
		if _, err := m.LoadLoRA(adapterDir); err != nil {
			return Options{}, err
		}
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return Options{}, err
	}
	o := Options{Model: m, Tokenizer: tok, Name: filepath.Base(filepath.Clean(dir)), StopIDs: model.StopIDs(dir, m.Config, tok.EOS)}
	if HasChatTemplate(dir) {
		if o.Template, err = chat.FromTokenizerConfig(dir); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}
