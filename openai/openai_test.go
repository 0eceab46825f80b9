package openai

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/r1go/r1/openai/openaitest"
)

// echo answers "r<i>:<question>" as reasoning and "a<i>" as content.
func echo(r openaitest.Request, i int) openaitest.Reply {
	return openaitest.Reply{Reasoning: fmt.Sprintf("r%d: %s ✓ 思考", i, r.LastUser()), Content: fmt.Sprintf("a%d \\boxed{4}", i)}
}

func TestChatProtocols(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, separate := range []bool{false, true} {
			t.Run(fmt.Sprintf("stream=%v/reasoning_content=%v", stream, separate), func(t *testing.T) {
				srv := openaitest.New(echo)
				defer srv.Close()
				srv.Separate = separate
				t.Setenv("R1_TEST_KEY", "sekret")
				c, err := New(Config{URL: srv.URL(), Model: "teacher", APIKeyEnv: "R1_TEST_KEY", Stream: stream})
				if err != nil {
					t.Fatal(err)
				}
				temp := 0.6
				resp, err := c.Chat(context.Background(), Request{Messages: []Message{{"user", "2+2?"}}, N: 3, Temperature: &temp, MaxTokens: 50})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.Choices) != 3 {
					t.Fatalf("%d choices, want 3", len(resp.Choices))
				}
				for i, ch := range resp.Choices {
					want := echo(openaitest.Request{Messages: []struct{ Role, Content string }{{"user", "2+2?"}}}, i)
					if ch.Index != i || ch.Reasoning != want.Reasoning || ch.Content != want.Content || ch.FinishReason != "stop" {
						t.Errorf("choice %d = %+v, want reasoning %q content %q", i, ch, want.Reasoning, want.Content)
					}
				}
				if resp.PromptTokens != 7 || resp.CompletionTokens != 11 {
					t.Errorf("usage %d/%d, want 7/11", resp.PromptTokens, resp.CompletionTokens)
				}
				if len(srv.Keys) != 1 || srv.Keys[0] != "Bearer sekret" {
					t.Errorf("Authorization headers %q, want one Bearer sekret", srv.Keys)
				}
			})
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		status   int
		fail     int64
		retries  int
		wantErr  string
		requests int64
	}{
		{http.StatusServiceUnavailable, 2, 3, "", 3},
		{http.StatusTooManyRequests, 1, 3, "", 2},
		{http.StatusInternalServerError, 9, 2, "gave up after 3 attempts", 3},
		{http.StatusBadRequest, 9, 3, "400", 1}, // a bad request is not repeated
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/stream=%v", tc.status, stream), func(t *testing.T) {
				srv := openaitest.New(echo)
				defer srv.Close()
				srv.Fail, srv.FailStatus = tc.fail, tc.status
				c, _ := New(Config{URL: srv.URL(), Model: "m", Retries: tc.retries, Backoff: time.Millisecond, Stream: stream})
				_, err := c.Chat(context.Background(), Request{Messages: []Message{{"user", "q"}}})
				if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
				if got := srv.Requests.Load(); got != tc.requests {
					t.Errorf("%d requests, want %d", got, tc.requests)
				}
				if st := c.Stats(); st.Retries != tc.requests-1 {
					t.Errorf("stats.Retries = %d, want %d", st.Retries, tc.requests-1)
				}
			})
		}
	}
}

func TestTimeoutIsRetriedThenReported(t *testing.T) {
	srv := openaitest.New(echo)
	defer srv.Close()
	srv.Delay = time.Hour // a server that never answers
	c, _ := New(Config{URL: srv.URL(), Model: "m", Timeout: 50 * time.Millisecond, Retries: 1, Backoff: time.Millisecond})
	_, err := c.Chat(context.Background(), Request{Messages: []Message{{"user", "q"}}})
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if got := srv.Requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2 (one retry)", got)
	}
}

func TestDeadEndpoint(t *testing.T) {
	srv := openaitest.New(echo)
	url := srv.URL()
	srv.Close() // nothing listens there now
	c, _ := New(Config{URL: url, Model: "m", Retries: 2, Backoff: time.Millisecond})
	done := make(chan error, 1)
	go func() {
		_, err := c.Chat(context.Background(), Request{Messages: []Message{{"user", "q"}}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), url) {
			t.Errorf("err = %v, want connection refused naming %s", err, url)
		}
	case <-time.After(time.Minute): // a generous bound: the point is "not forever"
		t.Fatal("a dead endpoint hung the client")
	}
}

func TestConcurrencyLimit(t *testing.T) {
	srv := openaitest.New(echo)
	defer srv.Close()
	srv.Delay = 50 * time.Millisecond
	c, _ := New(Config{URL: srv.URL(), Model: "m", Concurrency: 4})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Chat(context.Background(), Request{Messages: []Message{{"user", "q"}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := srv.MaxInFlight.Load(); got > 4 {
		t.Errorf("server saw %d requests at once, limit 4", got)
	}
	if st := c.Stats(); st.MaxInFlight != 4 || st.Requests != 16 {
		t.Errorf("stats %+v: want 16 requests, 4 at most at once", st)
	}
}

func TestSplitThink(t *testing.T) {
	tests := []struct{ in, r, a string }{
		{"<think>abc</think>ans", "abc", "ans"},
		{"abc</think>ans", "abc", "ans"}, // the prompt opened the block
		{"<think>unfinished", "unfinished", ""},
		{"just an answer", "", "just an answer"},
		{"<think>a</think>b</think>c", "a", "b</think>c"},
	}
	for _, tc := range tests {
		r, a := SplitThink(tc.in)
		if r != tc.r || a != tc.a {
			t.Errorf("SplitThink(%q) = %q, %q; want %q, %q", tc.in, r, a, tc.r, tc.a)
		}
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{{URL: "localhost:8000", Model: "m"}, {URL: "http://x/v1"}, {URL: "http://x/v1", Model: "m", Concurrency: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}
