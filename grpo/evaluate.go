package grpo

import (
	"context"
	"fmt"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
)

// EvalResult summarises a policy on held-out problems.
type EvalResult struct {
	Accuracy   float64 `json:"accuracy"`    // share with the accuracy reward ≥ 1
	FormatRate float64 `json:"format_rate"` // share with the format reward ≥ 1
	MeanLength float64 `json:"mean_length"` // completion tokens
	N          int     `json:"n"`
}

// Evaluate generates one greedy completion per row with the current policy
// (same template, tokenizer, stop ids and max_new_tokens as training) and
// scores it with the training rewards.
func (t *Trainer) Evaluate(ctx context.Context, rows []Row) (EvalResult, error) {
	c := t.Config
	var tmpl *chat.Template
	var err error
	if c.Data.Template == "chat" {
		if tmpl, err = chat.FromTokenizerConfig(c.Model); err != nil {
			return EvalResult{}, err
		}
	}
	reqs := make([]sample.Request, len(rows))
	texts := make([]string, len(rows))
	for i, r := range rows {
		if texts[i], err = RenderPrompt(c.Data.Template, r.Input, tmpl); err != nil {
			return EvalResult{}, fmt.Errorf("eval row %d: %w", i+1, err)
		}
		reqs[i] = sample.Request{Prompt: toInt32s(t.Tok.Encode(texts[i], true)), N: 1}
	}
	p := sample.Params{Temperature: 0, TopP: 1, MaxNewTokens: c.Sampling.MaxNewTokens, StopIDs: t.stopIDs,
		StopStrings: c.Sampling.StopStrings, IncludeStopString: true, Seed: c.Seed}
	out, err := t.engine.Generate(ctx, reqs, p)
	if err != nil {
		return EvalResult{}, err
	}
	rs := make([]reward.Sample, len(out))
	var length float64
	for i, s := range out {
		rs[i] = reward.Sample{Prompt: texts[s.Request], Completion: s.Text, Fields: rows[s.Request].Fields,
			Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
		length += float64(len(s.Tokens))
	}
	res := t.scorer.Score(ctx, rs)
	ev := EvalResult{N: len(out), MeanLength: length / float64(max(1, len(out)))}
	acc, fmtIdx := indexOf(res.Labels, c.AccuracyReward), indexOf(res.Labels, c.FormatReward)
	for i := range out {
		if acc >= 0 && res.Scores[i][acc].Value >= 1 {
			ev.Accuracy++
		}
		if fmtIdx >= 0 && res.Scores[i][fmtIdx].Value >= 1 {
			ev.FormatRate++
		}
	}
	ev.Accuracy /= float64(max(1, len(out)))
	ev.FormatRate /= float64(max(1, len(out)))
	return ev, nil
}
