// Package distill is rejection sampling and distillation (DeepSeek-R1
// §2.3.3 and §2.4): a teacher answers prompts (Generate: a local model
// through r1's sampler, or any OpenAI-compatible endpoint), filters keep
// the good answers (package filter), and SFT trains a student on them
// (package sft, on the one training core). Logit distillation (forward KL,
// reverse KL, generalised JSD) is a loss on the same core.
package distill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

// Prompt is one problem to ask the teacher.
type Prompt struct {
	Index   int
	Example data.Example
	// Question is the user message of the SFT row (and of a chat
	// endpoint's request).
	Question string
}

// Sample is one answer of a teacher.
type Sample struct {
	Prompt, Index int
	// Conditioned is the exact text a local teacher was conditioned on
	// ("" for an endpoint, which applies its own template).
	Conditioned string
	// Response is the answer with its reasoning in a think block, as the
	// SFT row's assistant turn carries it: "<think>\nr\n</think>\n\nsummary"
	// (the bare text when the teacher wrote no reasoning).
	Response     string
	FinishReason string
	// Tokens is the response's length in the teacher's tokens (0: unknown).
	Tokens int
	// Seed is the sample's own seed where the teacher takes one.
	Seed uint64
}

// Teacher answers prompts.
type Teacher interface {
	// Provenance describes the teacher and its sampling settings; it is
	// written into every row.
	Provenance() map[string]any
	// Generate answers each prompt n times, skipping the samples done
	// says are done, and calls emit (never concurrently) with each sample
	// as it finishes. An emit error stops it.
	Generate(ctx context.Context, prompts []Prompt, n int, done func(prompt, sample int) bool, emit func(Sample) error) error
}

// response builds a Sample's Response from a reasoning and a summary.
func response(reasoning, summary string) string {
	reasoning, summary = strings.TrimSpace(reasoning), strings.TrimSpace(summary)
	if reasoning == "" {
		return summary
	}
	return chat.FormatReasoning(reasoning, summary)
}

// Local is a teacher on r1's own sampler: a local checkpoint or the
// built-in model.
type Local struct {
	Name     string // the model directory, for provenance
	Engine   *sample.Engine
	Tok      *tokenizer.Tokenizer
	Params   sample.Params
	Template string         // r1 prompt format: r1-zero, chat, plain
	Chat     *chat.Template // the model's chat template (for "chat")
}

// Provenance implements Teacher.
func (l *Local) Provenance() map[string]any {
	return map[string]any{"model": l.Name, "template": l.Template, "temperature": l.Params.Temperature, "top_p": l.Params.TopP,
		"top_k": l.Params.TopK, "max_new_tokens": l.Params.MaxNewTokens, "seed": l.Params.Seed}
}

// Generate implements Teacher. A prompt with any sample missing is
// sampled whole (the engine seeds each sample by its prompt and index, so
// the samples already done come out the same and are not emitted again).
func (l *Local) Generate(ctx context.Context, prompts []Prompt, n int, done func(int, int) bool, emit func(Sample) error) error {
	var reqs []sample.Request
	var reqPrompt []int
	texts := make([]string, len(prompts))
	for i, p := range prompts {
		missing := false
		for s := range n {
			missing = missing || !done(i, s)
		}
		if !missing {
			continue
		}
		t, err := chat.Prompt(l.Template, p.Example.Input, l.Chat)
		if err != nil {
			return fmt.Errorf("prompt %d: %w", i, err)
		}
		ids := l.Tok.Encode(t, true)
		if len(ids) == 0 {
			return fmt.Errorf("prompt %d is empty after tokenization", i)
		}
		texts[i] = t
		reqs = append(reqs, sample.Request{Prompt: ids, N: n})
		reqPrompt = append(reqPrompt, i)
	}
	if len(reqs) == 0 {
		return nil
	}
	var mu sync.Mutex
	var emitErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.Engine.OnFinish = func(s *sample.Sample) {
		mu.Lock()
		defer mu.Unlock()
		pi := reqPrompt[s.Request]
		if emitErr != nil || done(pi, s.Index) {
			return
		}
		// The prompt may have opened the think block (r1-zero's
		// "Assistant: <think>"): score and store the text as if the
		// model had written the tag.
		full := reward.FullCompletion(reward.Sample{Prompt: texts[pi], Completion: s.Text})
		resp := full
		if r, sum, ok := chat.ParseReasoning(full); ok {
			resp = response(r, sum)
		}
		if err := emit(Sample{Prompt: pi, Index: s.Index, Conditioned: texts[pi], Response: resp, FinishReason: s.FinishReason,
			Tokens: len(s.Tokens), Seed: l.Params.Seed}); err != nil {
			emitErr = err
			cancel()
		}
	}
	defer func() { l.Engine.OnFinish = nil }()
	_, err := l.Engine.Generate(ctx, reqs, l.Params)
	if emitErr != nil {
		return emitErr
	}
	return err
}

// Remote is a teacher behind an OpenAI-compatible endpoint. Each sample is
// its own request (n = 1, seed = Seed + prompt × n + sample), so the
// client's concurrency is filled by samples of many prompts and resume is
// per sample.
type Remote struct {
	Client      *openai.Client
	System      string // optional system message
	Temperature float64
	TopP        float64
	MaxTokens   int
	Seed        uint64
}

// Provenance implements Teacher.
func (r *Remote) Provenance() map[string]any {
	c := r.Client.Config()
	return map[string]any{"url": c.URL, "model": c.Model, "temperature": r.Temperature, "top_p": r.TopP,
		"max_tokens": r.MaxTokens, "seed": r.Seed}
}

// Generate implements Teacher. Failed requests (after the client's
// retries) do not stop the others; the first error is returned at the end
// with how many failed, and a rerun with resume asks only for those.
func (r *Remote) Generate(ctx context.Context, prompts []Prompt, n int, done func(int, int) bool, emit func(Sample) error) error {
	type job struct{ p, s int }
	jobs := make(chan job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr, emitErr error
	failed := 0
	var wg sync.WaitGroup
	// Twice the client's slots: a worker is ready the moment a reply frees one.
	for range 2 * r.Client.Config().Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				seed := r.Seed + uint64(j.p*n+j.s)
				s, err := r.one(ctx, prompts[j.p], seed)
				mu.Lock()
				switch {
				case err != nil:
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("prompt %d sample %d: %w", j.p, j.s, err)
					}
				case emitErr == nil:
					s.Prompt, s.Index = j.p, j.s
					if emitErr = emit(s); emitErr != nil {
						cancel()
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range prompts {
		for s := range n {
			if done(i, s) {
				continue
			}
			select {
			case jobs <- job{i, s}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	switch {
	case emitErr != nil:
		return emitErr
	case ctx.Err() != nil && !errors.Is(firstErr, ctx.Err()):
		return ctx.Err()
	case firstErr != nil:
		return fmt.Errorf("%d requests failed; first: %w", failed, firstErr)
	}
	return nil
}

func (r *Remote) one(ctx context.Context, p Prompt, seed uint64) (Sample, error) {
	var msgs []openai.Message
	if r.System != "" {
		msgs = append(msgs, openai.Message{Role: "system", Content: r.System})
	}
	msgs = append(msgs, openai.Message{Role: "user", Content: p.Question})
	temp, topP, sd := r.Temperature, r.TopP, int64(seed&(1<<62-1))
	resp, err := r.Client.Chat(ctx, openai.Request{Messages: msgs, Temperature: &temp, TopP: &topP, MaxTokens: r.MaxTokens, Seed: &sd})
	if err != nil {
		return Sample{}, err
	}
	ch := resp.Choices[0]
	return Sample{Response: response(ch.Reasoning, ch.Content), FinishReason: ch.FinishReason, Tokens: resp.CompletionTokens, Seed: seed}, nil
}

// LoadLocal loads a local teacher: the model and tokenizer in dir on dev,
// sampling with p (its stop ids filled in from the model), at most batch
// sequences at once, prompts built with the r1 prompt format template.
func LoadLocal(dir string, dev tensor.Backend, p sample.Params, template string, batch int) (*Local, error) {
	m, err := model.Load(dir, dev)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	var tmpl *chat.Template
	if template == "chat" {
		if tmpl, err = chat.FromTokenizerConfig(dir); err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
	}
	if _, err := chat.LookupPrompt(template); err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	p.StopIDs = model.StopIDs(dir, m.Config, tok.EOS)
	p.IncludeStopString = true
	eng := &sample.Engine{Model: m, MaxBatch: batch, Decode: func(ids []int32) string { return tok.Decode(ids, true) }}
	return &Local{Name: dir, Engine: eng, Tok: tok, Params: p, Template: template, Chat: tmpl}, nil
}
