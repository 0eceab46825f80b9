// Package remote lets users write rewards in any language behind an HTTP
// endpoint; it is registered as "remote".
//
// r1 POSTs a JSON body
//
//	{"samples": [{"prompt": "...", "completion": "...", "fields": {...},
//	              "truncated": false, "tokens": 123}, ...]}
//
// and expects a 200 reply with one score per sample, in order, either as
// plain numbers or as objects:
//
//	{"scores": [1.0, 0.0]}
//	{"scores": [{"value": 1.0, "parts": {"acc": 1}}, {"value": 0, "err": "no answer"}]}
//
// A reply {"error": "..."} fails the whole request. Network errors, 429 and
// 5xx replies are retried with exponential backoff; other 4xx replies are
// not, since repeating a bad request cannot help.
//
// Params: url (required), timeout_s (per request, default 30), retries
// (default 2), backoff_ms (first delay, default 200), batch_size (samples
// per request, default 0 = the whole batch), headers (a map of extra HTTP
// headers). In a reward.Scorer the whole batch gets the time one request
// may take with all its retries (see TimeLimit) unless the Spec sets a
// timeout; with batch_size set, raise the Spec's timeout to cover every
// chunk.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/r1go/r1/internal/retry"
	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("remote", func(p map[string]any) (reward.Func, error) { return New(p) })
}

// maxReply bounds the bytes read from a reply so that a broken server
// cannot exhaust memory.
const maxReply = 64 << 20

// Remote is a reward computed by an HTTP endpoint.
type Remote struct {
	url       string
	timeout   time.Duration
	retries   int
	backoff   time.Duration
	batchSize int
	headers   map[string]string
	client    *http.Client
}

// New builds the reward from params (see the package documentation).
func New(params map[string]any) (*Remote, error) {
	p := reward.NewParams(params)
	r := &Remote{client: &http.Client{}, headers: map[string]string{}}
	var err error
	if r.url, err = p.String("url", ""); err != nil {
		return nil, err
	}
	u, err := url.Parse(r.url)
	if r.url == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf(`param "url": expected an http:// or https:// URL, got %q`, r.url)
	}
	ts, err := p.Float("timeout_s", 30)
	if err != nil {
		return nil, err
	}
	if ts <= 0 {
		return nil, fmt.Errorf(`param "timeout_s": expected > 0, got %v`, ts)
	}
	r.timeout = time.Duration(ts * float64(time.Second))
	if r.retries, err = p.Int("retries", 2); err != nil {
		return nil, err
	}
	if r.retries < 0 {
		return nil, fmt.Errorf(`param "retries": expected >= 0, got %d`, r.retries)
	}
	bms, err := p.Float("backoff_ms", 200)
	if err != nil {
		return nil, err
	}
	if bms < 0 {
		return nil, fmt.Errorf(`param "backoff_ms": expected >= 0, got %v`, bms)
	}
	r.backoff = time.Duration(bms * float64(time.Millisecond))
	if r.batchSize, err = p.Int("batch_size", 0); err != nil {
		return nil, err
	}
	if r.batchSize < 0 {
		return nil, fmt.Errorf(`param "batch_size": expected >= 0, got %d`, r.batchSize)
	}
	h, err := p.Map("headers")
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf(`param "headers": value of %q: expected a string, got %T`, k, v)
		}
		r.headers[k] = s
	}
	return r, p.Done()
}

// Name implements reward.Func.
func (r *Remote) Name() string { return "remote" }

// TimeLimit implements reward.TimeLimiter: the worst case of one request
// with all its retries and backoff delays.
func (r *Remote) TimeLimit() time.Duration {
	t := retry.Policy{Retries: r.retries, Backoff: r.backoff}.Worst(r.timeout)
	return t + time.Second // slack for connection setup and decoding
}

// Score implements reward.Func with a one-sample request.
func (r *Remote) Score(ctx context.Context, s reward.Sample) (reward.Score, error) {
	sc, err := r.ScoreBatch(ctx, []reward.Sample{s})
	if err != nil {
		return reward.Score{}, err
	}
	return sc[0], nil
}

// ScoreBatch implements reward.BatchFunc.
func (r *Remote) ScoreBatch(ctx context.Context, samples []reward.Sample) ([]reward.Score, error) {
	out := make([]reward.Score, 0, len(samples))
	size := r.batchSize
	if size == 0 {
		size = max(len(samples), 1)
	}
	for start := 0; start < len(samples); start += size {
		chunk := samples[start:min(start+size, len(samples))]
		sc, err := r.post(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, sc...)
	}
	return out, nil
}

// post sends one request, retrying transient failures.
func (r *Remote) post(ctx context.Context, samples []reward.Sample) ([]reward.Score, error) {
	body, err := json.Marshal(struct {
		Samples []reward.Sample `json:"samples"`
	}{samples})
	if err != nil {
		return nil, fmt.Errorf("remote reward %s: encoding request: %w", r.url, err)
	}
	var scores []reward.Score
	err = retry.Do(ctx, retry.Policy{Retries: r.retries, Backoff: r.backoff}, func(int) (bool, time.Duration, error) {
		sc, again, err := r.once(ctx, body, len(samples))
		scores = sc
		return again, 0, err
	})
	if err != nil {
		return nil, fmt.Errorf("remote reward %s: %w", r.url, err)
	}
	return scores, nil
}

func (r *Remote) once(ctx context.Context, body []byte, n int) (scores []reward.Score, retry bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if cctx.Err() != nil && ctx.Err() == nil {
			return nil, true, fmt.Errorf("no reply within timeout_s=%v", r.timeout.Seconds())
		}
		return nil, true, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, true, fmt.Errorf("reading reply: %w", err)
	}
	if len(data) > maxReply {
		return nil, false, fmt.Errorf("reply larger than %d bytes", maxReply)
	}
	if resp.StatusCode != http.StatusOK {
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		return nil, retry, fmt.Errorf("HTTP %s: %s", resp.Status, snippet(data))
	}
	scores, err = parseReply(data, n)
	return scores, false, err
}

// parseReply decodes {"scores": [...]} whose items are numbers or
// {"value", "parts", "err"} objects.
func parseReply(data []byte, n int) ([]reward.Score, error) {
	var reply struct {
		Scores []json.RawMessage `json:"scores"`
		Error  string            `json:"error"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, fmt.Errorf(`reply is not JSON of the form {"scores": [...]}: %v (reply: %s)`, err, snippet(data))
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("endpoint reported error: %s", reply.Error)
	}
	if reply.Scores == nil {
		return nil, fmt.Errorf(`reply has no "scores" field (reply: %s)`, snippet(data))
	}
	if len(reply.Scores) != n {
		return nil, fmt.Errorf("reply has %d scores for %d samples", len(reply.Scores), n)
	}
	out := make([]reward.Score, n)
	for i, raw := range reply.Scores {
		var f float64
		if err := json.Unmarshal(raw, &f); err == nil {
			out[i] = reward.Score{Value: f}
			continue
		}
		var obj struct {
			Value *float64           `json:"value"`
			Parts map[string]float64 `json:"parts"`
			Err   string             `json:"err"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil || (obj.Value == nil && obj.Err == "") {
			return nil, fmt.Errorf(`scores[%d]: expected a number or {"value": number, "parts": {...}}, got %s`, i, snippet(raw))
		}
		if obj.Value != nil {
			out[i].Value = *obj.Value
		}
		out[i].Parts, out[i].Err = obj.Parts, obj.Err
		if math.IsNaN(out[i].Value) || math.IsInf(out[i].Value, 0) {
			return nil, fmt.Errorf("scores[%d]: non-finite value", i)
		}
	}
	return out, nil
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

var (
	_ reward.BatchFunc   = (*Remote)(nil)
	_ reward.TimeLimiter = (*Remote)(nil)
)
