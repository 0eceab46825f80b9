// Package sample generates completions: batched prefill and incremental
// decode over a paged KV cache, with temperature / top-k / top-p / min-p
// sampling and the per-token log-probs GRPO needs.
//
// Design (shared by the CPU and CUDA backends). The KV cache is a pool of
// fixed-size blocks (model.KVCache); each running sequence owns a block
// table, vLLM-style. Every engine step is one flattened forward pass over the
// new tokens of all sequences — a prompt's whole prefill, or one token per
// decoding sequence — so sequences of any length share a batch without
// padding. The G samples of a prompt are forked after a single prefill: they
// share the prompt's full blocks by reference count, and the partly filled
// last block is copied once per sample (copy-on-write). When a sequence
// finishes its blocks return to the pool and the next waiting prompt is
// admitted in the same loop (continuous batching); admission reserves the
// worst-case blocks a request can need, so a running sequence never has to
// be preempted. On the GPU the same tables drive the paged decode-attention
// kernel and a captured CUDA graph per batch-size bucket.
//
// Two engines share that core (batcher): Engine.Generate, a batch call
// that sizes and frees its cache per call (GRPO rollouts, eval, r1 sample),
// and Scheduler, a long-lived loop that concurrent requests join and leave
// with their own params and cancellation (r1 serve). Both implement
// Generator.
package sample

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// Request is one prompt to complete N times.
type Request struct {
	Prompt []int32
	// N samples of this prompt (GRPO's group size G); 0 means 1.
	N int
}

// Sample is one completion.
type Sample struct {
	Request int `json:"request"` // index into the requests
	Index   int `json:"index"`   // 0..N-1 within the request
	Tokens  []int32
	// LogProbs[i] is log softmax(logits/T)[Tokens[i]] at sampling time.
	LogProbs []float32
	// Text is the decoded completion (without a trailing stop token or
	// stop string); empty when the engine has no Decode function.
	Text         string
	FinishReason string // "stop" or "length"
	PromptTokens int
}

// Engine runs generation for one model.
type Engine struct {
	Model *model.Model
	// BlockSize is the number of token slots per KV block (16).
	BlockSize int
	// MaxBatch bounds the sequences decoding at once (default 64), raised
	// to the largest request's N, whose samples decode together.
	MaxBatch int
	// MaxTokens is the KV cache capacity in tokens (default: enough for
	// MaxBatch sequences of the longest request).
	MaxTokens int
	// KVCacheDType is the KV cache's storage (model.KVCacheDType): "" or
	// "auto" for the model's dtype, "bf16" for half the memory on the CPU.
	KVCacheDType string
	// Decode turns ids into text for Sample.Text and stop strings.
	Decode func(ids []int32) string
	// OnToken, when set, is called for every sampled token (streaming).
	OnToken func(request, index int, token int32)
	// OnFinish, when set, is called as each sample completes (progress).
	OnFinish func(s *Sample)
}

// Generator is what a trainer or an evaluator needs from a generation
// engine: complete every request, samples ordered by (request, index).
// Engine (a batch call that frees its cache on return) and Scheduler (a
// long-lived server engine that concurrent callers share) both implement
// it, so an RL trainer can roll out on either.
type Generator interface {
	Generate(ctx context.Context, reqs []Request, p Params) ([]Sample, error)
}

var (
	_ Generator = (*Engine)(nil)
	_ Generator = (*Scheduler)(nil)
)

// sequence is one sample being generated.
type sequence struct {
	j        *job
	index    int
	blocks   []int32 // cache blocks in order
	length   int     // tokens in the cache (prompt + generated so far)
	pending  int32   // sampled token not yet in the cache
	out      Sample
	rng      *rand.Rand
	reserved int // blocks reserved for this sequence's growth
}

// blockPool hands out cache blocks with reference counts.
type blockPool struct {
	free     []int32
	refs     []int
	reserved int
}

func newBlockPool(n int) *blockPool {
	p := &blockPool{refs: make([]int, n)}
	for i := n - 1; i >= 0; i-- {
		p.free = append(p.free, int32(i))
	}
	return p
}

func (p *blockPool) alloc() int32 {
	b := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.refs[b] = 1
	return b
}

func (p *blockPool) release(bs []int32) {
	for _, b := range bs {
		p.refs[b]--
		if p.refs[b] == 0 {
			p.free = append(p.free, b)
		}
	}
}

func (p *blockPool) available() int { return len(p.free) - p.reserved }

func (p *blockPool) total() int { return len(p.refs) }

// seedFor derives a sample's generator seed from the run seed, the prompt's
// tokens and the sample index — not from the prompt's place in the batch —
// so that the same prompt gives the same samples however it is batched.
func seedFor(seed uint64, prompt []int32, index int) (uint64, uint64) {
	h := fnv.New64a()
	var b [4]byte
	for _, t := range prompt {
		b[0], b[1], b[2], b[3] = byte(t), byte(t>>8), byte(t>>16), byte(t>>24)
		h.Write(b[:])
	}
	return seed ^ h.Sum64(), uint64(index)*0x9e3779b97f4a7c15 + 1
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Generate completes every request and returns the samples ordered by
// (request, index). It stops early with ctx's error, returning the samples
// finished so far. Every device tensor it allocates, the KV cache included,
// is freed before it returns: between calls (a GRPO update) the memory goes
// to training activations, the way RL trainers put an inference engine's
// cache to sleep. Only the model's own tensors (weights, RoPE tables) stay.
//
// It runs the scheduler's batcher synchronously over a cache sized for
// these requests: each loop turn admits waiting requests (prefilling them),
// retires the sequences that finished, and runs one decode step for the
// rest: one forward pass, then one picked token per sequence.
func (e *Engine) Generate(ctx context.Context, reqs []Request, p Params) ([]Sample, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	m := e.Model
	maxBatch := e.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 64
	}
	bs := e.BlockSize
	if bs <= 0 {
		bs = 16
	}
	longest := 0
	jobs := make([]*job, len(reqs))
	for i, q := range reqs {
		if err := checkPrompt(m, q.Prompt); err != nil {
			return nil, fmt.Errorf("sample: request %d: %w", i, err)
		}
		// A request's samples share one prefill and so decode together:
		// the batch grows to hold the largest request.
		maxBatch = max(maxBatch, q.N)
		longest = max(longest, len(q.Prompt)+p.MaxNewTokens)
		jobs[i] = newJob(&Job{Prompt: q.Prompt, N: q.N, Params: p}, i)
		jobs[i].onToken = func(index int, token int32, _ float32) {
			if e.OnToken != nil {
				e.OnToken(i, index, token)
			}
		}
	}
	if longest > m.Config.MaxPositions {
		return nil, fmt.Errorf("sample: prompt + max_new_tokens = %d tokens exceeds the model's max_position_embeddings %d", longest, m.Config.MaxPositions)
	}
	maxTokens := e.MaxTokens
	if maxTokens <= 0 {
		maxTokens = maxBatch * (longest + bs)
	}
	kvType, err := m.KVCacheDType(e.KVCacheDType)
	if err != nil {
		return nil, fmt.Errorf("sample: %w", err)
	}
	b := newBatcher(m, bs, maxBatch, ceilDiv(maxTokens, bs), ceilDiv(longest, bs), kvType, e.Decode)
	defer b.close()
	defer m.PackWeights()()
	var done []Sample
	b.onFinish = func(s *sequence) {
		done = append(done, s.out)
		if e.OnFinish != nil {
			e.OnFinish(&done[len(done)-1])
		}
	}
	next := 0
	for next < len(jobs) || len(b.active) > 0 {
		if err := ctx.Err(); err != nil {
			return sortSamples(done), err
		}
		// Admit in order while the batch and the cache have room, the
		// prompts prefilled together.
		for next < len(jobs) {
			if b.admit(jobs[next]) {
				next++
				continue
			}
			if len(b.staged) > 0 { // the prefill step is full: run it, then retry
				if failed, err := b.flush(); err != nil {
					return sortSamples(done), fmt.Errorf("sample: request %d: %w", failed[0].req, err)
				}
				continue
			}
			if len(b.active) == 0 {
				return sortSamples(done), fmt.Errorf("sample: request %d needs %d KV blocks, the cache has %d", next, b.need(jobs[next]), b.pool.available())
			}
			break
		}
		if failed, err := b.flush(); err != nil {
			return sortSamples(done), fmt.Errorf("sample: request %d: %w", failed[0].req, err)
		}
		b.retire()
		if len(b.active) == 0 {
			continue
		}
		if err := b.step(); err != nil {
			return sortSamples(done), err
		}
	}
	return sortSamples(done), nil
}

// checkPrompt checks a prompt's ids against the vocabulary.
func checkPrompt(m *model.Model, prompt []int32) error {
	if len(prompt) == 0 {
		return fmt.Errorf("empty prompt")
	}
	for _, t := range prompt {
		if t < 0 || int(t) >= m.Config.VocabSize {
			return fmt.Errorf("token id %d outside the vocabulary [0,%d)", t, m.Config.VocabSize)
		}
	}
	return nil
}

// job is a request inside the batcher: its prompt, samples and params.
type job struct {
	prompt   []int32
	n        int
	p        Params
	stopIDs  map[int32]bool
	req      int // Sample.Request
	onToken  func(index int, token int32, logprob float32)
	left     int           // samples not finished
	samples  []Sample      // finished, in finishing order
	finished chan struct{} // closed when left reaches 0 (Scheduler)
	handle   *Handle       // the Scheduler's handle; nil in Engine.Generate
}

func newJob(q *Job, req int) *job {
	j := &job{prompt: q.Prompt, n: max(q.N, 1), p: q.Params, req: req, stopIDs: map[int32]bool{}, onToken: q.OnToken}
	for _, id := range j.p.StopIDs {
		j.stopIDs[id] = true
	}
	j.left = j.n
	return j
}

// batcher is the continuous-batching core shared by Engine.Generate and
// Scheduler: the KV cache and its block pool, the running sequences, and
// the admit / retire / decode+pick steps. It is driven by one goroutine.
type batcher struct {
	m         *model.Model
	bs        int // slots per KV block
	maxBatch  int // sequences decoding at once
	maxBlocks int // block-table width: blocks of the longest sequence
	cache     *model.KVCache
	pool      *blockPool
	decodeFn  func(ids []int32) string
	probs     []float64   // Pick's scratch (V)
	scratch   [][]float64 // pickRows' scratch: one V-long buffer per goroutine
	active    []*sequence
	onFinish  func(s *sequence)
	// Jobs admitted but not yet prefilled (stage, flush).
	staged       []staged
	stagedSeqs   int // their samples
	stagedTokens int // their prompts' tokens
}

func newBatcher(m *model.Model, bs, maxBatch, numBlocks, maxBlocks int, kvType tensor.DType, decode func([]int32) string) *batcher {
	b := &batcher{m: m, bs: bs, maxBatch: maxBatch, maxBlocks: maxBlocks, decodeFn: decode}
	b.cache = m.NewKVCache(numBlocks, bs, kvType)
	b.pool = newBlockPool(numBlocks)
	b.probs = make([]float64, m.Config.VocabSize)
	return b
}

// close frees the KV cache.
func (b *batcher) close() {
	b.cache.Free(b.m.Dev)
	b.cache = nil
}

// need is the worst-case number of blocks a job's samples can use: the
// prompt's blocks (shared) plus each sample's growth.
func (b *batcher) need(j *job) int {
	L := len(j.prompt)
	perSample := ceilDiv(L+j.p.MaxNewTokens, b.bs) - L/b.bs
	return ceilDiv(L, b.bs) + j.n*perSample
}

// admit stages j for the next shared prefill (flush) if the batch and the
// cache have room for all its samples' worst-case growth and the prefill
// step has room for its prompt, and reports whether it did. Prompts share
// a prefill only when the model's rows are independent of each other
// (packed weights): otherwise each runs alone, so that no request's
// samples depend on the others'.
func (b *batcher) admit(j *job) bool {
	if len(b.active)+b.stagedSeqs+j.n > b.maxBatch || b.need(j) > b.pool.available() {
		return false
	}
	if len(b.staged) > 0 && (b.stagedTokens+len(j.prompt) > maxPrefillTokens || !b.m.WeightsPacked()) {
		return false
	}
	b.stage(j)
	return true
}

// retire drops finished sequences from the batch (finish already
// released their blocks).
func (b *batcher) retire() {
	live := b.active[:0]
	for _, s := range b.active {
		if s.out.FinishReason == "" {
			live = append(live, s)
		}
	}
	clear(b.active[len(live):])
	b.active = live
}

// cancel ends every active sample of j with finish reason "cancelled",
// returning its blocks to the pool at once.
func (b *batcher) cancel(j *job) {
	for _, s := range b.active {
		if s.j == j && s.out.FinishReason == "" {
			b.finish(s, "cancelled")
		}
	}
}

// step runs one decode step for every active sequence and picks each one's
// next token.
func (b *batcher) step() error {
	logits, err := b.decode()
	if err != nil {
		return err
	}
	// Rows are picked in parallel, then accepted in order (callbacks,
	// stop checks and finishing stay on this goroutine).
	n := len(b.active)
	ps, rngs := make([]*Params, n), make([]*rand.Rand, n)
	for i, s := range b.active {
		ps[i], rngs[i] = &s.j.p, s.rng
	}
	toks, lps := make([]int32, n), make([]float32, n)
	pickRows(logits, b.m.Config.VocabSize, ps, rngs, &b.scratch, toks, lps)
	for i, s := range b.active {
		b.accept(s, toks[i], lps[i])
	}
	return nil
}

// decode runs one step for every active sequence: each feeds its pending
// token (opening a new block when the last is full) and gets logits
// (len(active)·V) for the next one.
func (b *batcher) decode() ([]float32, error) {
	bs := b.bs
	st := &model.Step{MaxBlocks: b.maxBlocks}
	for i, s := range b.active {
		if s.length%bs == 0 { // the next token opens a new block
			s.blocks = append(s.blocks, b.pool.alloc())
			s.reserved--
			b.pool.reserved--
		}
		st.IDs = append(st.IDs, s.pending)
		st.Positions = append(st.Positions, int32(s.length))
		st.Slots = append(st.Slots, s.blocks[s.length/bs]*int32(bs)+int32(s.length%bs))
		st.SeqIdx = append(st.SeqIdx, int32(i))
		st.BlockTable = append(st.BlockTable, padBlocks(s.blocks, b.maxBlocks)...)
		st.Rows = append(st.Rows, int32(i))
		s.length++
	}
	logits, err := b.m.Forward(st, b.cache)
	if err != nil {
		return nil, err
	}
	vals := b.m.Dev.Download(logits)
	b.m.Dev.Free(logits)
	return vals, nil
}

// maxPrefillTokens bounds the prompt tokens of one shared prefill step: a
// product of that many rows already runs at the GEMM's full speed, and the
// step's activations stay small (a longer prompt runs alone).
const maxPrefillTokens = 2048

// staged is an admitted job waiting for the shared prefill step (flush):
// its prompt's blocks, and the blocks held back for its samples' growth.
type staged struct {
	j       *job
	blocks  []int32
	reserve int
}

// stage takes j's prompt blocks and holds back the rest of what its
// samples can use, for the next flush.
func (b *batcher) stage(j *job) {
	L := len(j.prompt)
	blocks := make([]int32, ceilDiv(L, b.bs))
	for i := range blocks {
		blocks[i] = b.pool.alloc()
	}
	reserve := b.need(j) - len(blocks)
	b.pool.reserved += reserve
	b.staged = append(b.staged, staged{j: j, blocks: blocks, reserve: reserve})
	b.stagedSeqs += j.n
	b.stagedTokens += L
}

// flush prefills the staged jobs' prompts in one forward step (each
// sequence attends to its own cache blocks) and forks their samples. On an
// error it returns the jobs it could not start, their blocks released.
func (b *batcher) flush() ([]*job, error) {
	if len(b.staged) == 0 {
		return nil, nil
	}
	all := b.staged
	b.staged, b.stagedSeqs, b.stagedTokens = nil, 0, 0
	m, bs := b.m, int32(b.bs)
	st := &model.Step{MaxBlocks: b.maxBlocks}
	for i, sj := range all {
		st.BlockTable = append(st.BlockTable, padBlocks(sj.blocks, b.maxBlocks)...)
		for t, tok := range sj.j.prompt {
			st.IDs = append(st.IDs, tok)
			st.Positions = append(st.Positions, int32(t))
			st.Slots = append(st.Slots, sj.blocks[int32(t)/bs]*bs+int32(t)%bs)
			st.SeqIdx = append(st.SeqIdx, int32(i))
		}
		st.Rows = append(st.Rows, int32(len(st.IDs)-1))
	}
	for _, sj := range all {
		b.pool.reserved -= sj.reserve
	}
	logits, err := m.Forward(st, b.cache)
	if err != nil {
		jobs := make([]*job, len(all))
		for i, sj := range all {
			b.pool.release(sj.blocks)
			jobs[i] = sj.j
		}
		return jobs, err
	}
	rows := m.Dev.Download(logits) // (R,V)
	m.Dev.Free(logits)
	V := m.Config.VocabSize
	for i, sj := range all {
		b.fork(sj.j, sj.blocks, rows[i*V:(i+1)*V])
	}
	return nil, nil
}

// fork starts a prefilled job's n samples: they share the prompt's full
// blocks, each gets a copy of the partly filled last one, and each picks
// its first token from the prompt's last logits (row).
func (b *batcher) fork(j *job, blocks []int32, row []float32) {
	pool, bs := b.pool, b.bs
	L := len(j.prompt)
	full := L / bs // blocks the samples can share read-only
	perSample := ceilDiv(L+j.p.MaxNewTokens, bs) - full
	for i := 0; i < j.n; i++ {
		s := &sequence{j: j, index: i, length: L}
		s.out = Sample{Request: j.req, Index: i, PromptTokens: L}
		s.rng = rand.New(rand.NewPCG(seedFor(j.p.Seed, j.prompt, i)))
		s.blocks = append([]int32(nil), blocks[:full]...)
		for _, bl := range blocks[:full] {
			pool.refs[bl]++
		}
		if full < len(blocks) { // copy the partial last block for this sample
			s.blocks = append(s.blocks, b.copyBlock(blocks[full], L%bs))
		}
		s.reserved = perSample - (len(s.blocks) - full)
		pool.reserved += s.reserved
		// A sample can end with its first token (a one-token budget, a
		// stop token): it never joins the batch the decode steps run.
		if tok, lp := Pick(row, &j.p, s.rng, b.probs); !b.accept(s, tok, lp) {
			b.active = append(b.active, s)
		}
	}
	pool.release(blocks) // the prefill's own references
}

// copyBlock copies the first n slots of block src into a new block, in
// every layer's cache (copy-on-write of a shared partial block), and
// returns the new block.
func (b *batcher) copyBlock(src int32, n int) int32 {
	m, bs, cache := b.m, int32(b.bs), b.cache
	nb := b.pool.alloc()
	var from, to []int32
	for o := int32(0); o < int32(n); o++ {
		from = append(from, src*bs+o)
		to = append(to, nb*bs+o)
	}
	srcT, dstT := m.Dev.UploadInt32(from, len(from)), m.Dev.UploadInt32(to, len(to))
	for l := range cache.K {
		m.Dev.CopySlots(cache.K[l], srcT, dstT)
		m.Dev.CopySlots(cache.V[l], srcT, dstT)
	}
	m.Dev.Free(dstT)
	m.Dev.Free(srcT)
	return nb
}

// accept appends a sampled token and reports whether the sample ended
// (a stop token or string, or max_new_tokens); otherwise the token is
// pending, fed to the next decode step.
func (b *batcher) accept(s *sequence, tok int32, lp float32) bool {
	j := s.j
	p := &j.p
	s.out.Tokens = append(s.out.Tokens, tok)
	s.out.LogProbs = append(s.out.LogProbs, lp)
	if j.onToken != nil {
		j.onToken(s.index, tok, lp)
	}
	if j.stopIDs[tok] {
		b.finish(s, "stop")
		return true
	}
	if len(p.StopStrings) > 0 && b.decodeFn != nil {
		// Only the tail can complete a stop string: decode a window.
		tail := s.out.Tokens[max(0, len(s.out.Tokens)-32):]
		text := b.decodeFn(tail)
		for _, ss := range p.StopStrings {
			if strings.Contains(text, ss) {
				b.finish(s, "stop")
				return true
			}
		}
	}
	if len(s.out.Tokens) >= p.MaxNewTokens {
		b.finish(s, "length")
		return true
	}
	s.pending = tok
	return false
}

// finish records a sample's end (its text, cut at a stop string) and
// frees its blocks and its reservation.
func (b *batcher) finish(s *sequence, reason string) {
	j := s.j
	p := &j.p
	s.out.FinishReason = reason
	if b.decodeFn != nil {
		toks := s.out.Tokens
		if reason == "stop" && len(toks) > 0 && j.stopIDs[toks[len(toks)-1]] {
			toks = toks[:len(toks)-1]
		}
		s.out.Text = b.decodeFn(toks)
		if reason == "stop" {
			for _, ss := range p.StopStrings {
				if i := strings.Index(s.out.Text, ss); i >= 0 {
					if p.IncludeStopString {
						i += len(ss)
					}
					s.out.Text = s.out.Text[:i]
					break
				}
			}
		}
	}
	b.pool.release(s.blocks)
	s.blocks = nil
	b.pool.reserved -= s.reserved
	s.reserved = 0
	j.left--
	if b.onFinish != nil {
		b.onFinish(s)
	}
}

func padBlocks(b []int32, n int) []int32 {
	out := make([]int32, n)
	copy(out, b)
	return out
}

func sortSamples(s []Sample) []Sample {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Request != s[j].Request {
			return s[i].Request < s[j].Request
		}
		return s[i].Index < s[j].Index
	})
	return s
}
