package reward

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// fakeFunc scores by a function of the sample; the test rewards below are
// registered under "test_*" names.
type fakeFunc struct {
	name string
	f    func(ctx context.Context, s Sample) (Score, error)
}

func (f fakeFunc) Name() string { return f.name }
func (f fakeFunc) Score(ctx context.Context, s Sample) (Score, error) {
	return f.f(ctx, s)
}

type fakeBatch struct {
	fakeFunc
	calls *atomic.Int32
	short bool
}

func (f fakeBatch) ScoreBatch(ctx context.Context, ss []Sample) ([]Score, error) {
	f.calls.Add(1)
	out := make([]Score, len(ss))
	for i, s := range ss {
		out[i] = Score{Value: float64(len(s.Completion))}
	}
	if f.short {
		out = out[:len(out)-1]
	}
	return out, nil
}

var batchCalls atomic.Int32

// limited asks for a 5 s time limit, more than the configs below allow.
type limited struct{ fakeFunc }

func (limited) TimeLimit() time.Duration { return 5 * time.Second }

func init() {
	reg := func(name string, f func(ctx context.Context, s Sample) (Score, error)) {
		Register(name, func(map[string]any) (Func, error) { return fakeFunc{name, f}, nil })
	}
	// Length of the completion, so each sample gets a different value.
	reg("test_len", func(_ context.Context, s Sample) (Score, error) {
		return Score{Value: float64(len(s.Completion)), Parts: map[string]float64{"half": float64(len(s.Completion)) / 2}}, nil
	})
	reg("test_err", func(context.Context, Sample) (Score, error) {
		return Score{Value: 5}, errors.New("gold answer missing")
	})
	reg("test_panic", func(_ context.Context, s Sample) (Score, error) {
		if s.Completion == "boom" {
			panic("index out of range")
		}
		return Score{Value: 1}, nil
	})
	reg("test_nan", func(context.Context, Sample) (Score, error) { return Score{Value: math.NaN()}, nil })
	// Ignores its context entirely, like a runaway reward would.
	reg("test_hang", func(_ context.Context, s Sample) (Score, error) {
		if s.Completion == "hang" {
			time.Sleep(2 * time.Second)
		}
		return Score{Value: 1}, nil
	})
	Register("test_slowlimit", func(map[string]any) (Func, error) {
		// Ignores ctx so that, at the deadline, only the Scorer decides.
		return limited{fakeFunc{"test_slowlimit", func(ctx context.Context, s Sample) (Score, error) {
			time.Sleep(300 * time.Millisecond)
			return Score{Value: 1}, nil
		}}}, nil
	})
	reg("test_errfield", func(context.Context, Sample) (Score, error) { return Score{Value: 3, Err: "bad"}, nil })
	Register("test_batch", func(p map[string]any) (Func, error) {
		_, short := p["short"]
		return fakeBatch{fakeFunc: fakeFunc{name: "test_batch"}, calls: &batchCalls, short: short}, nil
	})
	Register("test_params", func(p map[string]any) (Func, error) {
		ps := NewParams(p)
		if _, err := ps.Float("x", 1); err != nil {
			return nil, err
		}
		if err := ps.Done(); err != nil {
			return nil, err
		}
		return fakeFunc{"test_params", func(context.Context, Sample) (Score, error) { return Score{}, nil }}, nil
	})
}

func w(f float64) *float64 { return &f }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Rewards: []Spec{{Name: "test_len"}}}, ""},
		{"empty", Config{}, "at least one reward"},
		{"no name", Config{Rewards: []Spec{{}}}, "rewards[0].name"},
		{"nan weight", Config{Rewards: []Spec{{Name: "a", Weight: w(math.NaN())}}}, "rewards[0].weight"},
		{"dup label", Config{Rewards: []Spec{{Name: "a"}, {Name: "a"}}}, "label \"a\" already used"},
		{"dup ok with label", Config{Rewards: []Spec{{Name: "a"}, {Name: "a", Label: "a2"}}}, ""},
		{"bad label", Config{Rewards: []Spec{{Name: "a", Label: "x/y"}}}, "rewards[0].label"},
		{"neg workers", Config{Rewards: []Spec{{Name: "a"}}, Workers: -1}, "workers"},
		{"neg timeout", Config{Rewards: []Spec{{Name: "a", Timeout: -time.Second}}}, "rewards[0].timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewScorerErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rewards: []Spec{{Name: "no_such_reward"}}}, "unknown reward"},
		{Config{Rewards: []Spec{{Name: "test_params", Params: map[string]any{"y": 1}}}}, "unknown param(s) y"},
		{Config{Rewards: []Spec{{Name: "test_params", Params: map[string]any{"x": "abc"}}}}, `param "x"`},
	} {
		_, err := NewScorer(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rewards[0]") {
			t.Errorf("NewScorer(%v) error = %v, want %q", tc.cfg.Rewards[0].Name, err, tc.want)
		}
	}
}

func TestScorerWeightsAndFailures(t *testing.T) {
	cfg := Config{
		Rewards: []Spec{
			{Name: "test_len", Weight: w(2)},
			{Name: "test_err", Weight: w(100)},
			{Name: "test_panic", Weight: w(10)},
			{Name: "test_nan"},
			{Name: "test_hang", Timeout: 500 * time.Millisecond},
			{Name: "test_errfield", Weight: w(7)},
		},
		Workers: 3,
	}
	sc, err := NewScorer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	sc.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	samples := []Sample{{Completion: "ab"}, {Completion: "boom"}, {Completion: "hang"}}
	res := sc.Score(context.Background(), samples)
	if !strings.Contains(logged.String(), "reward=test_panic sample=1") || strings.Count(logged.String(), "reward=test_err ") != 3 {
		t.Errorf("log:\n%s", logged.String())
	}
	// value per (sample, reward); "E" marks an expected error.
	type want struct {
		v   float64
		err string
	}
	table := [][]want{
		{{2, ""}, {0, "gold answer missing"}, {1, ""}, {0, "non-finite"}, {1, ""}, {0, "bad"}},
		{{4, ""}, {0, "gold answer missing"}, {0, "panic: index out of range"}, {0, "non-finite"}, {1, ""}, {0, "bad"}},
		{{4, ""}, {0, "gold answer missing"}, {1, ""}, {0, "non-finite"}, {0, TimeoutPrefix}, {0, "bad"}},
	}
	wantTotal := []float64{2*2 + 10 + 1, 2*4 + 0 + 1, 2*4 + 10 + 0}
	for i := range samples {
		for j, wnt := range table[i] {
			got := res.Scores[i][j]
			if got.Value != wnt.v {
				t.Errorf("sample %d reward %s: value %v, want %v", i, res.Labels[j], got.Value, wnt.v)
			}
			if (wnt.err == "") != (got.Err == "") || !strings.Contains(got.Err, wnt.err) {
				t.Errorf("sample %d reward %s: err %q, want %q", i, res.Labels[j], got.Err, wnt.err)
			}
		}
		if res.Total[i] != wantTotal[i] {
			t.Errorf("total[%d] = %v, want %v", i, res.Total[i], wantTotal[i])
		}
	}
	if row := res.Row(1); row["test_panic"].Err == "" || row["test_len"].Value != 4 || len(row) != len(cfg.Rewards) {
		t.Errorf("Row(1) = %v", row)
	}
	st := res.Summarize().Stats()
	if st[0].Mean != 10.0/3 || st[0].Min != 2 || st[0].Max != 4 || st[0].Parts["half"] != 5.0/3 {
		t.Errorf("test_len stats = %+v", st[0])
	}
	if st[1].Errors != 3 || st[1].Timeouts != 0 || st[4].Errors != 1 || st[4].Timeouts != 1 {
		t.Errorf("error counts: %+v / %+v", st[1], st[4])
	}
	wantStd := math.Sqrt((4.0+16+16)/3 - (10.0/3)*(10.0/3))
	if math.Abs(st[0].Std-wantStd) > 1e-12 {
		t.Errorf("std = %v, want %v", st[0].Std, wantStd)
	}
	m := res.Summarize().Metrics()
	if m["reward/test_hang/timeouts"] != 1 || m["reward/test_len/part/half"] != 5.0/3 || m["reward/total/mean"] != (15.0+9+18)/3 {
		t.Errorf("metrics = %v", m)
	}
}

func TestScorerBatchFunc(t *testing.T) {
	batchCalls.Store(0)
	sc, err := NewScorer(Config{Rewards: []Spec{{Name: "test_batch"}, {Name: "test_batch", Label: "short", Params: map[string]any{"short": true}}}})
	if err != nil {
		t.Fatal(err)
	}
	res := sc.Score(context.Background(), []Sample{{Completion: "a"}, {Completion: "abc"}})
	if batchCalls.Load() != 2 {
		t.Errorf("ScoreBatch called %d times, want once per reward (2)", batchCalls.Load())
	}
	if res.Scores[0][0].Value != 1 || res.Scores[1][0].Value != 3 {
		t.Errorf("batch scores = %+v", res.Scores)
	}
	for i := range 2 {
		if !strings.Contains(res.Scores[i][1].Err, "returned 1 scores for 2 samples") {
			t.Errorf("short batch sample %d: err %q", i, res.Scores[i][1].Err)
		}
	}
}

func TestScorerCancelledAndEmpty(t *testing.T) {
	sc, err := NewScorer(Config{Rewards: []Spec{{Name: "test_hang"}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := sc.Score(context.Background(), nil); len(r.Total) != 0 {
		t.Errorf("empty batch gave %v", r.Total)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := sc.Score(ctx, []Sample{{Completion: "hang"}})
	if r.Scores[0][0].Err == "" || r.Total[0] != 0 {
		t.Errorf("cancelled score = %+v", r.Scores[0][0])
	}
}

func TestPromptOpensThink(t *testing.T) {
	tests := []struct {
		prompt string
		want   bool
	}{
		{"<｜User｜>hi<｜Assistant｜><think>\n", true},
		{"Assistant: Let me solve this step by step.\n<think>", true},
		{"Show your work in <think> </think> tags.\nAssistant:", false},
		{"<think>done</think>\n", false},
		{"", false},
		{"<|im_start|>assistant\n", false},
	}
	for _, tc := range tests {
		if got := PromptOpensThink(tc.prompt); got != tc.want {
			t.Errorf("PromptOpensThink(%q) = %v, want %v", tc.prompt, got, tc.want)
		}
	}
}

func TestSplitThink(t *testing.T) {
	tests := []struct {
		s           Sample
		think, rest string
		ok          bool
	}{
		{Sample{Completion: "<think>a</think>b"}, "a", "b", true},
		{Sample{Prompt: "x<think>\n", Completion: "a</think>b"}, "a", "b", true},
		{Sample{Completion: "plain"}, "", "plain", false},
		{Sample{Completion: "<think>never closed"}, "never closed", "", true},
	}
	for _, tc := range tests {
		th, rest, ok := SplitThink(tc.s)
		if th != tc.think || rest != tc.rest || ok != tc.ok {
			t.Errorf("SplitThink(%+v) = %q, %q, %v", tc.s, th, rest, ok)
		}
	}
}

func TestParams(t *testing.T) {
	p := NewParams(map[string]any{"a": 2, "b": "3.5", "c": "yes?", "d": 1.5, "e": map[string]any{"k": 1}})
	if v, err := p.Int("a", 0); v != 2 || err != nil {
		t.Errorf("Int(a) = %v, %v", v, err)
	}
	if v, err := p.Float("b", 0); v != 3.5 || err != nil {
		t.Errorf("Float(b) = %v, %v", v, err)
	}
	if _, err := p.Bool("c", false); err == nil || !strings.Contains(err.Error(), `param "c"`) {
		t.Errorf("Bool(c) err = %v", err)
	}
	if _, err := p.Int("d", 0); err == nil {
		t.Error("Int(1.5) should fail")
	}
	if v, err := p.Float("missing", 7); v != 7 || err != nil {
		t.Errorf("default = %v, %v", v, err)
	}
	if err := p.Done(); err == nil || !strings.Contains(err.Error(), "e") {
		t.Errorf("Done() = %v, want unknown e", err)
	}
}

func TestTimeLimiter(t *testing.T) {
	tests := []struct {
		spec Spec
		want float64
	}{
		{Spec{Name: "test_slowlimit"}, 1},                                 // reward's own 5 s limit beats Config's 20 ms
		{Spec{Name: "test_slowlimit", Timeout: 20 * time.Millisecond}, 0}, // Spec wins
	}
	for _, tc := range tests {
		sc, err := NewScorer(Config{Rewards: []Spec{tc.spec}, Timeout: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		got := sc.Score(context.Background(), []Sample{{}}).Scores[0][0]
		if got.Value != tc.want {
			t.Errorf("spec timeout %v: %+v, want value %v", tc.spec.Timeout, got, tc.want)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
rewards:
  - name: test_len
    weight: 0.5
    timeout: 30s
    params: {x: 2, nested: {a: b}}
  - name: test_len
    label: len2
workers: 4
timeout: 2s
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := cfg.Rewards
	if r[0].W() != 0.5 || r[1].W() != 1 || r[0].Timeout != 30*time.Second || cfg.Timeout != 2*time.Second ||
		cfg.Workers != 4 || r[0].Params["x"] != 2 || r[1].L() != "len2" || r[0].L() != "test_len" {
		t.Errorf("decoded %+v", cfg)
	}
}
