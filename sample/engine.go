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
func (e *Engine) Generate(ctx context.Context, reqs []Request, p Params) ([]Sample, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	m := e.Model
	bs := e.BlockSize
	if bs <= 0 {
		bs = 16
	}
	maxBatch := e.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 64
	}
	longest := 0
	for i, r := range reqs {
		if len(r.Prompt) == 0 {
			return nil, fmt.Errorf("sample: request %d has an empty prompt", i)
		}
		// A request's samples share one prefill and so decode together:
		// the batch grows to hold the largest request.
		maxBatch = max(maxBatch, r.N)
		for _, t := range r.Prompt {
			if t < 0 || int(t) >= m.Config.VocabSize {
				return nil, fmt.Errorf("sample: request %d: token id %d outside the vocabulary [0,%d)", i, t, m.Config.VocabSize)
			}
		}
		longest = max(longest, len(r.Prompt)+p.MaxNewTokens)
	}
	if longest > m.Config.MaxPositions {
		return nil, fmt.Errorf("sample: prompt + max_new_tokens = %d tokens exceeds the model's max_position_embeddings %d", longest, m.Config.MaxPositions)
	}
	maxTokens := e.MaxTokens
	if maxTokens <= 0 {
		maxTokens = maxBatch * (longest + bs)
	}
	numBlocks := ceilDiv(maxTokens, bs)
	e.cache = m.NewKVCache(numBlocks, bs)
	defer func() {
		e.cache.Free(m.Dev)
		e.cache = nil
	}()
	pool := newBlockPool(e.cache.NumBlocks)
	maxBlocks := ceilDiv(longest, bs)

	var (
		active []*sequence
		done   []Sample
		next   int // next request to admit
	)
	stopIDs := map[int32]bool{}
	for _, id := range p.StopIDs {
		stopIDs[id] = true
	}
	probs := make([]float64, m.Config.VocabSize)

	// finish records a sample's end and frees its blocks.
	finish := func(s *sequence, reason string) {
		s.out.FinishReason = reason
		if e.Decode != nil {
			toks := s.out.Tokens
			if reason == "stop" && len(toks) > 0 && stopIDs[toks[len(toks)-1]] {
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
		pool.release(s.blocks)
		pool.reserved -= s.reserved
		done = append(done, s.out)
		if e.OnFinish != nil {
			e.OnFinish(&done[len(done)-1])
		}
	}

	// accept appends a sampled token and reports whether the sample ended.
	accept := func(s *sequence, tok int32, lp float32) bool {
		s.out.Tokens = append(s.out.Tokens, tok)
		s.out.LogProbs = append(s.out.LogProbs, lp)
		if e.OnToken != nil {
			e.OnToken(s.req, s.index, tok)
		}
		if stopIDs[tok] {
			finish(s, "stop")
			return true
		}
		if len(p.StopStrings) > 0 && e.Decode != nil {
			// Only the tail can complete a stop string: decode a window.
			tail := s.out.Tokens[max(0, len(s.out.Tokens)-32):]
			text := e.Decode(tail)
			for _, ss := range p.StopStrings {
				if strings.Contains(text, ss) {
					finish(s, "stop")
					return true
				}
			}
		}
		if len(s.out.Tokens) >= p.MaxNewTokens {
			finish(s, "length")
			return true
		}
		s.pending = tok
		return false
	}

	for next < len(reqs) || len(active) > 0 {
		if err := ctx.Err(); err != nil {
			return sortSamples(done), err
		}
		// Admit waiting requests while there is room.
		for next < len(reqs) {
			r := reqs[next]
			n := max(r.N, 1)
			promptBlocks := ceilDiv(len(r.Prompt), bs)
			perSample := ceilDiv(len(r.Prompt)+p.MaxNewTokens, bs) - len(r.Prompt)/bs
			need := promptBlocks + n*perSample
			if len(active)+n > maxBatch || need > pool.available() {
				if len(active) == 0 {
					return sortSamples(done), fmt.Errorf("sample: request %d needs %d KV blocks, the cache has %d", next, need, pool.available())
				}
				break
			}
			if err := e.prefill(next, r, n, p, pool, maxBlocks, probs, &active, accept); err != nil {
				return sortSamples(done), err
			}
			next++
		}
		// Drop finished sequences.
		live := active[:0]
		for _, s := range active {
			if s.out.FinishReason == "" {
				live = append(live, s)
			}
		}
		active = live
		if len(active) == 0 {
			continue
		}
		// One decode step for every active sequence.
		st := &model.Step{MaxBlocks: maxBlocks}
		for i, s := range active {
			if s.length%bs == 0 { // the next token opens a new block
				s.blocks = append(s.blocks, pool.alloc())
				s.reserved--
				pool.reserved--
			}
			st.IDs = append(st.IDs, s.pending)
			st.Positions = append(st.Positions, int32(s.length))
			st.Slots = append(st.Slots, s.blocks[s.length/bs]*int32(bs)+int32(s.length%bs))
			st.SeqIdx = append(st.SeqIdx, int32(i))
			st.BlockTable = append(st.BlockTable, padBlocks(s.blocks, maxBlocks)...)
			st.Rows = append(st.Rows, int32(i))
			s.length++
		}
		logits, err := m.Forward(st, e.cache)
		if err != nil {
			return sortSamples(done), err
		}
		vals := m.Dev.Download(logits)
		m.Dev.Free(logits)
		v := m.Config.VocabSize
		for i, s := range active {
			tok, lp := Pick(vals[i*v:(i+1)*v], &p, s.rng, probs)
			accept(s, tok, lp)
		}
	}
	return sortSamples(done), nil
}

// prefill runs a request's prompt once and forks its n samples.
func (e *Engine) prefill(ri int, r Request, n int, p Params, pool *blockPool, maxBlocks int, probs []float64,
	active *[]*sequence, accept func(*sequence, int32, float32) bool) error {
	m, bs := e.Model, e.cache.BlockSize
	L := len(r.Prompt)
	blocks := make([]int32, ceilDiv(L, bs))
	for i := range blocks {
		blocks[i] = pool.alloc()
	}
	st := &model.Step{MaxBlocks: maxBlocks, BlockTable: padBlocks(blocks, maxBlocks), Rows: []int32{int32(L - 1)}}
	for t, tok := range r.Prompt {
		st.IDs = append(st.IDs, tok)
		st.Positions = append(st.Positions, int32(t))
		st.Slots = append(st.Slots, blocks[t/bs]*int32(bs)+int32(t%bs))
		st.SeqIdx = append(st.SeqIdx, 0)
	}
	logits, err := m.Forward(st, e.cache)
	if err != nil {
		return fmt.Errorf("sample: request %d: %w", ri, err)
	}
	row := m.Dev.Download(logits)
	m.Dev.Free(logits)
	full := L / bs // blocks the samples can share read-only
	perSample := ceilDiv(L+p.MaxNewTokens, bs) - full
	for i := 0; i < n; i++ {
		s := &sequence{req: ri, index: i, length: L}
		s.out = Sample{Request: ri, Index: i, PromptTokens: L}
		s.rng = rand.New(rand.NewPCG(seedFor(p.Seed, r.Prompt, i)))
		s.blocks = append([]int32(nil), blocks[:full]...)
		for _, b := range blocks[:full] {
			pool.refs[b]++
		}
		if full < len(blocks) { // copy the partial last block for this sample
			nb := pool.alloc()
			var src, dst []int32
			for o := 0; o < L%bs; o++ {
				src = append(src, blocks[full]*int32(bs)+int32(o))
				dst = append(dst, nb*int32(bs)+int32(o))
			}
			srcT, dstT := m.Dev.UploadInt32(src, len(src)), m.Dev.UploadInt32(dst, len(dst))
			for l := range e.cache.K {
				m.Dev.CopySlots(e.cache.K[l], srcT, dstT)
				m.Dev.CopySlots(e.cache.V[l], srcT, dstT)
			}
			m.Dev.Free(dstT)
			m.Dev.Free(srcT)
			s.blocks = append(s.blocks, nb)
		}
		s.reserved = perSample - (len(s.blocks) - full)
		pool.reserved += s.reserved
		*active = append(*active, s)
		tok, lp := Pick(row, &p, s.rng, probs)
		accept(s, tok, lp)
	}
	pool.release(blocks) // the prefill's own references
	return nil
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
