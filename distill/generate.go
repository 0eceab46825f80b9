package distill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/filter"
	"github.com/r1go/r1/internal/partial"
	"github.com/r1go/r1/reward"
)

// Row is one line of r1 generate's output: an SFT row (messages, which
// r1 sft reads unchanged) with its provenance.
type Row struct {
	Messages    []Message `json:"messages"`
	PromptIndex int       `json:"prompt_index"`
	SampleIndex int       `json:"sample_index"`
	// Question is the user message (checked on resume).
	Question string `json:"question"`
	// Conditioned is the exact prompt text a local teacher saw.
	Conditioned  string `json:"conditioned,omitempty"`
	Answer       string `json:"answer,omitempty"` // the gold answer
	Task         string `json:"task,omitempty"`
	FinishReason string `json:"finish_reason"`
	Tokens       int    `json:"tokens,omitempty"`
	Seed         uint64 `json:"seed"`
	// Teacher is the teacher and its sampling settings.
	Teacher map[string]any `json:"teacher"`
	// Scores are the filters' scores (correct, format, language).
	Scores map[string]float64 `json:"scores,omitempty"`
}

// Message is a chat turn of an SFT row.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// GenerateConfig is what Generate writes and keeps.
type GenerateConfig struct {
	Out    string
	N      int
	Resume bool
	// Filter is applied to every sample (in prompt, sample order) once all
	// are generated; NoFilter keeps every sample.
	Filter   filter.Config
	NoFilter bool
	// Mix adds general SFT rows (read from MixFile) at MixRatio per kept
	// row, drawn with MixSeed.
	MixFile  string
	MixRatio float64
	MixSeed  uint64
	// Rewards score every sample before the filters, each under its
	// name in the row's "scores" (e.g. a "judge" reward, which Filter can
	// threshold with correct: score, score_name: judge). A sample a reward
	// could not score gets 0 there.
	Rewards []reward.Func
	// Progress gets progress lines (nil: none).
	Progress io.Writer
}

// GenerateStats report a generation.
type GenerateStats struct {
	Prompts, Samples, Resumed, Generated int
	Filter                               filter.Stats
	General                              int
	// Elapsed is the generation's wall time, FilterTime the filters'.
	Elapsed, FilterTime time.Duration
	Tokens              int
}

// PromptsFrom makes the prompts of a dataset's examples.
func PromptsFrom(ds *data.Dataset) ([]Prompt, error) {
	out := make([]Prompt, len(ds.Examples))
	for i, ex := range ds.Examples {
		if ex.Input.Question == "" {
			return nil, fmt.Errorf("%s: example %d has no question text", ds.Name, i)
		}
		out[i] = Prompt{Index: i, Example: ex, Question: ex.Input.Question}
	}
	return out, nil
}

// Generate asks the teacher for cfg.N answers to every prompt, appending
// each to OUT.partial as it arrives (so a killed run loses nothing: rerun
// with Resume, and only the missing samples are asked for), then filters
// them in (prompt, sample) order and writes the kept rows, and any general
// rows mixed in, to cfg.Out.
func Generate(ctx context.Context, cfg GenerateConfig, prompts []Prompt, t Teacher) (GenerateStats, error) {
	st := GenerateStats{Prompts: len(prompts)}
	if cfg.N < 1 {
		return st, fmt.Errorf("n %d: expected ≥ 1", cfg.N)
	}
	var general []map[string]json.RawMessage
	if cfg.MixFile != "" {
		var err error
		if general, err = data.ReadJSONLFile[map[string]json.RawMessage](cfg.MixFile); err != nil {
			return st, fmt.Errorf("mix: %w", err)
		}
	}
	var fs *filter.Set
	if !cfg.NoFilter {
		var err error
		if fs, err = filter.New(cfg.Filter, tasksOf(prompts)); err != nil {
			return st, err
		}
	}
	note := cfg.Progress
	if note == nil {
		note = io.Discard
	}
	pf, rows, err := partial.Open(cfg.Out, cfg.Resume, rowKey(partial.Path(cfg.Out), prompts, cfg.N), note)
	if err != nil {
		return st, err
	}
	defer pf.Close()
	have := map[[2]int]bool{}
	for _, r := range rows {
		if have[[2]int{r.Prompt, r.Sample}] {
			return st, fmt.Errorf("%s: prompt %d sample %d appears twice", partial.Path(cfg.Out), r.Prompt, r.Sample)
		}
		have[[2]int{r.Prompt, r.Sample}] = true
	}
	st.Resumed = len(rows)
	if cfg.Resume && len(rows) > 0 {
		fmt.Fprintf(note, "resuming: %d of %d samples kept from %s\n", len(rows), len(prompts)*cfg.N, partial.Path(cfg.Out))
	}
	prov := t.Provenance()
	total := len(prompts)*cfg.N - len(rows)
	start := time.Now()
	emit := func(s Sample) error {
		p := prompts[s.Prompt]
		row := Row{Messages: []Message{{"user", p.Question}, {"assistant", s.Response}}, PromptIndex: s.Prompt, SampleIndex: s.Index,
			Question: p.Question, Conditioned: s.Conditioned, Answer: p.Example.Gold, Task: string(p.Example.Task),
			FinishReason: s.FinishReason, Tokens: s.Tokens, Seed: s.Seed, Teacher: prov}
		line, err := marshal(row)
		if err != nil {
			return err
		}
		if err := pf.Append(line); err != nil {
			return err
		}
		have[[2]int{s.Prompt, s.Index}] = true
		rows = append(rows, partial.Row{Prompt: s.Prompt, Sample: s.Index, Line: line})
		st.Generated++
		st.Tokens += s.Tokens
		if cfg.Progress != nil && (st.Generated%max(1, total/50) == 0 || st.Generated == total) {
			el := time.Since(start)
			fmt.Fprintf(cfg.Progress, "\r%d/%d samples  %.1f samples/s   ", st.Generated, total, float64(st.Generated)/el.Seconds())
		}
		return nil
	}
	// The teacher asks done from its own goroutines while emit adds to
	// have: it reads a copy taken before it starts.
	before := maps.Clone(have)
	done := func(p, s int) bool { return before[[2]int{p, s}] }
	genErr := t.Generate(ctx, prompts, cfg.N, done, emit)
	st.Elapsed = time.Since(start)
	if cfg.Progress != nil && st.Generated > 0 {
		fmt.Fprintln(cfg.Progress)
	}
	if err := errors.Join(genErr, pf.Close()); err != nil {
		what := "stopped"
		if errors.Is(err, context.Canceled) {
			what = "interrupted"
		}
		return st, fmt.Errorf("%s: %w; the %d finished samples are kept in %s: rerun the same command with --resume to finish", what, err, len(rows), partial.Path(cfg.Out))
	}
	if len(rows) != len(prompts)*cfg.N {
		return st, fmt.Errorf("teacher returned %d of %d samples; rerun with --resume", len(rows), len(prompts)*cfg.N)
	}
	st.Samples = len(rows)
	partial.Sort(rows)
	fstart := time.Now()
	parsed := make([]Row, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal(r.Line, &parsed[i]); err != nil {
			return st, err
		}
	}
	if err := scoreRows(ctx, cfg.Rewards, parsed); err != nil {
		return st, err
	}
	var kept []partial.Row
	for i, r := range rows {
		row := parsed[i]
		if fs == nil {
			if len(cfg.Rewards) > 0 {
				line, err := marshal(row)
				if err != nil {
					return st, err
				}
				r.Line = line
			}
			kept = append(kept, r)
			continue
		}
		fr := filter.Row{Prompt: row.PromptIndex, Example: prompts[row.PromptIndex].Example, Conditioned: row.Conditioned,
			Response: row.Messages[1].Content, Truncated: row.FinishReason == "length", Tokens: row.Tokens, Scores: row.Scores}
		if fs.Keep(ctx, &fr) != "" {
			continue
		}
		row.Scores = fr.Scores
		line, err := marshal(row)
		if err != nil {
			return st, err
		}
		kept = append(kept, partial.Row{Prompt: r.Prompt, Sample: r.Sample, Line: line})
	}
	st.FilterTime = time.Since(fstart)
	if fs != nil {
		st.Filter = fs.Stats()
	} else {
		st.Filter = filter.Stats{Seen: len(rows), Kept: len(rows)}
	}
	if cfg.MixFile != "" {
		mix, err := filter.Mix(general, cfg.MixFile, len(kept), cfg.MixRatio, cfg.MixSeed)
		if err != nil {
			return st, err
		}
		for i, m := range mix {
			line, err := marshal(m)
			if err != nil {
				return st, err
			}
			// After every reasoning row: prompt indices past the last.
			kept = append(kept, partial.Row{Prompt: len(prompts) + i, Line: line})
		}
		st.General = len(mix)
	}
	return st, pf.Finish(cfg.Out, kept)
}

func tasksOf(prompts []Prompt) []data.Task {
	exs := make([]data.Example, len(prompts))
	for i, p := range prompts {
		exs[i] = p.Example
	}
	return data.TasksOf(exs)
}

// rowKey checks that a row of OUT.partial belongs to this run.
func rowKey(path string, prompts []Prompt, n int) partial.Key {
	return func(line []byte, ln int) (int, int, error) {
		var r struct {
			PromptIndex *int    `json:"prompt_index"`
			SampleIndex *int    `json:"sample_index"`
			Question    *string `json:"question"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.PromptIndex == nil || r.SampleIndex == nil || r.Question == nil {
			return 0, 0, fmt.Errorf("%s:%d: not a generated row (expected prompt_index, sample_index and question)", path, ln)
		}
		p, s := *r.PromptIndex, *r.SampleIndex
		switch {
		case p < 0 || p >= len(prompts):
			return 0, 0, fmt.Errorf("%s:%d: prompt_index %d, but there are %d prompts: was it written for other prompts?", path, ln, p, len(prompts))
		case *r.Question != prompts[p].Question:
			return 0, 0, fmt.Errorf("%s:%d: question %d differs from this run's: was it written for other prompts?", path, ln, p)
		case s < 0 || s >= n:
			return 0, 0, fmt.Errorf("%s:%d: sample_index %d, but n is %d: resume with the n of the first run", path, ln, s, n)
		}
		return p, s, nil
	}
}

// marshal encodes v as one JSON line without escaping <, > and & (the
// think tags stay readable).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// scoreRows adds each reward's score of every row to its Scores, a batch
// reward scoring all rows in one call.
func scoreRows(ctx context.Context, fns []reward.Func, rows []Row) error {
	if len(fns) == 0 {
		return nil
	}
	samples := make([]reward.Sample, len(rows))
	for i, r := range rows {
		fields := map[string]any{}
		if r.Answer != "" {
			fields["answer"] = r.Answer
		}
		samples[i] = reward.Sample{Prompt: r.Question, Completion: r.Messages[1].Content, Fields: fields,
			Truncated: r.FinishReason == "length", Tokens: r.Tokens}
	}
	for _, fn := range fns {
		var sc []reward.Score
		if bf, ok := fn.(reward.BatchFunc); ok {
			var err error
			if sc, err = bf.ScoreBatch(ctx, samples); err != nil {
				return fmt.Errorf("reward %s: %w", fn.Name(), err)
			}
		} else {
			sc = make([]reward.Score, len(samples))
			for i, s := range samples {
				sc[i], _ = fn.Score(ctx, s) // an unscored sample counts 0
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for i := range rows {
			if rows[i].Scores == nil {
				rows[i].Scores = map[string]float64{}
			}
			rows[i].Scores[fn.Name()] = sc[i].Value
		}
	}
	return nil
}
