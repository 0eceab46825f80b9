package eval

import (
	"context"
	"fmt"

	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

// ModelGenerator generates with r1's batched sampler.
type ModelGenerator struct {
	Engine    *sample.Engine
	Tokenizer *tokenizer.Tokenizer
	Params    sample.Params
	// AddSpecial adds the tokenizer's BOS/EOS around prompts. Chat
	// templates write their own special tokens, so the chat format leaves
	// it off, as apply_chat_template does.
	AddSpecial bool
}

// Generate implements Generator. max_new_tokens is capped so that prompt
// plus completion fit the model's context window.
func (g *ModelGenerator) Generate(ctx context.Context, prompts []string, n int, onSample func()) ([][]Completion, error) {
	e := g.Engine
	if e.Decode == nil {
		tok := g.Tokenizer
		e.Decode = func(ids []int32) string { return tok.Decode(ids, true) }
	}
	reqs := make([]sample.Request, len(prompts))
	longest := 0
	for i, p := range prompts {
		ids := g.Tokenizer.Encode(p, g.AddSpecial)
		if len(ids) == 0 {
			return nil, fmt.Errorf("prompt %d encodes to no tokens", i)
		}
		vocab := e.Model.Config.VocabSize
		for _, id := range ids {
			if id < 0 || int(id) >= vocab {
				return nil, fmt.Errorf("prompt %d: token id %d is outside the model's vocabulary (vocab_size %d); is the tokenizer the model's?", i, id, vocab)
			}
		}
		reqs[i] = sample.Request{Prompt: ids, N: n}
		longest = max(longest, len(ids))
	}
	params := g.Params
	if ctxLen := e.Model.Config.MaxPositions; ctxLen > 0 && longest+params.MaxNewTokens > ctxLen {
		params.MaxNewTokens = ctxLen - longest
		if params.MaxNewTokens <= 0 {
			return nil, fmt.Errorf("a prompt is %d tokens, the model's context (max_position_embeddings) is %d: no room to generate", longest, ctxLen)
		}
	}
	prev := e.OnFinish
	e.OnFinish = func(s *sample.Sample) {
		if onSample != nil {
			onSample()
		}
		if prev != nil {
			prev(s)
		}
	}
	defer func() { e.OnFinish = prev }()
	samples, err := e.Generate(ctx, reqs, params)
	if err != nil {
		return nil, err
	}
	out := make([][]Completion, len(prompts))
	for i := range out {
		out[i] = make([]Completion, n)
	}
	for _, s := range samples {
		if s.Request < 0 || s.Request >= len(out) || s.Index < 0 || s.Index >= n {
			return nil, fmt.Errorf("sampler returned sample (%d, %d) outside %d prompts × %d", s.Request, s.Index, len(out), n)
		}
		out[s.Request][s.Index] = Completion{Text: s.Text, FinishReason: s.FinishReason, Tokens: len(s.Tokens)}
	}
	if len(samples) != len(prompts)*n {
		return nil, fmt.Errorf("sampler returned %d samples, expected %d", len(samples), len(prompts)*n)
	}
	return out, nil
}
