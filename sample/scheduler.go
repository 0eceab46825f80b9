package sample

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/r1go/r1/model"
)

// Scheduler is a long-lived continuous-batching engine that concurrent
// callers share: requests join (Submit) whenever the batch and the KV cache
// have room and leave as soon as they finish or are cancelled, each with
// its own sampling params, stop strings, token budget and seed. One
// goroutine (Run) owns the model and the cache; Submit and the handles are
// safe for concurrent use. A request's samples are the ones Engine.Generate
// gives for the same prompt and params, whatever else is in the batch (the
// per-sample generators are seeded from the request's own seed and prompt).
type Scheduler struct {
	m        *model.Model
	b        *batcher
	maxQueue int
	maxLen   int // prompt + max_new_tokens limit (context length)

	mu       sync.Mutex
	waiting  []*Handle
	barriers []*barrier
	closing  bool
	wake     chan struct{} // a buffered nudge for the loop
	stats    Stats
	nextID   int
	runDone  chan struct{}
	runStart sync.Once
}

// SchedulerConfig sizes a Scheduler.
type SchedulerConfig struct {
	Model *model.Model
	// BlockSize is the number of token slots per KV block (16).
	BlockSize int
	// MaxBatch bounds the sequences decoding at once (default 64).
	MaxBatch int
	// MaxTokens is the KV cache capacity in tokens (default MaxBatch ×
	// 512, at most MaxBatch × the context length).
	MaxTokens int
	// MaxQueue bounds the requests waiting for admission; Submit returns
	// ErrQueueFull beyond it (default 256).
	MaxQueue int
	// KVCacheDType is the KV cache's storage (model.KVCacheDType): "" or
	// "auto" for the model's dtype, "bf16" for half the memory on the CPU.
	KVCacheDType string
	// Decode turns ids into text for Sample.Text and stop strings.
	Decode func(ids []int32) string
}

// Job is one request to a Scheduler.
type Job struct {
	Prompt []int32
	// N samples of this prompt, decoded together after one prefill (0 = 1).
	N      int
	Params Params
	// OnToken, when set, is called from the scheduler's goroutine for every
	// sampled token (streaming); it must not block for long.
	OnToken func(index int, token int32, logprob float32)
}

// Stats is a snapshot of the scheduler's load.
type Stats struct {
	Waiting     int // requests queued for admission
	Running     int // sequences decoding
	FreeBlocks  int // KV blocks neither used nor reserved
	TotalBlocks int
	Steps       int64 // decode steps run
	Tokens      int64 // tokens sampled
}

var (
	// ErrQueueFull is Submit's answer when MaxQueue requests are waiting.
	ErrQueueFull = errors.New("sample: the request queue is full")
	// ErrClosed is Submit's answer after Close.
	ErrClosed = errors.New("sample: the scheduler is shut down")
)

// ContextError is a request that cannot fit the context: prompt plus
// max_new_tokens exceeds the limit by Over tokens.
type ContextError struct {
	Prompt, MaxNew, Limit int
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("this request needs %d tokens (%d in the prompt + %d max new tokens) but the context holds %d: %d too many",
		e.Prompt+e.MaxNew, e.Prompt, e.MaxNew, e.Limit, e.Over())
}

// Over is by how many tokens the request exceeds the context.
func (e *ContextError) Over() int { return e.Prompt + e.MaxNew - e.Limit }

// Handle is a submitted request: Wait for its samples, or Cancel it.
type Handle struct {
	j    *job
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
	err  error
}

// barrier is work that needs the model to itself (a weight swap): the loop
// stops admitting, lets the running sequences finish, then runs fn.
type barrier struct {
	fn   func(m *model.Model) error
	err  error
	done chan struct{}
}

// NewScheduler allocates the KV cache; Run serves requests and Close (or
// cancelling Run's context) ends it and frees the cache.
func NewScheduler(c SchedulerConfig) (*Scheduler, error) {
	m := c.Model
	bs, maxBatch, maxQueue := c.BlockSize, c.MaxBatch, c.MaxQueue
	if bs <= 0 {
		bs = 16
	}
	if maxBatch <= 0 {
		maxBatch = 64
	}
	if maxQueue <= 0 {
		maxQueue = 256
	}
	ctxLen := m.Config.MaxPositions
	maxTokens := c.MaxTokens
	if maxTokens <= 0 {
		maxTokens = maxBatch * min(512, ctxLen)
	}
	// One sequence may use the whole context, unless the cache is smaller.
	maxLen := min(ctxLen, maxTokens)
	// One spare block per sequence: a request's samples each copy the
	// prompt's partly filled last block (copy-on-write), so a sequence of
	// maxLen tokens can need one block beyond maxLen/bs.
	numBlocks := ceilDiv(maxTokens, bs) + maxBatch
	s := &Scheduler{m: m, maxQueue: maxQueue, maxLen: maxLen, wake: make(chan struct{}, 1), runDone: make(chan struct{})}
	kvType, err := m.KVCacheDType(c.KVCacheDType)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	s.b = newBatcher(m, bs, maxBatch, numBlocks, ceilDiv(maxLen, bs), kvType, c.Decode)
	s.b.onFinish = s.finished
	s.stats.FreeBlocks, s.stats.TotalBlocks = s.b.pool.available(), numBlocks
	return s, nil
}

// MaxLen is the most tokens (prompt + max_new_tokens) one request may use.
func (s *Scheduler) MaxLen() int { return s.maxLen }

// MaxBatch is the most sequences decoding at once (a request's n at most).
func (s *Scheduler) MaxBatch() int { return s.b.maxBatch }

// Model is the model the scheduler runs (its weights change only inside
// Exclusive).
func (s *Scheduler) Model() *model.Model { return s.m }

// Submit queues a request. It fails at once, without queueing, with a
// *ContextError when the request cannot fit the context, ErrQueueFull when
// the queue is full, and ErrClosed after Close. ctx cancels the request:
// its sequences leave the batch and free their KV blocks before the next
// decode step.
func (s *Scheduler) Submit(ctx context.Context, q Job) (*Handle, error) {
	return s.submit(ctx, q, true)
}

// submit queues q; bounded applies MaxQueue (Generate's batch of requests
// is queued whole).
func (s *Scheduler) submit(ctx context.Context, q Job, bounded bool) (*Handle, error) {
	if err := q.Params.Validate(); err != nil {
		return nil, err
	}
	if err := checkPrompt(s.m, q.Prompt); err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	if n := len(q.Prompt) + q.Params.MaxNewTokens; n > s.maxLen {
		return nil, &ContextError{Prompt: len(q.Prompt), MaxNew: q.Params.MaxNewTokens, Limit: s.maxLen}
	}
	if max(q.N, 1) > s.b.maxBatch {
		return nil, fmt.Errorf("sample: n = %d samples exceed the batch of %d sequences", q.N, s.b.maxBatch)
	}
	j := newJob(&q, 0)
	if need := s.b.need(j); need > s.b.pool.total() {
		return nil, fmt.Errorf("sample: %d samples of %d tokens need %d KV blocks, the cache has %d", j.n, len(q.Prompt)+q.Params.MaxNewTokens, need, s.b.pool.total())
	}
	if ctx == nil {
		ctx = context.Background()
	}
	h := &Handle{j: j, done: make(chan struct{})}
	h.ctx, h.stop = context.WithCancel(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, ErrClosed
	case bounded && len(s.waiting) >= s.maxQueue:
		return nil, ErrQueueFull
	}
	s.nextID++
	j.req = s.nextID
	s.waiting = append(s.waiting, h)
	s.stats.Waiting = len(s.waiting)
	s.nudge()
	// Wake the loop when the request is cancelled, so that its blocks are
	// freed even while the loop is idle waiting for work.
	context.AfterFunc(h.ctx, s.nudge)
	return h, nil
}

// nudge wakes the loop without blocking.
func (s *Scheduler) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Cancel ends the request: waiting, it never runs; running, its sequences
// leave the batch and free their blocks before the next step.
func (h *Handle) Cancel() { h.stop() }

// Done is closed when every sample has finished (or was cancelled).
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait returns the request's samples ordered by index, once all are done.
// Cancelled samples have finish reason "cancelled"; err is the context's
// error when the request was cancelled, or the engine's.
func (h *Handle) Wait() ([]Sample, error) {
	<-h.done
	return sortSamples(h.j.samples), h.err
}

// finished is the batcher's callback (loop goroutine): it keeps the sample
// and completes the handle when its last sample is done.
func (s *Scheduler) finished(seq *sequence) {
	j := seq.j
	j.samples = append(j.samples, seq.out)
	// Stats are current when the handle completes: a caller that reads
	// them after Wait sees this sample neither running nor holding blocks.
	running := 0
	for _, q := range s.b.active {
		if q.out.FinishReason == "" {
			running++
		}
	}
	s.mu.Lock()
	s.stats.FreeBlocks = s.b.pool.available()
	s.stats.Running = running
	s.mu.Unlock()
	if j.left == 0 && j.finished != nil {
		close(j.finished)
		j.handle.stop() // release the request's context
	}
}

// Exclusive runs fn with the model to itself, between requests: the loop
// stops admitting, lets the running sequences finish, runs fn, and goes on
// with the queue. A weight swap (POST /v1/load_weights) goes through here.
func (s *Scheduler) Exclusive(ctx context.Context, fn func(m *model.Model) error) error {
	b := &barrier{fn: fn, done: make(chan struct{})}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.barriers = append(s.barriers, b)
	s.mu.Unlock()
	s.nudge()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		// fn may still run; the caller stops waiting for it.
		return ctx.Err()
	}
}

// Stats is a snapshot of the load, updated after every step.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close stops accepting requests; Run finishes the queued and running ones
// (draining), frees the cache and returns.
func (s *Scheduler) Close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.nudge()
}

// Generate submits every request with params p and waits for all: the
// Generator interface over a shared scheduler (Run must be running).
// Sample.Request is the index into reqs.
func (s *Scheduler) Generate(ctx context.Context, reqs []Request, p Params) ([]Sample, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := make([]*Handle, 0, len(reqs))
	var firstErr error
	for i, q := range reqs {
		h, err := s.submit(ctx, Job{Prompt: q.Prompt, N: q.N, Params: p}, false)
		if err != nil {
			firstErr = fmt.Errorf("sample: request %d: %w", i, err)
			cancel()
			break
		}
		hs = append(hs, h)
	}
	var out []Sample
	for i, h := range hs {
		ss, err := h.Wait()
		for _, x := range ss {
			if x.FinishReason == "cancelled" {
				continue
			}
			x.Request = i
			out = append(out, x)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// Run is the scheduler's loop; call it once, in its own goroutine. It
// returns nil after Close once every queued request has finished, or ctx's
// error after cancelling everything when ctx ends. Either way the cache is
// freed and every handle completed.
func (s *Scheduler) Run(ctx context.Context) error {
	defer close(s.runDone)
	defer s.b.close()
	// Weights stay packed while the loop runs, but not across exclusive
	// work: a weight swap must not leave stale packed copies.
	unpack := s.m.PackWeights()
	defer func() { unpack() }()
	for {
		if err := ctx.Err(); err != nil {
			s.abort(err)
			return err
		}
		s.cancelled()
		// Retire before admitting: finished sequences give their batch
		// slots to waiting requests in the same turn.
		s.b.retire()
		s.admit()
		s.publish()
		if len(s.b.active) == 0 {
			if s.runBarriers(&unpack) {
				continue
			}
			s.mu.Lock()
			idle, closing := len(s.waiting) == 0, s.closing
			s.mu.Unlock()
			if idle && closing {
				return nil
			}
			select {
			case <-s.wake:
			case <-ctx.Done():
			}
			continue
		}
		if err := s.b.step(); err != nil {
			s.abort(err)
			return err
		}
		s.mu.Lock()
		s.stats.Steps++
		s.stats.Tokens += int64(len(s.b.active))
		s.mu.Unlock()
	}
}

// Wait blocks until Run has returned.
func (s *Scheduler) Wait() { <-s.runDone }

// cancelled ends running requests whose context is done, freeing their
// blocks, and drops cancelled requests from the queue.
func (s *Scheduler) cancelled() {
	for _, seq := range s.b.active {
		h := seq.j.handle
		if seq.out.FinishReason == "" && h != nil && h.ctx.Err() != nil {
			h.err = h.ctx.Err()
			s.b.cancel(seq.j)
		}
	}
	s.mu.Lock()
	live := s.waiting[:0]
	var gone []*Handle
	for _, h := range s.waiting {
		if h.ctx.Err() != nil {
			gone = append(gone, h)
		} else {
			live = append(live, h)
		}
	}
	clear(s.waiting[len(live):])
	s.waiting = live
	s.mu.Unlock()
	for _, h := range gone {
		h.err = h.ctx.Err()
		h.stop()
		close(h.done)
	}
}

// admit prefills queued requests in order while they fit, together in
// shared prefill steps; none is admitted while a barrier waits for the
// batch to drain.
func (s *Scheduler) admit() {
	for {
		s.mu.Lock()
		if len(s.waiting) == 0 || len(s.barriers) > 0 {
			s.mu.Unlock()
			break
		}
		h := s.waiting[0]
		s.mu.Unlock()
		h.j.handle = h
		h.j.finished = h.done
		if !s.b.admit(h.j) {
			if len(s.b.staged) == 0 {
				break
			}
			s.flush() // the prefill step is full: run it, then retry
			continue
		}
		s.mu.Lock()
		s.waiting = s.waiting[1:]
		s.mu.Unlock()
	}
	s.flush()
}

// flush runs the staged prefill; requests it could not start end with
// its error.
func (s *Scheduler) flush() {
	failed, err := s.b.flush()
	for _, j := range failed {
		h := j.handle
		h.err = err
		s.b.cancel(j)
		if j.left > 0 {
			close(h.done)
		}
	}
}

// runBarriers runs the pending exclusive work (the batch is empty) and
// reports whether there was any. The weights are unpacked around it (the
// work may change them) and packed again after, through *unpack.
func (s *Scheduler) runBarriers(unpack *func()) bool {
	s.mu.Lock()
	bs := s.barriers
	s.barriers = nil
	s.mu.Unlock()
	if len(bs) == 0 {
		return false
	}
	(*unpack)()
	for _, b := range bs {
		b.err = b.fn(s.m)
		close(b.done)
	}
	*unpack = s.m.PackWeights()
	return true
}

// abort ends every request with err (the loop is stopping).
func (s *Scheduler) abort(err error) {
	for _, seq := range s.b.active {
		if h := seq.j.handle; h != nil && h.err == nil {
			h.err = err
		}
		if seq.out.FinishReason == "" {
			s.b.finish(seq, "cancelled")
		}
	}
	s.b.retire()
	s.mu.Lock()
	s.closing = true
	waiting, barriers := s.waiting, s.barriers
	s.waiting, s.barriers = nil, nil
	s.mu.Unlock()
	for _, h := range waiting {
		h.err = err
		close(h.done)
	}
	for _, b := range barriers {
		b.err = err
		close(b.done)
	}
	s.publish()
}

// publish updates the stats snapshot.
func (s *Scheduler) publish() {
	s.mu.Lock()
	s.stats.Waiting = len(s.waiting)
	s.stats.Running = len(s.b.active)
	s.stats.FreeBlocks = s.b.pool.available()
	s.mu.Unlock()
}
