package sample

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/model"
)

// startScheduler runs a scheduler in the background until the test ends.
func startScheduler(t *testing.T, c SchedulerConfig) *Scheduler {
	t.Helper()
	s, err := NewScheduler(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	t.Cleanup(func() { cancel(); s.Wait() })
	return s
}

// Requests submitted concurrently, each with its own params (temperature,
// top-k/top-p/min-p, seed, budget, stop id), give exactly the samples each
// gives alone through Engine.Generate: the batch they share changes
// nothing. The batch (4) is smaller than the load, so requests also queue.
func TestSchedulerConcurrentEqualsAlone(t *testing.T) {
	m := tinyModel(t, "qwen2")
	type req struct {
		prompt []int32
		n      int
		p      Params
	}
	var reqs []req
	for i := 0; i < 12; i++ {
		p := Params{Temperature: 0.5 + 0.1*float64(i%5), TopP: 1, MaxNewTokens: 5 + i%7, Seed: uint64(100 + i)}
		switch i % 4 {
		case 1:
			p.TopK = 7
		case 2:
			p.TopP = 0.8
		case 3:
			p.MinP = 0.05
			p.StopIDs = []int32{int32(i)}
		}
		prompt := make([]int32, 1+i%9)
		for k := range prompt {
			prompt[k] = int32(1 + (i*7+k*3)%49)
		}
		reqs = append(reqs, req{prompt, 1 + i%3, p})
	}
	want := make([][]Sample, len(reqs))
	for i, r := range reqs {
		out, err := (&Engine{Model: m, BlockSize: 4}).Generate(context.Background(), []Request{{Prompt: r.prompt, N: r.n}}, r.p)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out
	}

	s := startScheduler(t, SchedulerConfig{Model: m, BlockSize: 4, MaxBatch: 4, MaxTokens: 4 * 64})
	got := make([][]Sample, len(reqs))
	var wg sync.WaitGroup
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.Submit(context.Background(), Job{Prompt: r.prompt, N: r.n, Params: r.p})
			if err != nil {
				errs[i] = err
				return
			}
			got[i], errs[i] = h.Wait()
		}()
	}
	wg.Wait()
	for i := range reqs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		for k := range got[i] {
			got[i][k].Request = 0
		}
		if err := sameSamples(got[i], want[i]); err != nil {
			t.Fatalf("request %d: concurrent samples differ from alone: %v", i, err)
		}
	}
	if st := s.Stats(); st.FreeBlocks != st.TotalBlocks || st.Running != 0 || st.Waiting != 0 {
		t.Fatalf("after the load: %+v, want every block free and nothing running", st)
	}
}

// Cancelling a running request frees its sequences' KV blocks before the
// next decode step: by the time Wait returns they are back in the pool,
// while another request keeps decoding. The cache is checked by memcheck:
// nothing is leaked once the scheduler stops.
func TestSchedulerCancelFreesBlocks(t *testing.T) {
	mc := memcheck.Wrap(cpu.New())
	m := tinyModelOn(t, mc)
	// The model grows its RoPE tables on first use and keeps them: grow
	// them to the context length before taking the mark.
	if _, err := (&Engine{Model: m}).Generate(context.Background(), []Request{{Prompt: make([]int32, 200)}}, Params{TopP: 1, MaxNewTokens: 56}); err != nil {
		t.Fatal(err)
	}
	mark := mc.Mark()
	s, err := NewScheduler(SchedulerConfig{Model: m, BlockSize: 4, MaxBatch: 8, MaxTokens: 8 * 64})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(runCtx) }()
	total := s.Stats().TotalBlocks

	// A long request that blocks inside its 3rd token until released, so
	// the test controls where the loop is.
	long := Params{Temperature: 1, TopP: 1, MaxNewTokens: 200, Seed: 1}
	ctx, cancel := context.WithCancel(context.Background())
	third := make(chan struct{})
	release := make(chan struct{})
	count := 0
	h, err := s.Submit(ctx, Job{Prompt: []int32{1, 2, 3, 4, 5, 6}, N: 2, Params: long, OnToken: func(index int, _ int32, _ float32) {
		if index == 0 {
			if count++; count == 3 {
				close(third)
				<-release
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-third
	if st := s.Stats(); st.FreeBlocks >= total {
		t.Fatalf("while running: %d of %d blocks free, want some in use", st.FreeBlocks, total)
	}
	// A second request running beside it must be unaffected.
	other, err := s.Submit(context.Background(), Job{Prompt: []int32{7, 8}, Params: Params{Temperature: 0, TopP: 1, MaxNewTokens: 20}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	close(release)
	samples, err := h.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
	for _, x := range samples {
		if x.FinishReason != "cancelled" || len(x.Tokens) >= 200 {
			t.Fatalf("cancelled sample: %d tokens, finish %q", len(x.Tokens), x.FinishReason)
		}
	}
	st := s.Stats()
	otherOut, err := other.Wait()
	if err != nil || len(otherOut) != 1 || otherOut[0].FinishReason != "length" || len(otherOut[0].Tokens) != 20 {
		t.Fatalf("the other request: %v %+v", err, otherOut)
	}
	// Only the other request's blocks (at most 22 tokens → 6 blocks of 4)
	// may be in use when the cancelled one's Wait returns.
	if used := total - st.FreeBlocks; used > 6 {
		t.Fatalf("after cancel: %d blocks still used or reserved, want ≤ 6 (the other request's)", used)
	}
	if st := s.Stats(); st.FreeBlocks != total {
		t.Fatalf("idle: %d of %d blocks free", st.FreeBlocks, total)
	}

	// A request cancelled while queued never runs.
	qctx, qcancel := context.WithCancel(context.Background())
	qcancel()
	hq, err := s.Submit(qctx, Job{Prompt: []int32{1}, Params: long})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := hq.Wait(); !errors.Is(err, context.Canceled) || len(out) != 0 {
		t.Fatalf("cancelled before admission: %v, %d samples", err, len(out))
	}

	s.Close()
	if err := <-runErr; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	stopRun()
	// The model's RoPE tables stay (they belong to the model); the cache
	// and every per-step tensor must be gone.
	if leaks := mc.Since(mark); len(leaks) > 0 {
		t.Fatalf("leaked after Close: %q", leaks)
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
}

// sameSamples compares samples: the same tokens, text, finish reason and
// prompt length exactly, and log-probs to 1e-5. (A different batch changes
// the GEMM's row blocking, so log-probs may move in the last bits; the
// tokens drawn from them must not.)
func sameSamples(got, want []Sample) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d samples, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Request != w.Request || g.Index != w.Index || fmt.Sprint(g.Tokens) != fmt.Sprint(w.Tokens) || g.Text != w.Text ||
			g.FinishReason != w.FinishReason || g.PromptTokens != w.PromptTokens || len(g.LogProbs) != len(w.LogProbs) {
			return fmt.Errorf("sample %d:\n got %+v\nwant %+v", i, g, w)
		}
		for k := range g.LogProbs {
			if d := math.Abs(float64(g.LogProbs[k] - w.LogProbs[k])); d > 1e-5 {
				return fmt.Errorf("sample %d token %d: log-prob %v, want %v", i, k, g.LogProbs[k], w.LogProbs[k])
			}
		}
	}
	return nil
}

// Submit refuses at once what can never run, naming the reason: a context
// overflow says by how much; a full queue is ErrQueueFull; after Close,
// ErrClosed. Close drains: queued requests still complete.
func TestSchedulerSubmitErrors(t *testing.T) {
	m := tinyModel(t, "llama") // max_position_embeddings 256
	s, err := NewScheduler(SchedulerConfig{Model: m, BlockSize: 4, MaxBatch: 1, MaxQueue: 2, MaxTokens: 1024})
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Temperature: 1, TopP: 1, MaxNewTokens: 10}
	_, err = s.Submit(context.Background(), Job{Prompt: make([]int32, 250), Params: p})
	var ce *ContextError
	if !errors.As(err, &ce) || ce.Over() != 4 || ce.Limit != 256 {
		t.Fatalf("oversized request: %v", err)
	}
	if _, err := s.Submit(context.Background(), Job{Prompt: []int32{1}, N: 2, Params: p}); err == nil {
		t.Fatal("n = 2 with a batch of 1 accepted")
	}
	if _, err := s.Submit(context.Background(), Job{Prompt: []int32{99}, Params: p}); err == nil {
		t.Fatal("token outside the vocabulary accepted")
	}
	// Run is not started: the queue fills.
	var hs []*Handle
	for i := 0; i < 2; i++ {
		h, err := s.Submit(context.Background(), Job{Prompt: []int32{1, 2}, Params: p})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if _, err := s.Submit(context.Background(), Job{Prompt: []int32{1}, Params: p}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third request on a queue of 2: %v", err)
	}
	s.Close()
	if _, err := s.Submit(context.Background(), Job{Prompt: []int32{1}, Params: p}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		if out, err := h.Wait(); err != nil || len(out) != 1 || len(out[0].Tokens) != 10 {
			t.Fatalf("queued request %d after drain: %v %+v", i, err, out)
		}
	}
}

// Scheduler.Generate (the Generator interface on a shared scheduler) gives
// Engine.Generate's samples, and Exclusive runs between requests with the
// model to itself: a weight change applies to every request after it.
func TestSchedulerGenerateAndExclusive(t *testing.T) {
	m := tinyModel(t, "qwen3")
	reqs := []Request{{Prompt: []int32{1, 2, 3, 4, 5}, N: 3}, {Prompt: []int32{6, 7}, N: 2}, {Prompt: []int32{8, 9, 10}, N: 1}}
	p := Params{Temperature: 0.9, TopP: 0.95, MaxNewTokens: 12, Seed: 3}
	want, err := (&Engine{Model: m, BlockSize: 4}).Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	s := startScheduler(t, SchedulerConfig{Model: m, BlockSize: 4, MaxBatch: 4, MaxTokens: 512})
	var g Generator = s
	got, err := g.Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameSamples(got, want); err != nil {
		t.Fatalf("Scheduler.Generate differs from Engine.Generate: %v", err)
	}
	// Swap in another model's weights.
	other := model.New(m.Config, dev, 7)
	err = s.Exclusive(context.Background(), func(m *model.Model) error {
		for i, p := range m.Params() {
			m.Dev.Copy(p.Var.Val, other.Params()[i].Var.Val)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantOther, err := (&Engine{Model: other, BlockSize: 4}).Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err = g.Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameSamples(got, wantOther); err != nil {
		t.Fatalf("after Exclusive swapped the weights the samples are not the new model's: %v", err)
	}
}

// A request that ends at its prefill — a budget of one token, or a stop
// token picked first — finishes there; the scheduler goes on serving the
// next one (it used to step the finished sequence and panic, taking the
// server down).
func TestSchedulerRequestEndingAtPrefill(t *testing.T) {
	m := tinyModel(t, "qwen2")
	s := startScheduler(t, SchedulerConfig{Model: m, BlockSize: 4, MaxBatch: 2, MaxTokens: 2 * 64})
	prompt := []int32{3, 5, 7, 9, 11}
	first, err := (&Engine{Model: m, BlockSize: 4}).Generate(context.Background(), []Request{{Prompt: prompt, N: 1}}, Params{Temperature: 0, TopP: 1, MaxNewTokens: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    Params
		want string
	}{
		{"one-token budget", Params{Temperature: 0, TopP: 1, MaxNewTokens: 1, Seed: 1}, "length"},
		{"stop token first", Params{Temperature: 0, TopP: 1, MaxNewTokens: 8, Seed: 1, StopIDs: []int32{first[0].Tokens[0]}}, "stop"},
		{"then a longer one", Params{Temperature: 0, TopP: 1, MaxNewTokens: 6, Seed: 1, StopIDs: []int32{-1}}, "length"},
	} {
		h, err := s.Submit(context.Background(), Job{Prompt: prompt, N: 2, Params: c.p})
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Wait()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, smp := range out {
			if smp.FinishReason != c.want {
				t.Errorf("%s: finish %q, want %q", c.name, smp.FinishReason, c.want)
			}
		}
	}
	if st := s.Stats(); st.FreeBlocks != st.TotalBlocks || st.Running != 0 {
		t.Fatalf("after the requests: %+v, want every block free", st)
	}
}
