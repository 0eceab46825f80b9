package judge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/openai/openaitest"
	"github.com/r1go/r1/reward"
)

// grader gives 10 to responses containing the reference answer, 2 to
// others, with some reasoning before the verdict line.
func grader(r openaitest.Request, _ int) openaitest.Reply {
	q := r.LastUser()
	ref := between(q, "Reference answer (may be empty):\n", "\n")
	resp := between(q, "Answer to grade:\n", "\n\nJudge")
	score := 2
	if ref != "" && strings.Contains(resp, ref) {
		score = 10
	}
	return openaitest.Reply{Reasoning: "A score: 7 crossed my mind.", Content: fmt.Sprintf("The answer says %q.\nSCORE: %d", resp, score)}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func newJudge(t *testing.T, url string, extra map[string]any) *Judge {
	p := map[string]any{"url": url, "model": "judge", "retries": 1, "timeout_s": 5}
	for k, v := range extra {
		p[k] = v
	}
	fn, err := reward.New("judge", p)
	if err != nil {
		t.Fatal(err)
	}
	return fn.(*Judge)
}

func TestJudgeScoresAndCaches(t *testing.T) {
	srv := openaitest.New(grader)
	defer srv.Close()
	srv.Separate = true
	j := newJudge(t, srv.URL(), nil)
	samples := []reward.Sample{
		{Prompt: "What is 2+2?", Completion: "<think>2+2 is 4, I think 5 is wrong</think>The answer is 4.", Fields: map[string]any{"answer": "4"}},
		{Prompt: "What is 2+2?", Completion: "<think>surely 4</think>The answer is 5.", Fields: map[string]any{"answer": "4"}},
		{Prompt: "What is 2+2?", Completion: "<think>2+2 is 4, I think 5 is wrong</think>The answer is 4.", Fields: map[string]any{"answer": "4"}}, // asked once
	}
	sc, err := j.ScoreBatch(context.Background(), samples)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{1, 0.2, 1} {
		if sc[i].Value != want || sc[i].Err != "" {
			t.Errorf("sample %d: %+v, want %v", i, sc[i], want)
		}
	}
	if got := srv.Requests.Load(); got != 2 {
		t.Errorf("%d requests, want 2 (one duplicate in the batch)", got)
	}
	// Asked again: all from the cache.
	if _, err := j.ScoreBatch(context.Background(), samples[:2]); err != nil {
		t.Fatal(err)
	}
	if got, st := srv.Requests.Load(), j.Stats(); got != 2 || st.Asked != 2 || st.CacheHits != 3 {
		t.Errorf("%d requests, stats %+v: want 2 requests, 2 asked, 3 cache hits", got, st)
	}
	// scope: summary hides the reasoning from the judge, full shows it.
	if q := j.Question(samples[0]); strings.Contains(q, "I think 5 is wrong") || !strings.Contains(q, "The answer is 4.") {
		t.Errorf("summary scope question:\n%s", q)
	}
	full := newJudge(t, srv.URL(), map[string]any{"scope": "full"})
	if q := full.Question(samples[0]); !strings.Contains(q, "I think 5 is wrong") {
		t.Errorf("full scope question lacks the reasoning:\n%s", q)
	}
}

// Failures and timeouts score 0, are counted, and never fail the batch.
func TestJudgeFailuresScoreZero(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(*openaitest.Server)
		wantErr string
	}{
		{"5xx", func(s *openaitest.Server) { s.Fail, s.FailStatus = 100, 503 }, "503"},
		{"timeout", func(s *openaitest.Server) { s.Delay = time.Hour }, reward.TimeoutPrefix},
		{"no verdict", func(s *openaitest.Server) {
			s.Answer = func(openaitest.Request, int) openaitest.Reply { return openaitest.Reply{Content: "Looks fine to me."} }
		}, "no SCORE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := openaitest.New(grader)
			defer srv.Close()
			tc.setup(srv)
			j := newJudge(t, srv.URL(), map[string]any{"timeout_s": 0.05})
			sc, err := j.ScoreBatch(context.Background(), []reward.Sample{{Prompt: "q", Completion: "a"}, {Prompt: "q", Completion: "b"}})
			if err != nil {
				t.Fatalf("the batch failed: %v", err)
			}
			for i, s := range sc {
				if s.Value != 0 || !strings.Contains(s.Err, tc.wantErr) {
					t.Errorf("sample %d: %+v, want 0 with an error containing %q", i, s, tc.wantErr)
				}
			}
			if st := j.Stats(); st.Failures+st.Unparsed != 2 {
				t.Errorf("stats %+v: want 2 counted failures", st)
			}
			// A failure is not cached: the next batch asks again.
			before := srv.Requests.Load()
			j.ScoreBatch(context.Background(), []reward.Sample{{Prompt: "q", Completion: "a"}})
			if srv.Requests.Load() == before {
				t.Error("a failed verdict was cached")
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		reply string
		v     float64
		ok    bool
	}{
		{"SCORE: 7", 0.7, true},
		{"score = 3.5\nactually SCORE: **9**", 0.9, true},
		{"SCORE: 12", 1, true},
		{"SCORE: -1", 0, true},
		{"no verdict", 0, false},
	} {
		v, ok := Verdict(tc.reply, 10)
		if v != tc.v || ok != tc.ok {
			t.Errorf("Verdict(%q) = %v, %v; want %v, %v", tc.reply, v, ok, tc.v, tc.ok)
		}
	}
}

func TestJudgeBadParams(t *testing.T) {
	for _, p := range []map[string]any{
		nil,
		{"url": "http://x/v1"},
		{"url": "http://x/v1", "model": "m", "model_dir": "/m"},
		{"url": "http://x/v1", "model": "m", "rubric": "no placeholder"},
		{"url": "http://x/v1", "model": "m", "scope": "half"},
		{"url": "http://x/v1", "model": "m", "max_score": 0},
		{"url": "http://x/v1", "model": "m", "colour": "red"},
	} {
		if _, err := reward.New("judge", p); err == nil {
			t.Errorf("params %v accepted", p)
		}
	}
}

// A local judge model runs on r1's sampler; a random model writes no
// verdict, which scores 0 and is counted.
func TestLocalJudge(t *testing.T) {
	dir := t.TempDir()
	if _, err := testmodel.Write(dir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	fn, err := reward.New("judge", map[string]any{"model_dir": dir, "max_tokens": 6})
	if err != nil {
		t.Fatal(err)
	}
	j := fn.(*Judge)
	sc, err := j.ScoreBatch(context.Background(), []reward.Sample{{Prompt: "q", Completion: "a"}, {Prompt: "q", Completion: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		if s.Value != 0 || !strings.Contains(s.Err, "no SCORE") {
			t.Errorf("%+v: want 0, no SCORE", s)
		}
	}
	if st := j.Stats(); st.Asked != 2 || st.Unparsed != 2 {
		t.Errorf("stats %+v", st)
	}
}
