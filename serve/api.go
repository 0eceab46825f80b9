package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
)

// apiError is an error answered in OpenAI's shape:
// {"error": {"message", "type", "param", "code"}}.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// invalid is a 400 invalid_request_error about param.
func invalid(param, code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error",
		Param: strp(param), Code: strp(code)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// stopField is OpenAI's stop: a string or an array of up to 4 strings.
type stopField []string

func (s *stopField) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("expected a string or an array of strings")
	}
	*s = many
	return nil
}

// promptField is /v1/completions' prompt: a string or an array of one.
type promptField string

func (p *promptField) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*p = promptField(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil || len(many) != 1 {
		return errors.New("expected a string (or an array holding one string)")
	}
	*p = promptField(many[0])
	return nil
}

// message is a chat message as clients send it. Content may be a string or
// an array of {"type": "text", "text"} parts.
type message struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	Name             string          `json:"name,omitempty"`
}

func (m message) text() (string, error) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("expected a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// request holds the fields of /v1/chat/completions and /v1/completions
// (each endpoint refuses the other's own field). Pointers tell "absent"
// from zero.
type request struct {
	Model               string       `json:"model"`
	Messages            []message    `json:"messages,omitempty"`
	Prompt              *promptField `json:"prompt,omitempty"`
	MaxTokens           *int         `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int         `json:"max_completion_tokens,omitempty"`
	Temperature         *float64     `json:"temperature,omitempty"`
	TopP                *float64     `json:"top_p,omitempty"`
	TopK                *int         `json:"top_k,omitempty"`
	MinP                *float64     `json:"min_p,omitempty"`
	N                   *int         `json:"n,omitempty"`
	Stop                stopField    `json:"stop,omitempty"`
	Seed                *int64       `json:"seed,omitempty"`
	Stream              bool         `json:"stream,omitempty"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	Logprobs         json.RawMessage `json:"logprobs,omitempty"` // bool (chat) or int (completions)
	TopLogprobs      *int            `json:"top_logprobs,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	User             string          `json:"user,omitempty"`
	Echo             bool            `json:"echo,omitempty"`
}

// decodeRequest reads a JSON body strictly: malformed JSON, a wrong type
// and an unrecognized argument are 400s naming the problem.
func decodeRequest(r *http.Request, limit int64) (*request, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("The request body exceeds %d bytes.", limit),
				Type: "invalid_request_error"}
		}
		return nil, invalid("", "", "Could not read the request body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var q request
	if err := dec.Decode(&q); err != nil {
		var ute *json.UnmarshalTypeError
		switch {
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return nil, invalid(name, "", "Unrecognized request argument supplied: %s", name)
		case errors.As(err, &ute) && ute.Field == "":
			return nil, invalid("", "", "We could not parse the JSON body of your request: expected a JSON object, got a JSON %s.", ute.Value)
		case errors.As(err, &ute):
			return nil, invalid(ute.Field, "invalid_type", "Invalid type for '%s': expected %s, but got a JSON %s.", ute.Field, ute.Type, ute.Value)
		case strings.Contains(err.Error(), "stopField") || strings.Contains(err.Error(), "promptField"):
			return nil, invalid("", "", "Invalid request: %v", err)
		}
		return nil, invalid("", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.) %v", err)
	}
	if dec.More() {
		return nil, invalid("", "", "We could not parse the JSON body of your request: more than one JSON value.")
	}
	return &q, nil
}

// params are a request's sampling settings after validation.
type params struct {
	maxTokens   int // 0: the server's default
	temperature float64
	topP        float64
	topK        int
	minP        float64
	n           int
	stop        []string
	seed        uint64
	hasSeed     bool
	logprobs    bool
}

// validate checks the sampling arguments the way OpenAI's API words it.
func (q *request) validate(maxN int) (params, *apiError) {
	p := params{temperature: 1, topP: 1, n: 1}
	if q.MaxTokens != nil && q.MaxCompletionTokens != nil {
		return p, invalid("max_tokens", "", "Give max_tokens or max_completion_tokens, not both.")
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"max_tokens", q.MaxTokens}, {"max_completion_tokens", q.MaxCompletionTokens}} {
		if f.v != nil {
			if *f.v < 1 {
				return p, invalid(f.name, "integer_below_min_value", "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", f.name, *f.v)
			}
			p.maxTokens = *f.v
		}
	}
	if t := q.Temperature; t != nil {
		if !(*t >= 0 && *t <= 2) {
			return p, invalid("temperature", "decimal_out_of_range", "Invalid 'temperature': expected a value between 0 and 2, but got %g instead.", *t)
		}
		p.temperature = *t
	}
	if v := q.TopP; v != nil {
		if !(*v > 0 && *v <= 1) {
			return p, invalid("top_p", "decimal_out_of_range", "Invalid 'top_p': expected a value in (0, 1], but got %g instead.", *v)
		}
		p.topP = *v
	}
	if v := q.TopK; v != nil {
		if *v < -1 {
			return p, invalid("top_k", "integer_below_min_value", "Invalid 'top_k': expected -1 or 0 (off) or a positive integer, but got %d instead.", *v)
		}
		p.topK = max(*v, 0)
	}
	if v := q.MinP; v != nil {
		if !(*v >= 0 && *v < 1) {
			return p, invalid("min_p", "decimal_out_of_range", "Invalid 'min_p': expected a value in [0, 1), but got %g instead.", *v)
		}
		p.minP = *v
	}
	if v := q.N; v != nil {
		if *v < 1 || *v > maxN {
			return p, invalid("n", "integer_out_of_range", "Invalid 'n': expected a value from 1 to %d, but got %d instead.", maxN, *v)
		}
		p.n = *v
	}
	if len(q.Stop) > 4 {
		return p, invalid("stop", "", "Invalid 'stop': at most 4 stop sequences, got %d.", len(q.Stop))
	}
	for _, s := range q.Stop {
		if s == "" {
			return p, invalid("stop", "", "Invalid 'stop': a stop sequence is empty.")
		}
	}
	p.stop = q.Stop
	if q.Seed != nil {
		p.seed, p.hasSeed = uint64(*q.Seed), true
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"presence_penalty", q.PresencePenalty}, {"frequency_penalty", q.FrequencyPenalty}} {
		if f.v != nil && *f.v != 0 {
			return p, invalid(f.name, "unsupported_value", "'%s' is not supported by this server (only 0).", f.name)
		}
	}
	if q.TopLogprobs != nil && *q.TopLogprobs != 0 {
		return p, invalid("top_logprobs", "unsupported_value", "'top_logprobs' is not supported by this server (only 0: the sampled token's log-prob).")
	}
	if q.Echo {
		return p, invalid("echo", "unsupported_value", "'echo' is not supported by this server.")
	}
	if len(q.Logprobs) > 0 && string(q.Logprobs) != "null" {
		var b bool
		var k int
		switch {
		case json.Unmarshal(q.Logprobs, &b) == nil:
			p.logprobs = b
		case json.Unmarshal(q.Logprobs, &k) == nil && k >= 0:
			if k > 1 {
				return p, invalid("logprobs", "unsupported_value", "'logprobs' above 1 is not supported by this server (the sampled token's log-prob only).")
			}
			p.logprobs = k > 0
		default:
			return p, invalid("logprobs", "invalid_type", "Invalid 'logprobs': expected a boolean or a non-negative integer.")
		}
	}
	if math.IsNaN(p.temperature) {
		return p, invalid("temperature", "", "Invalid 'temperature'.")
	}
	return p, nil
}

// Response bodies.

type usage struct {
	PromptTokens            int `json:"prompt_tokens"`
	CompletionTokens        int `json:"completion_tokens"`
	TotalTokens             int `json:"total_tokens"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type logprobToken struct {
	Token       string   `json:"token"`
	Logprob     float32  `json:"logprob"`
	Bytes       []int    `json:"bytes"`
	TopLogprobs []string `json:"top_logprobs"`
}

type chatLogprobs struct {
	Content []logprobToken `json:"content"`
}

type chatMessage struct {
	Role             string  `json:"role,omitempty"`
	Content          *string `json:"content,omitempty"`
	ReasoningContent *string `json:"reasoning_content,omitempty"`
}

type chatChoice struct {
	Index        int          `json:"index"`
	Message      *chatMessage `json:"message,omitempty"`
	Delta        *chatMessage `json:"delta,omitempty"`
	Text         *string      `json:"text,omitempty"` // completions
	Logprobs     any          `json:"logprobs"`
	FinishReason *string      `json:"finish_reason"`
}

type completion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *usage       `json:"usage,omitempty"`
}

// completionLogprobs is /v1/completions' legacy logprobs object.
type completionLogprobs struct {
	Tokens        []string  `json:"tokens"`
	TokenLogprobs []float32 `json:"token_logprobs"`
	TopLogprobs   []any     `json:"top_logprobs"`
	TextOffset    []int     `json:"text_offset"`
}
