package grpo

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sync"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
)

// EvalResult summarises a policy on held-out problems.
type EvalResult struct {
	Accuracy   float64 `json:"accuracy"`    // share of samples the dataset's judge finds correct (pass@1 over K samples)
	FormatRate float64 `json:"format_rate"` // share of samples with the format reward ≥ 1
	MeanLength float64 `json:"mean_length"` // completion tokens
	// ReflectionRate is the share of samples with reflection words ("wait",
	// "let me check", … see HasReflection): the R1 paper's "aha" behaviour.
	ReflectionRate float64 `json:"reflection_rate"`
	N              int     `json:"n"` // problems
	K              int     `json:"k"` // samples per problem
}

// EvalSampling is how Evaluate samples: the R1 paper evaluates pass@1 as the
// mean correctness of k samples at temperature 0.6, top-p 0.95.
type EvalSampling struct {
	Temperature, TopP float64
	K                 int
	Seed              uint64
}

// DefaultEvalSampling is the R1 paper's evaluation setting with k = 4.
func DefaultEvalSampling() EvalSampling {
	return EvalSampling{Temperature: 0.6, TopP: 0.95, K: 4, Seed: 12345}
}

// Evaluate samples K completions per row with the current policy (same
// template, tokenizer, stop ids and max_new_tokens as training). Accuracy
// is decided by each row's judge (package data: the same correctness r1
// eval reports), the format rate by the run's format reward. The seed is
// fixed, so evaluating the same weights twice gives the same numbers.
func (t *Trainer) Evaluate(ctx context.Context, rows []data.Example, es EvalSampling) (EvalResult, error) {
	c := t.Config
	judges, err := data.NewJudges(data.TasksOf(rows), judgeParams(c.Rewards))
	if err != nil {
		return EvalResult{}, fmt.Errorf("eval: %w", err)
	}
	var tmpl *chat.Template
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
		reqs[i] = sample.Request{Prompt: t.Tok.Encode(texts[i], true), N: max(1, es.K)}
	}
	p := sample.Params{Temperature: es.Temperature, TopP: es.TopP, MaxNewTokens: c.Sampling.MaxNewTokens, StopIDs: t.stopIDs,
		StopStrings: c.Sampling.StopStrings, IncludeStopString: true, Seed: es.Seed}
	if p.TopP == 0 {
		p.TopP = 1
	}
	out, err := t.engine.Generate(ctx, reqs, p)
	if err != nil {
		return EvalResult{}, err
	}
	rs := make([]reward.Sample, len(out))
	reqOf := make([]int, len(out))
	var length, reflections float64
	for i, s := range out {
		rs[i] = reward.Sample{Prompt: texts[s.Request], Completion: s.Text, Fields: rows[s.Request].Fields,
			Truncated: s.FinishReason == "length", Tokens: len(s.Tokens)}
		reqOf[i] = s.Request
		length += float64(len(s.Tokens))
		if HasReflection(s.Text) {
			reflections++
		}
	}
	var kinds []string
	if t.routes != nil {
		kinds = kindsOf(rows, reqOf)
	}
	res := t.score(ctx, rs, kinds)
	ev := EvalResult{N: len(rows), K: max(1, es.K), MeanLength: length / float64(max(1, len(out)))}
	ev.Accuracy = float64(t.correct(ctx, judges, rows, reqOf, rs, res))
	if ctx.Err() != nil {
		// Checks cut short would count as wrong answers.
		return EvalResult{}, ctx.Err()
	}
	// Accuracy and the format rate are over the samples of reasoning rows
	// (general prompts have no judge and no format reward).
	judged := 0
	for i := range out {
		if rows[reqOf[i]].Kind() == data.KindGeneral {
			continue
		}
		judged++
		if fmtIdx := indexOf(res.Labels, c.FormatReward); fmtIdx >= 0 && res.Scores[i][fmtIdx].Value >= 1 {
			ev.FormatRate++
		}
	}
	ev.Accuracy /= float64(max(1, judged))
	ev.FormatRate /= float64(max(1, judged))
	ev.ReflectionRate = reflections / float64(max(1, len(out)))
	return ev, nil
}

// correct counts the samples judged correct; sample i answers
// rows[reqOf[i]] and scored res.Scores[i]. Where a reward the run scores
// is the row's judge (judgedBy) its score is the verdict; the other
// samples go to the judges. (A code reward runs programs: judging them a
// second time doubled the sandbox work of a step and of an evaluation.)
func (t *Trainer) correct(ctx context.Context, judges data.Judges, rows []data.Example, reqOf []int, rs []reward.Sample, res reward.Result) int {
	n := 0
	var restReq []int
	var rest []reward.Sample
	for i, r := range reqOf {
		if rows[r].Task == data.TaskGeneral {
			continue // no judge: reward models score general prompts
		}
		if label, ok := t.judgedBy[rows[r].Task]; ok {
			if res.Scores[i][indexOf(res.Labels, label)].Value >= 1-1e-9 { // data.Judge's rule
				n++
			}
			continue
		}
		restReq, rest = append(restReq, r), append(rest, rs[i])
	}
	for _, ok := range judge(ctx, judges, rows, restReq, rest) {
		if ok {
			n++
		}
	}
	return n
}

// judgedBy maps each task whose judge the run's rewards include — the
// reward of the task's name with the judge's params (jp) — to that
// reward's label.
func judgedBy(rc reward.Config, jp map[data.Task]map[string]any) map[data.Task]string {
	out := map[data.Task]string{}
	for _, sp := range rc.Rewards {
		task := data.Task(sp.Name)
		switch task {
		case data.TaskMath, data.TaskCountdown, data.TaskCode:
		default:
			continue
		}
		if _, seen := out[task]; seen {
			continue
		}
		if len(sp.Params) == 0 && len(jp[task]) == 0 || reflect.DeepEqual(sp.Params, jp[task]) {
			out[task] = sp.L()
		}
	}
	return out
}

// judge checks every sample against its row with a pool of workers (code
// runs programs, so checking can take as long as sampling); reqOf[i] is
// sample i's row.
func judge(ctx context.Context, judges data.Judges, rows []data.Example, reqOf []int, rs []reward.Sample) []bool {
	correct := make([]bool, len(rs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(rs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := rs[i]
				v := judges.Check(ctx, rows[reqOf[i]], data.Attempt{Prompt: s.Prompt, Completion: s.Completion,
					Truncated: s.Truncated, Tokens: s.Tokens})
				correct[i] = v.Correct
			}
		}()
	}
	for i := range rs {
		next <- i
	}
	close(next)
	wg.Wait()
	return correct
}

// judgeParams are the judges' reward parameters: the code reward's from the
// run's reward config, since they say how to run programs (sandbox,
// interpreter, limits), not what counts as correct. Every other judge
// keeps its reward's defaults, which define correctness.
func judgeParams(rc reward.Config) map[data.Task]map[string]any {
	for _, s := range rc.Rewards {
		if s.Name == string(data.TaskCode) {
			return map[data.Task]map[string]any{data.TaskCode: s.Params}
		}
	}
	return nil
}
