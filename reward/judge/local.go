package judge

import (
	"context"
	"sync"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

// localAsker asks a local model, greedily, all questions in one batch.
type localAsker struct {
	mu   sync.Mutex // one batch at a time on the engine
	eng  *sample.Engine
	tok  *tokenizer.Tokenizer
	tmpl *chat.Template // nil: the question is the prompt as is
	p    sample.Params
}

func newLocalAsker(dir string, maxTokens int) (*localAsker, error) {
	m, err := model.Load(dir, cpu.New())
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	a := &localAsker{tok: tok, p: sample.Params{Temperature: 0, TopP: 1, MaxNewTokens: maxTokens, StopIDs: model.StopIDs(dir, m.Config, tok.EOS)}}
	if t, err := chat.FromTokenizerConfig(dir); err == nil && t.Source != "" {
		a.tmpl = t
	}
	a.eng = &sample.Engine{Model: m, MaxBatch: 16, Decode: func(ids []int32) string { return tok.Decode(ids, true) }}
	return a, nil
}

func (a *localAsker) Ask(ctx context.Context, qs []string) ([]string, []error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	replies, errs := make([]string, len(qs)), make([]error, len(qs))
	reqs := make([]sample.Request, len(qs))
	for i, q := range qs {
		text := q
		if a.tmpl != nil {
			if t, err := chat.Prompt("chat", chat.PromptInput{Question: q}, a.tmpl); err == nil {
				text = t
			}
		}
		reqs[i] = sample.Request{Prompt: a.tok.Encode(text, true), N: 1}
	}
	res, err := a.eng.Generate(ctx, reqs, a.p)
	for i := range qs {
		errs[i] = err
	}
	for _, s := range res {
		replies[s.Request] = s.Text
		if err == nil {
			errs[s.Request] = nil
		}
	}
	return replies, errs
}
