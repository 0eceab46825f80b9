// Package judge is a generative reward, registered as "judge": a model
// (an OpenAI-compatible endpoint, or a local checkpoint on r1's sampler)
// is asked to grade each response with a rubric, and its verdict is
// parsed into a score in [0, 1]. DeepSeek-R1 used such a judge for the
// stage-3 data that rules cannot check.
//
// Params:
//   - url, model: the endpoint's API base and model name; or model_dir: a
//     local model directory (or "builtin:tiny" is not accepted: pass a
//     path) sampled greedily with r1's engine, its chat template applied
//     when it has one.
//   - api_key_env (default OPENAI_API_KEY), concurrency (8), timeout_s (60),
//     retries (2), max_tokens (512): the endpoint's client.
//   - rubric: the question put to the judge, with {prompt}, {response} and
//     {answer} (the row's gold "answer", "" when none) filled in; the
//     default asks for a line "SCORE: N" with N from 0 to max_score.
//   - max_score (default 10): the scale; the score is N / max_score,
//     clipped to [0, 1].
//   - scope: "summary" (default: the text after the reasoning, as R1 judged
//     the final answer) or "full" (the whole response).
//
// Verdicts are cached by the SHA-256 of (rubric-filled prompt): the same
// prompt and response are never asked twice. A failed or timed-out
// request, or a verdict without a score, scores 0 with Score.Err set and
// is counted (Stats); it never fails the batch, so training goes on.
package judge

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/internal/retry"
	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/reward"
)

func init() {
	reward.Register("judge", func(p map[string]any) (reward.Func, error) { return New(p) })
}

// DefaultRubric asks for a graded verdict on a stated scale.
const DefaultRubric = `You are grading an answer to a question.

Question:
{prompt}

Reference answer (may be empty):
{answer}

Answer to grade:
{response}

Judge whether the answer is correct, complete and clearly stated. Explain briefly, then end with a line of the form
SCORE: N
where N is an integer from 0 (wrong or unusable) to 10 (correct and clear).`

// Asker puts questions to a judge model and returns its replies in order;
// errs[i] is set when question i got no reply.
type Asker interface {
	Ask(ctx context.Context, questions []string) (replies []string, errs []error)
}

// Stats count a judge's work.
type Stats struct {
	Asked, CacheHits, Failures, Unparsed int64
}

// Judge is the judge reward.
type Judge struct {
	ask      Asker
	rubric   string
	maxScore float64
	summary  bool
	limit    time.Duration
	mu       sync.Mutex
	cache    map[[32]byte]float64
	stats    Stats
}

// New builds the reward from params (see the package documentation).
func New(params map[string]any) (*Judge, error) {
	p := reward.NewParams(params)
	j := &Judge{cache: map[[32]byte]float64{}}
	var err error
	get := func(key, def string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = p.String(key, def)
		return s
	}
	url, name, dir, keyEnv := get("url", ""), get("model", ""), get("model_dir", ""), get("api_key_env", "OPENAI_API_KEY")
	j.rubric = get("rubric", DefaultRubric)
	scope := get("scope", "summary")
	if err != nil {
		return nil, err
	}
	conc, err := p.Int("concurrency", 8)
	if err != nil {
		return nil, err
	}
	retries, err := p.Int("retries", 2)
	if err != nil {
		return nil, err
	}
	maxTokens, err := p.Int("max_tokens", 512)
	if err != nil {
		return nil, err
	}
	ts, err := p.Float("timeout_s", 60)
	if err != nil {
		return nil, err
	}
	if j.maxScore, err = p.Float("max_score", 10); err != nil {
		return nil, err
	}
	if err := p.Done(); err != nil {
		return nil, err
	}
	switch {
	case !(j.maxScore > 0):
		return nil, fmt.Errorf(`param "max_score": expected > 0, got %v`, j.maxScore)
	case !(ts > 0):
		return nil, fmt.Errorf(`param "timeout_s": expected > 0, got %v`, ts)
	case retries < 0 || conc < 1 || maxTokens < 1:
		return nil, fmt.Errorf(`params "retries" %d, "concurrency" %d, "max_tokens" %d: expected retries ≥ 0, the others ≥ 1`, retries, conc, maxTokens)
	case !strings.Contains(j.rubric, "{response}"):
		return nil, fmt.Errorf(`param "rubric": it must contain {response} (the answer to grade)`)
	}
	switch scope {
	case "summary":
		j.summary = true
	case "full":
	default:
		return nil, fmt.Errorf(`param "scope": expected summary or full, got %q`, scope)
	}
	timeout := time.Duration(ts * float64(time.Second))
	switch {
	case url != "" && dir != "":
		return nil, fmt.Errorf(`params "url" and "model_dir": give one judge, not both`)
	case url != "":
		if name == "" {
			return nil, fmt.Errorf(`param "model": the endpoint's model name is required with "url"`)
		}
		r := retries
		if r == 0 {
			r = -1 // openai.Config: 0 is its default, negative none
		}
		c, err := openai.New(openai.Config{URL: url, Model: name, APIKeyEnv: keyEnv, Concurrency: conc, Timeout: timeout, Retries: r})
		if err != nil {
			return nil, fmt.Errorf(`param "url": %w`, err)
		}
		j.ask = &remoteAsker{client: c, maxTokens: maxTokens}
		// One question may wait behind a full client and then retry.
		j.limit = 2*retry.Policy{Retries: retries, Backoff: c.Config().Backoff}.Worst(timeout) + time.Second
	case dir != "":
		a, err := newLocalAsker(dir, maxTokens)
		if err != nil {
			return nil, fmt.Errorf(`param "model_dir": %w`, err)
		}
		j.ask = a
		j.limit = timeout
	default:
		return nil, fmt.Errorf(`params: give "url" and "model" (an OpenAI-compatible judge) or "model_dir" (a local one)`)
	}
	return j, nil
}

// NewWith builds a judge on any Asker (tests, other engines).
func NewWith(a Asker, rubric string, maxScore float64, summary bool) *Judge {
	return &Judge{ask: a, rubric: rubric, maxScore: maxScore, summary: summary, limit: time.Minute, cache: map[[32]byte]float64{}}
}

// Name implements reward.Func.
func (j *Judge) Name() string { return "judge" }

// TimeLimit implements reward.TimeLimiter.
func (j *Judge) TimeLimit() time.Duration { return j.limit }

// Stats returns the counts so far.
func (j *Judge) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// Score implements reward.Func.
func (j *Judge) Score(ctx context.Context, s reward.Sample) (reward.Score, error) {
	sc, _ := j.ScoreBatch(ctx, []reward.Sample{s})
	if sc[0].Err != "" {
		return sc[0], fmt.Errorf("%s", sc[0].Err)
	}
	return sc[0], nil
}

// Question is the rubric filled in for s.
func (j *Judge) Question(s reward.Sample) string {
	resp := reward.FullCompletion(s)
	if j.summary {
		if _, rest, ok := reward.SplitThink(s); ok {
			resp = rest
		}
	}
	prompt := s.Prompt
	if q, ok := chat.ParseR1Zero(prompt); ok {
		prompt = q
	}
	answer := ""
	if a, ok := s.Fields["answer"]; ok && a != nil {
		answer = fmt.Sprint(a)
	}
	return strings.NewReplacer("{prompt}", prompt, "{response}", strings.TrimSpace(resp), "{answer}", answer).Replace(j.rubric)
}

// ScoreBatch implements reward.BatchFunc: the questions not in the cache
// are asked together; a failure scores its sample 0 (Err set) and never
// fails the batch.
func (j *Judge) ScoreBatch(ctx context.Context, samples []reward.Sample) ([]reward.Score, error) {
	out := make([]reward.Score, len(samples))
	keys := make([][32]byte, len(samples))
	var ask []string
	var askIdx []int
	j.mu.Lock()
	pending := map[[32]byte]int{} // the same question twice in a batch is asked once
	for i, s := range samples {
		q := j.Question(s)
		keys[i] = sha256.Sum256([]byte(q))
		if v, ok := j.cache[keys[i]]; ok {
			j.stats.CacheHits++
			out[i] = reward.Score{Value: v}
			continue
		}
		if _, ok := pending[keys[i]]; ok {
			j.stats.CacheHits++
			continue
		}
		pending[keys[i]] = len(ask)
		ask = append(ask, q)
		askIdx = append(askIdx, i)
	}
	j.stats.Asked += int64(len(ask))
	j.mu.Unlock()
	if len(ask) == 0 {
		return out, nil
	}
	replies, errs := j.ask.Ask(ctx, ask)
	got := make([]reward.Score, len(ask))
	j.mu.Lock()
	defer j.mu.Unlock()
	for k := range ask {
		switch v, ok := Verdict(replies[k], j.maxScore); {
		case errs[k] != nil:
			j.stats.Failures++
			msg := "judge: " + errs[k].Error()
			if ctx.Err() == context.DeadlineExceeded || strings.Contains(msg, "timeout") {
				msg = reward.TimeoutPrefix + ": " + msg
			}
			got[k] = reward.Score{Err: msg}
		case !ok:
			j.stats.Unparsed++
			got[k] = reward.Score{Err: fmt.Sprintf("judge: no SCORE in the verdict %q", snippet(replies[k]))}
		default:
			got[k] = reward.Score{Value: v}
			j.cache[keys[askIdx[k]]] = v
		}
	}
	for i := range samples {
		if k, ok := pending[keys[i]]; ok {
			out[i] = got[k]
		}
	}
	return out, nil
}

var scoreRE = regexp.MustCompile(`(?i)score\s*[:=]\s*\**\s*(-?[0-9]+(?:\.[0-9]+)?)`)

// Verdict parses the last "SCORE: N" of a reply into N / maxScore,
// clipped to [0, 1].
func Verdict(reply string, maxScore float64) (float64, bool) {
	m := scoreRE.FindAllStringSubmatch(reply, -1)
	if len(m) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[len(m)-1][1], 64)
	if err != nil || math.IsNaN(v) {
		return 0, false
	}
	return min(max(v/maxScore, 0), 1), true
}

func snippet(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// remoteAsker asks an OpenAI-compatible endpoint, all questions at once
// within the client's concurrency.
type remoteAsker struct {
	client    *openai.Client
	maxTokens int
}

func (r *remoteAsker) Ask(ctx context.Context, qs []string) ([]string, []error) {
	replies, errs := make([]string, len(qs)), make([]error, len(qs))
	var wg sync.WaitGroup
	zero := 0.0
	for i, q := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := r.client.Chat(ctx, openai.Request{Messages: []openai.Message{{Role: "user", Content: q}}, Temperature: &zero, MaxTokens: r.maxTokens})
			if err != nil {
				errs[i] = err
				return
			}
			// The verdict is in the answer; a reasoning judge's thoughts
			// may mention scores it did not give.
			replies[i] = resp.Choices[0].Content
		}()
	}
	wg.Wait()
	return replies, errs
}

var (
	_ reward.BatchFunc   = (*Judge)(nil)
	_ reward.TimeLimiter = (*Judge)(nil)
)
