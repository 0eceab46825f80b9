package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/r1go/r1/reward"
)

// lengthServer scores each completion by its length; fail makes the first
// fail requests answer with that status.
func lengthServer(t *testing.T, fail int, status int, objects bool) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if int(n) <= fail {
			http.Error(w, "overloaded", status)
			return
		}
		if r.Header.Get("X-Key") != "k" {
			http.Error(w, "missing X-Key", http.StatusUnauthorized)
			return
		}
		var req struct {
			Samples []reward.Sample `json:"samples"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		scores := make([]any, len(req.Samples))
		for i, s := range req.Samples {
			v := float64(len(s.Completion))
			if objects {
				scores[i] = map[string]any{"value": v, "parts": map[string]float64{"gold": s.Fields["gold"].(float64)}}
			} else {
				scores[i] = v
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"scores": scores})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newRemote(t *testing.T, url string, extra map[string]any) *Remote {
	t.Helper()
	p := map[string]any{"url": url, "backoff_ms": 1, "headers": map[string]any{"X-Key": "k"}}
	for k, v := range extra {
		p[k] = v
	}
	r, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var samples = []reward.Sample{
	{Completion: "a", Fields: map[string]any{"gold": 1.0}},
	{Completion: "abc", Fields: map[string]any{"gold": 2.0}},
	{Completion: "abcde", Fields: map[string]any{"gold": 3.0}},
}

func TestScoreBatch(t *testing.T) {
	tests := []struct {
		name        string
		fail, code  int
		objects     bool
		params      map[string]any
		wantCalls   int32
		wantErr     string
		wantErrPart bool
	}{
		{name: "numbers", wantCalls: 1},
		{name: "objects with parts", objects: true, wantCalls: 1, wantErrPart: true},
		{name: "chunks", params: map[string]any{"batch_size": 2}, wantCalls: 2},
		{name: "retries 5xx", fail: 2, code: 503, wantCalls: 3},
		{name: "retries 429", fail: 1, code: 429, wantCalls: 2},
		{name: "gives up after retries", fail: 5, code: 500, params: map[string]any{"retries": 1}, wantCalls: 2, wantErr: "HTTP 500 Internal Server Error: overloaded"},
		{name: "no retry on 4xx", fail: 5, code: 400, wantCalls: 1, wantErr: "HTTP 400 Bad Request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := lengthServer(t, tc.fail, tc.code, tc.objects)
			r := newRemote(t, srv.URL, tc.params)
			got, err := r.ScoreBatch(context.Background(), samples)
			if calls.Load() != tc.wantCalls {
				t.Errorf("%d requests, want %d", calls.Load(), tc.wantCalls)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), srv.URL) {
					t.Fatalf("err = %v, want %q naming the URL", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range samples {
				if got[i].Value != float64(len(s.Completion)) {
					t.Errorf("sample %d: %v, want %d", i, got[i].Value, len(s.Completion))
				}
				if tc.wantErrPart && got[i].Parts["gold"] != s.Fields["gold"] {
					t.Errorf("sample %d parts %v", i, got[i].Parts)
				}
			}
		})
	}
}

func TestBadReplies(t *testing.T) {
	tests := []struct {
		reply, want string
	}{
		{`{"scores": [1, 2]}`, "2 scores for 3 samples"},
		{`not json`, "not JSON"},
		{`{"result": []}`, `no "scores"`},
		{`{"error": "model not loaded"}`, "model not loaded"},
		{`{"scores": [1, "x", 3]}`, "scores[1]"},
		{`{"scores": [1, {"parts": {}}, 3]}`, "scores[1]"},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, tc.reply)
		}))
		r := newRemote(t, srv.URL, nil)
		_, err := r.ScoreBatch(context.Background(), samples)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reply %s: err %v, want %q", tc.reply, err, tc.want)
		}
		srv.Close()
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	r := newRemote(t, srv.URL, map[string]any{"timeout_s": 0.05, "retries": 0})
	_, err := r.Score(context.Background(), samples[0])
	if err == nil || !strings.Contains(err.Error(), "timeout_s") {
		t.Errorf("err = %v, want a timeout naming timeout_s", err)
	}
}

// Through the Scorer, a remote reward makes one request for the batch and a
// per-item err is kept.
func TestInScorer(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprint(w, `{"scores": [0.5, {"value": 0, "err": "no answer"}, 1]}`)
	}))
	defer srv.Close()
	w := 2.0
	sc, err := reward.NewScorer(reward.Config{Rewards: []reward.Spec{{Name: "remote", Weight: &w, Timeout: 5 * time.Second, Params: map[string]any{"url": srv.URL}}}})
	if err != nil {
		t.Fatal(err)
	}
	res := sc.Score(context.Background(), samples)
	if calls.Load() != 1 {
		t.Errorf("%d requests, want 1", calls.Load())
	}
	if res.Total[0] != 1 || res.Total[2] != 2 || res.Scores[1][0].Err != "no answer" {
		t.Errorf("result = %+v", res)
	}
}

func TestTimeLimit(t *testing.T) {
	r, err := New(map[string]any{"url": "http://127.0.0.1:1", "timeout_s": 2, "retries": 2, "backoff_ms": 100})
	if err != nil {
		t.Fatal(err)
	}
	// 3 attempts of 2 s, delays of 100 and 200 ms, 1 s slack.
	if got, want := r.TimeLimit(), 7300*time.Millisecond; got != want {
		t.Errorf("TimeLimit = %v, want %v", got, want)
	}
}

func TestParamErrors(t *testing.T) {
	for _, tc := range []struct {
		p    map[string]any
		want string
	}{
		{nil, `"url"`},
		{map[string]any{"url": "ftp://x"}, `"url"`},
		{map[string]any{"url": "http://127.0.0.1:1", "timeout_s": 0}, `"timeout_s"`},
		{map[string]any{"url": "http://127.0.0.1:1", "retries": -1}, `"retries"`},
		{map[string]any{"url": "http://127.0.0.1:1", "headers": map[string]any{"A": 1}}, `"headers"`},
		{map[string]any{"url": "http://127.0.0.1:1", "retry": 3}, "unknown param"},
	} {
		if _, err := reward.New("remote", tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.p, err, tc.want)
		}
	}
}
