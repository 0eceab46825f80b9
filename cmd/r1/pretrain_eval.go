package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

// evalBase samples R1-Zero completions for held-out problems and prints,
// per task, the fraction in <think>/<answer> format (the strict "format"
// reward), the accuracy (each problem's judge from package data, as r1
// zero and r1 eval decide it) and the mean completion length; samples go
// to base_samples.jsonl.
func evalBase(ctx context.Context, stdout io.Writer, m *model.Model, tok *tokenizer.Tokenizer, out string, n, k int, seed uint64) error {
	eng := &sample.Engine{Model: m, Decode: func(ids []int32) string { return tok.Decode(ids, true) }}
	judges, err := data.NewJudges([]data.Task{data.TaskMath, data.TaskCountdown}, nil)
	if err != nil {
		return err
	}
	formatReward, err := reward.New("format", nil)
	if err != nil {
		return err
	}
	type rec struct {
		Kind       data.Kind `json:"kind"`
		Problem    string    `json:"problem"`
		Completion string    `json:"completion"`
		Format     bool      `json:"format"`
		Correct    bool      `json:"correct"`
	}
	var recs []rec
	for _, kind := range data.Kinds {
		ps, err := data.SyntheticProblems(kind, n, seed)
		if err != nil {
			return err
		}
		reqs := make([]sample.Request, len(ps))
		exs := make([]data.Example, len(ps))
		prompts := make([]string, len(ps))
		for i, p := range ps {
			exs[i] = p.Example()
			if prompts[i], err = chat.Prompt("r1-zero", exs[i].Input, nil); err != nil {
				return err
			}
			reqs[i].Prompt = tok.Encode(prompts[i], false)
			reqs[i].N = k
		}
		samples, err := eng.Generate(ctx, reqs, sample.Params{Temperature: 1, TopP: 1, MaxNewTokens: 200,
			StopIDs: []int32{int32(tok.EOS)}, Seed: seed})
		if err != nil {
			return err
		}
		var nf, nc, length int
		var byLevel [data.MaxDifficulty + 1][2]int // samples, correct
		for _, s := range samples {
			p := ps[s.Request]
			at := data.Attempt{Prompt: prompts[s.Request], Completion: s.Text, Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
			c := judges.Check(ctx, exs[s.Request], at).Correct
			fs, err := formatReward.Score(ctx, reward.Sample{Prompt: at.Prompt, Completion: at.Completion, Truncated: at.Truncated,
				Tokens: at.Tokens})
			f := err == nil && fs.Value >= 1
			nf += b2i(f)
			nc += b2i(c)
			length += len(s.Tokens)
			if p.Difficulty >= 0 && p.Difficulty <= data.MaxDifficulty {
				byLevel[p.Difficulty][0]++
				byLevel[p.Difficulty][1] += b2i(c)
			}
			recs = append(recs, rec{kind, p.Problem, s.Text, f, c})
		}
		tot := math.Max(1, float64(len(samples)))
		var levels strings.Builder
		for d, l := range byLevel {
			if l[0] > 0 {
				fmt.Fprintf(&levels, " d%d %.3f", d, float64(l[1])/float64(l[0]))
			}
		}
		fmt.Fprintf(stdout, "eval %-10s problems %d samples %d format %.3f accuracy %.3f (by difficulty:%s) mean_len %.1f\n",
			kind, len(ps), len(samples), float64(nf)/tot, float64(nc)/tot, levels.String(), float64(length)/tot)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Kind < recs[j].Kind })
	return data.WriteJSONLFile(filepath.Join(out, "base_samples.jsonl"), recs)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
