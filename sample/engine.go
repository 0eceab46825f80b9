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
package sample

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/r1go/r1/model"
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
	// Decode turns ids into text for Sample.Text and stop strings.
	Decode func(ids []int32) string
	// OnToken, when set, is called for every sampled token (streaming).
	OnToken func(request, index int, token int32)
	// OnFinish, when set, is called as each sample completes (progress).
	OnFinish func(s *Sample)

	cache *model.KVCache // the running call's; nil between calls
}

// sequence is one sample being generated.
type sequence struct {
	req, index int
	blocks     []int32 // cache blocks in order
	length     int     // tokens in the cache (prompt + generated so far)
	pending    int32   // sampled token not yet in the cache
	out        Sample
	rng        *rand.Rand
	reserved   int // blocks reserved for this sequence's growth
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
// Each loop turn admits waiting requests (prefilling them), retires the
// sequences that finished, and runs one decode step for the rest: one
// forward pass, then one picked token per sequence.
func (e *Engine) Generate(ctx context.Context, reqs []Request, p Params) ([]Sample, error) {
	r, err := e.start(reqs, p)
	if err != nil {
		return nil, err
	}
	defer r.close()
	for r.next < len(reqs) || len(r.active) > 0 {
		if err := ctx.Err(); err != nil {
			return sortSamples(r.done), err
		}
		if err := r.admit(); err != nil {
			return sortSamples(r.done), err
		}
		r.retire()
		if len(r.active) == 0 {
			continue
		}
		logits, err := r.decode()
		if err != nil {
			return sortSamples(r.done), err
		}
		r.pick(logits)
	}
	return sortSamples(r.done), nil
}

// run is the state of one Generate call.
type run struct {
	e         *Engine
	m         *model.Model
	reqs      []Request
	p         Params
	bs        int // slots per KV block
	maxBatch  int // sequences decoding at once
	maxBlocks int // block-table width: blocks of the longest sequence
	pool      *blockPool
	stopIDs   map[int32]bool
	probs     []float64   // Pick's scratch (V)
	scratch   [][]float64 // pickRows' scratch: one V-long buffer per goroutine

	active []*sequence // sequences decoding, in admission order
	done   []Sample
	next   int // next request to admit
}

// start validates the requests, sizes the batch and the KV cache from the
// longest request, and allocates the cache (freed by close).
func (e *Engine) start(reqs []Request, p Params) (*run, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	m := e.Model
	r := &run{e: e, m: m, reqs: reqs, p: p, bs: e.BlockSize, maxBatch: e.MaxBatch}
	if r.bs <= 0 {
		r.bs = 16
	}
	if r.maxBatch <= 0 {
		r.maxBatch = 64
	}
	longest := 0
	for i, q := range reqs {
		if len(q.Prompt) == 0 {
			return nil, fmt.Errorf("sample: request %d has an empty prompt", i)
		}
		// A request's samples share one prefill and so decode together:
		// the batch grows to hold the largest request.
		r.maxBatch = max(r.maxBatch, q.N)
		for _, t := range q.Prompt {
			if t < 0 || int(t) >= m.Config.VocabSize {
				return nil, fmt.Errorf("sample: request %d: token id %d outside the vocabulary [0,%d)", i, t, m.Config.VocabSize)
			}
		}
		longest = max(longest, len(q.Prompt)+p.MaxNewTokens)
	}
	if longest > m.Config.MaxPositions {
		return nil, fmt.Errorf("sample: prompt + max_new_tokens = %d tokens exceeds the model's max_position_embeddings %d", longest, m.Config.MaxPositions)
	}
	maxTokens := e.MaxTokens
	if maxTokens <= 0 {
		maxTokens = r.maxBatch * (longest + r.bs)
	}
	e.cache = m.NewKVCache(ceilDiv(maxTokens, r.bs), r.bs)
	r.pool = newBlockPool(e.cache.NumBlocks)
	r.maxBlocks = ceilDiv(longest, r.bs)
	r.stopIDs = map[int32]bool{}
	for _, id := range p.StopIDs {
		r.stopIDs[id] = true
	}
	r.probs = make([]float64, m.Config.VocabSize)
	return r, nil
}

// close frees the KV cache.
func (r *run) close() {
	r.e.cache.Free(r.m.Dev)
	r.e.cache = nil
}

// admit prefills waiting requests, in order, while the batch and the
// cache have room for all their samples' worst-case growth.
func (r *run) admit() error {
	for r.next < len(r.reqs) {
		q := r.reqs[r.next]
		n := max(q.N, 1)
		promptBlocks := ceilDiv(len(q.Prompt), r.bs)
		perSample := ceilDiv(len(q.Prompt)+r.p.MaxNewTokens, r.bs) - len(q.Prompt)/r.bs
		need := promptBlocks + n*perSample
		if len(r.active)+n > r.maxBatch || need > r.pool.available() {
			if len(r.active) == 0 {
				return fmt.Errorf("sample: request %d needs %d KV blocks, the cache has %d", r.next, need, r.pool.available())
			}
			return nil
		}
		if err := r.prefill(r.next, q, n); err != nil {
			return err
		}
		r.next++
	}
	return nil
}

// retire drops finished sequences from the batch (finish already
// released their blocks).
func (r *run) retire() {
	live := r.active[:0]
	for _, s := range r.active {
		if s.out.FinishReason == "" {
			live = append(live, s)
		}
	}
	r.active = live
}

// decode runs one step for every active sequence: each feeds its pending
// token (opening a new block when the last is full) and gets logits
// (len(active)·V) for the next one.
func (r *run) decode() ([]float32, error) {
	bs := r.bs
	st := &model.Step{MaxBlocks: r.maxBlocks}
	for i, s := range r.active {
		if s.length%bs == 0 { // the next token opens a new block
			s.blocks = append(s.blocks, r.pool.alloc())
			s.reserved--
			r.pool.reserved--
		}
		st.IDs = append(st.IDs, s.pending)
		st.Positions = append(st.Positions, int32(s.length))
		st.Slots = append(st.Slots, s.blocks[s.length/bs]*int32(bs)+int32(s.length%bs))
		st.SeqIdx = append(st.SeqIdx, int32(i))
		st.BlockTable = append(st.BlockTable, padBlocks(s.blocks, r.maxBlocks)...)
		st.Rows = append(st.Rows, int32(i))
		s.length++
	}
	logits, err := r.m.Forward(st, r.e.cache)
	if err != nil {
		return nil, err
	}
	vals := r.m.Dev.Download(logits)
	r.m.Dev.Free(logits)
	return vals, nil
}

// pick samples each active sequence's next token from its row of logits.
func (r *run) pick(logits []float32) {
	// Rows are picked in parallel, then accepted in order (callbacks,
	// stop checks and finishing stay on this goroutine).
	n := len(r.active)
	rngs := make([]*rand.Rand, n)
	for i, s := range r.active {
		rngs[i] = s.rng
	}
	toks, lps := make([]int32, n), make([]float32, n)
	pickRows(logits, r.m.Config.VocabSize, &r.p, rngs, &r.scratch, toks, lps)
	for i, s := range r.active {
		r.accept(s, toks[i], lps[i])
	}
}

// prefill runs a request's prompt once and forks its n samples: they share
// the prompt's full blocks, each gets a copy of the partly filled last one,
// and each picks its first token from the prompt's last logits.
func (r *run) prefill(ri int, q Request, n int) error {
	m, bs, pool := r.m, r.bs, r.pool
	L := len(q.Prompt)
	blocks := make([]int32, ceilDiv(L, bs))
	for i := range blocks {
		blocks[i] = pool.alloc()
	}
	st := &model.Step{MaxBlocks: r.maxBlocks, BlockTable: padBlocks(blocks, r.maxBlocks), Rows: []int32{int32(L - 1)}}
	for t, tok := range q.Prompt {
		st.IDs = append(st.IDs, tok)
		st.Positions = append(st.Positions, int32(t))
		st.Slots = append(st.Slots, blocks[t/bs]*int32(bs)+int32(t%bs))
		st.SeqIdx = append(st.SeqIdx, 0)
	}
	logits, err := m.Forward(st, r.e.cache)
	if err != nil {
		return fmt.Errorf("sample: request %d: %w", ri, err)
	}
	row := m.Dev.Download(logits)
	m.Dev.Free(logits)
	full := L / bs // blocks the samples can share read-only
	perSample := ceilDiv(L+r.p.MaxNewTokens, bs) - full
	for i := 0; i < n; i++ {
		s := &sequence{req: ri, index: i, length: L}
		s.out = Sample{Request: ri, Index: i, PromptTokens: L}
		s.rng = rand.New(rand.NewPCG(seedFor(r.p.Seed, q.Prompt, i)))
		s.blocks = append([]int32(nil), blocks[:full]...)
		for _, b := range blocks[:full] {
			pool.refs[b]++
		}
		if full < len(blocks) { // copy the partial last block for this sample
			s.blocks = append(s.blocks, r.copyBlock(blocks[full], L%bs))
		}
		s.reserved = perSample - (len(s.blocks) - full)
		pool.reserved += s.reserved
		r.active = append(r.active, s)
		tok, lp := Pick(row, &r.p, s.rng, r.probs)
		r.accept(s, tok, lp)
	}
	pool.release(blocks) // the prefill's own references
	return nil
}

// copyBlock copies the first n slots of block src into a new block, in
// every layer's cache (copy-on-write of a shared partial block), and
// returns the new block.
func (r *run) copyBlock(src int32, n int) int32 {
	m, bs, cache := r.m, int32(r.bs), r.e.cache
	nb := r.pool.alloc()
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
func (r *run) accept(s *sequence, tok int32, lp float32) bool {
	e, p := r.e, &r.p
	s.out.Tokens = append(s.out.Tokens, tok)
	s.out.LogProbs = append(s.out.LogProbs, lp)
	if e.OnToken != nil {
		e.OnToken(s.req, s.index, tok)
	}
	if r.stopIDs[tok] {
		r.finish(s, "stop")
		return true
	}
	if len(p.StopStrings) > 0 && e.Decode != nil {
		// Only the tail can complete a stop string: decode a window.
		tail := s.out.Tokens[max(0, len(s.out.Tokens)-32):]
		text := e.Decode(tail)
		for _, ss := range p.StopStrings {
			if strings.Contains(text, ss) {
				r.finish(s, "stop")
				return true
			}
		}
	}
	if len(s.out.Tokens) >= p.MaxNewTokens {
		r.finish(s, "length")
		return true
	}
	s.pending = tok
	return false
}

// finish records a sample's end (its text, cut at a stop string) and
// frees its blocks and its reservation.
func (r *run) finish(s *sequence, reason string) {
	e, p := r.e, &r.p
	s.out.FinishReason = reason
	if e.Decode != nil {
		toks := s.out.Tokens
		if reason == "stop" && len(toks) > 0 && r.stopIDs[toks[len(toks)-1]] {
			toks = toks[:len(toks)-1]
		}
		s.out.Text = e.Decode(toks)
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
	r.pool.release(s.blocks)
	r.pool.reserved -= s.reserved
	r.done = append(r.done, s.out)
	if e.OnFinish != nil {
		e.OnFinish(&r.done[len(r.done)-1])
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
