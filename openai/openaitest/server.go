// Package openaitest is a small server speaking the OpenAI chat-completions
// protocol (plain JSON and server-sent events, with or without
// reasoning_content) for tests of r1's clients: the teacher of r1 generate,
// the judge reward. It is a test double, not r1's server (r1 serve).
package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request is what the server decoded from one request.
type Request struct {
	Model       string `json:"model"`
	Messages    []struct{ Role, Content string }
	Temperature *float64 `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
	N           int      `json:"n"`
	Seed        *int64   `json:"seed"`
	Stream      bool     `json:"stream"`
}

// Reply is one choice's text.
type Reply struct {
	Reasoning, Content string
	Finish             string // "" = "stop"
}

// Server is a running fake endpoint.
type Server struct {
	*httptest.Server
	// Answer produces choice i of a request (required).
	Answer func(r Request, i int) Reply
	// Separate sends the reasoning as reasoning_content; otherwise it is
	// put in <think> tags at the start of content.
	Separate bool
	// Fail answers the first Fail requests with FailStatus (e.g. 429, 503).
	Fail       int64
	FailStatus int
	// Delay holds every reply this long (a slow teacher; a timeout test).
	Delay time.Duration
	// Requests counts requests; InFlight and MaxInFlight count requests
	// being answered at once.
	Requests, InFlight, MaxInFlight atomic.Int64
	// Keys records Authorization headers seen.
	mu   sync.Mutex
	Keys []string
}

// New starts a server; Close it when done.
func New(answer func(r Request, i int) Reply) *Server {
	s := &Server{Answer: answer, FailStatus: http.StatusServiceUnavailable}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL is the API base (…/v1).
func (s *Server) URL() string { return s.Server.URL + "/v1" }

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	n := s.Requests.Add(1)
	in := s.InFlight.Add(1)
	defer s.InFlight.Add(-1)
	for {
		m := s.MaxInFlight.Load()
		if in <= m || s.MaxInFlight.CompareAndSwap(m, in) {
			break
		}
	}
	s.mu.Lock()
	s.Keys = append(s.Keys, r.Header.Get("Authorization"))
	s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	if n <= s.Fail {
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":{"message":"try later"}}`, s.FailStatus)
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
		return
	}
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-r.Context().Done():
			return
		}
	}
	k := max(req.N, 1)
	replies := make([]Reply, k)
	for i := range replies {
		replies[i] = s.Answer(req, i)
		if replies[i].Finish == "" {
			replies[i].Finish = "stop"
		}
	}
	if req.Stream {
		s.stream(w, req, replies)
		return
	}
	var choices []map[string]any
	for i, rep := range replies {
		msg := map[string]any{"role": "assistant"}
		if s.Separate {
			msg["content"], msg["reasoning_content"] = rep.Content, rep.Reasoning
		} else {
			msg["content"] = inline(rep)
		}
		choices = append(choices, map[string]any{"index": i, "message": msg, "finish_reason": rep.Finish})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": fmt.Sprintf("chatcmpl-%d", n), "object": "chat.completion", "model": req.Model,
		"choices": choices, "usage": map[string]int{"prompt_tokens": 7, "completion_tokens": 11}})
}

func inline(r Reply) string {
	if r.Reasoning == "" {
		return r.Content
	}
	return "<think>\n" + r.Reasoning + "\n</think>\n\n" + r.Content
}

// stream sends each choice in chunks of a few characters, interleaving
// the choices, as servers do.
func (s *Server) stream(w http.ResponseWriter, req Request, replies []Reply) {
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	fmt.Fprint(w, ": keep-alive\n\n")
	type part struct{ field, text string }
	parts := make([][]part, len(replies))
	for i, rep := range replies {
		add := func(field, text string) {
			for len(text) > 0 {
				n := min(5, len(text))
				for n < len(text) && !utf8Start(text[n]) {
					n++
				}
				parts[i] = append(parts[i], part{field, text[:n]})
				text = text[n:]
			}
		}
		if s.Separate {
			add("reasoning_content", rep.Reasoning)
			add("content", rep.Content)
		} else {
			add("content", inline(rep))
		}
	}
	for step := 0; ; step++ {
		more := false
		for i := range replies {
			if step < len(parts[i]) {
				more = true
				p := parts[i][step]
				send(map[string]any{"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": req.Model,
					"choices": []map[string]any{{"index": i, "delta": map[string]string{p.field: p.text}, "finish_reason": nil}}})
			}
		}
		if !more {
			break
		}
	}
	for i, rep := range replies {
		send(map[string]any{"id": "chatcmpl-s", "model": req.Model,
			"choices": []map[string]any{{"index": i, "delta": map[string]string{}, "finish_reason": rep.Finish}}})
	}
	send(map[string]any{"id": "chatcmpl-s", "model": req.Model, "choices": []any{}, "usage": map[string]int{"prompt_tokens": 7, "completion_tokens": 11}})
	fmt.Fprint(w, "data: [DONE]\n\n")
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// LastUser is the content of the request's last user message.
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if strings.EqualFold(r.Messages[i].Role, "user") {
			return r.Messages[i].Content
		}
	}
	return ""
}
