package eval

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/atomicfile"
)

// Completion is one generated text.
type Completion struct {
	Text         string
	FinishReason string // "stop" or "length"
	Tokens       int
}

// Generator produces n completions for each prompt. onSample, when set, is
// called once per finished completion (for progress). Implementations:
// ModelGenerator (r1's sampler); tests use fakes.
type Generator interface {
	Generate(ctx context.Context, prompts []string, n int, onSample func()) ([][]Completion, error)
}

// Settings are everything that changes a sample; they are hashed to key
// the resume cache, so results computed under other settings are never
// mixed in.
type Settings struct {
	Model string `json:"model"`
	// ModelStamp identifies the weights (e.g. size and modification time
	// of the safetensors files), so retraining into the same directory
	// does not resume from the old model's samples.
	ModelStamp   string  `json:"model_stamp,omitempty"`
	Prompt       string  `json:"prompt"`
	K            int     `json:"k"`
	Samples      int     `json:"samples"`
	Temperature  float64 `json:"temperature"`
	TopP         float64 `json:"top_p"`
	TopK         int     `json:"top_k"`
	MaxNewTokens int     `json:"max_new_tokens"`
	Seed         uint64  `json:"seed"`
	// KVCacheDType is the sampler's KV cache storage when not the model's
	// own ("bf16" on the CPU): it changes the samples, so a run with
	// another one does not resume from these.
	KVCacheDType string `json:"kv_cache_dtype,omitempty"`
}

// Hash is a short digest of the settings.
func (s Settings) Hash() string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Validate checks the settings.
func (s Settings) Validate() error {
	switch {
	case s.K <= 0:
		return fmt.Errorf("k = %d: expected at least 1 sample", s.K)
	case s.Samples < s.K:
		return fmt.Errorf("samples = %d: expected at least k = %d", s.Samples, s.K)
	case !IsChatPrompt(s.Prompt) && s.Prompt != "r1-zero" && s.Prompt != "plain":
		return fmt.Errorf("prompt = %q: expected chat, chat-bare, r1-zero or plain", s.Prompt)
	}
	return nil
}

// IsChatPrompt reports whether a prompt format renders with the chat
// template (which writes its own special tokens).
func IsChatPrompt(format string) bool { return format == "chat" || format == "chat-bare" }

// Config drives Run.
type Config struct {
	Settings Settings
	// Out is the output directory (results.json, samples.jsonl,
	// report.md); samples.jsonl there doubles as the resume cache.
	Out string
	// Fresh discards a cache computed under different settings instead of
	// refusing to run.
	Fresh bool
	// Chunk is the number of problems per Generate call: larger keeps the
	// batched sampler busier, smaller loses less work to an interruption.
	// 0 picks about 256 samples per call.
	Chunk int
	// Workers score samples concurrently (0: GOMAXPROCS).
	Workers int
	// Template is the model's chat template (needed by the chat format).
	Template *chat.Template
	// CodeParams configure the code reward (sandbox, python, timeout_s).
	CodeParams map[string]any
	// Progress receives a progress bar (nil: none). Log receives notes.
	Progress io.Writer
	Log      io.Writer
}

// Record is one problem's line of samples.jsonl.
type Record struct {
	Bench    string         `json:"bench"`
	Index    int            `json:"index"`
	ID       string         `json:"id,omitempty"`
	Settings string         `json:"settings"`
	Prompt   string         `json:"prompt"`
	Gold     string         `json:"gold,omitempty"`
	Samples  []SampleResult `json:"samples"`
	ProblemMetrics
}

// SamplesFile, ResultsFile and ReportFile are the names Run writes in Out.
const (
	SamplesFile = "samples.jsonl"
	ResultsFile = "results.json"
	ReportFile  = "report.md"
)

func recordKey(bench string, index int) string { return fmt.Sprintf("%s\x00%d", bench, index) }

// cache is the resume state: the records of samples.jsonl by key, in file
// order.
type cache struct {
	path  string
	order []string
	recs  map[string]Record
}

// loadCache reads samples.jsonl. A torn last line (a write cut short by a
// kill) is dropped and the file rewritten; any other bad line is an error.
// Records from other settings are refused unless fresh.
func loadCache(path, hash string, fresh bool) (*cache, error) {
	c := &cache{path: path, recs: map[string]Record{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(data, []byte("\n"))
	torn := false
	for i, line := range lines {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil || r.Bench == "" {
			if i == len(lines)-1 {
				torn = true
				break
			}
			return nil, fmt.Errorf("%s:%d: not a result record (expected JSON with bench, index, settings, samples); move the file away to start over", path, i+1)
		}
		if r.Settings != hash {
			if fresh {
				return &cache{path: path, recs: map[string]Record{}}, os.Remove(path)
			}
			return nil, fmt.Errorf("%s:%d: cached results were computed with other settings (hash %s, now %s); use another --out or --fresh to discard them",
				path, i+1, r.Settings, hash)
		}
		k := recordKey(r.Bench, r.Index)
		if _, dup := c.recs[k]; !dup {
			c.order = append(c.order, k)
		}
		c.recs[k] = r
	}
	if torn {
		if err := c.rewrite(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// rewrite writes every record atomically, one line each, in order.
func (c *cache) rewrite() error {
	var buf bytes.Buffer
	enc := newLineEncoder(&buf)
	for _, k := range c.order {
		if err := enc.Encode(c.recs[k]); err != nil {
			return err
		}
	}
	return atomicfile.Write(c.path, buf.Bytes())
}

// appendRecords adds records to the file with one write and an fsync, so
// a kill leaves at most one torn line.
func (c *cache) appendRecords(recs []Record) error {
	var buf bytes.Buffer
	enc := newLineEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
		k := recordKey(r.Bench, r.Index)
		if _, dup := c.recs[k]; !dup {
			c.order = append(c.order, k)
		}
		c.recs[k] = r
	}
	f, err := os.OpenFile(c.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", c.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", c.path, err)
	}
	return f.Close()
}

// newLineEncoder writes one JSON value per line, leaving <, > and & as
// they are: prompts are full of chat markup that \u003c escapes make
// unreadable.
func newLineEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// Run evaluates the benchmarks (datasets from data.Open, usually their test
// split), resuming from Out's cache, and writes results.json, samples.jsonl
// and report.md there. Each example is judged by its dataset's judge
// (data.Judge). An interrupted run (ctx cancelled) keeps every finished
// chunk and returns ctx's error.
func Run(ctx context.Context, cfg Config, gen Generator, benches []*data.Dataset) (*Results, error) {
	s := cfg.Settings
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if IsChatPrompt(s.Prompt) && cfg.Template == nil {
		return nil, errors.New("prompt format chat needs the model's chat template (tokenizer_config.json chat_template)")
	}
	if cfg.Out == "" {
		return nil, errors.New("no output directory")
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	hash := s.Hash()
	c, err := loadCache(filepath.Join(cfg.Out, SamplesFile), hash, cfg.Fresh)
	if err != nil {
		return nil, err
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}

	type job struct {
		bench   *data.Dataset
		judges  data.Judges
		prompts []string
		todo    []int // problem indices to generate
	}
	var jobs []job
	total, cached := 0, 0
	for _, b := range benches {
		js, err := data.NewJudges(b.Tasks(), map[data.Task]map[string]any{data.TaskCode: cfg.CodeParams})
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", b.Name, err)
		}
		j := job{bench: b, judges: js, prompts: make([]string, len(b.Examples))}
		for i, p := range b.Examples {
			if j.prompts[i], err = BuildPrompt(s.Prompt, p, cfg.Template); err != nil {
				return nil, fmt.Errorf("benchmark %s problem %d: %w", b.Name, i, err)
			}
			if r, ok := c.recs[recordKey(b.Name, p.Index)]; ok && r.Prompt == j.prompts[i] && r.Gold == p.Gold && len(r.Samples) == s.Samples {
				cached++
				continue
			}
			j.todo = append(j.todo, i)
		}
		total += len(j.todo) * s.Samples
		jobs = append(jobs, j)
	}
	if cached > 0 {
		fmt.Fprintf(logw, "resuming: %d problems already evaluated in %s\n", cached, c.path)
	}
	chunk := cfg.Chunk
	if chunk <= 0 {
		chunk = max(1, 256/s.Samples)
	}
	prog := newProgress(cfg.Progress, total)
	for _, j := range jobs {
		for start := 0; start < len(j.todo); start += chunk {
			idx := j.todo[start:min(start+chunk, len(j.todo))]
			prompts := make([]string, len(idx))
			for i, pi := range idx {
				prompts[i] = j.prompts[pi]
			}
			prog.label(j.bench.Name)
			outs, err := gen.Generate(ctx, prompts, s.Samples, prog.add)
			if err != nil {
				prog.done()
				if ctx.Err() != nil {
					return nil, fmt.Errorf("benchmark %s: interrupted (%w); %d problems are saved in %s, run the same command again to resume",
						j.bench.Name, err, len(c.recs), c.path)
				}
				return nil, fmt.Errorf("benchmark %s: generating: %w", j.bench.Name, err)
			}
			if len(outs) != len(prompts) {
				prog.done()
				return nil, fmt.Errorf("benchmark %s: generator returned %d results for %d prompts", j.bench.Name, len(outs), len(prompts))
			}
			recs, err := scoreChunk(ctx, cfg.Workers, j.bench, j.judges, idx, prompts, outs, s, hash)
			if err != nil {
				prog.done()
				return nil, err
			}
			if err := c.appendRecords(recs); err != nil {
				prog.done()
				return nil, err
			}
		}
	}
	prog.done()

	res := &Results{Model: s.Model, Settings: s, SettingsHash: hash, Benchmarks: map[string]BenchResult{}}
	for _, j := range jobs {
		br := BenchResult{N: len(j.bench.Examples), K: s.K, Samples: s.Samples, Kind: j.bench.Task, File: j.bench.File}
		for _, p := range j.bench.Examples {
			r := c.recs[recordKey(j.bench.Name, p.Index)]
			br.PassAt1 += r.PassAt1
			br.PassAtK += r.PassAtK
			br.ConsAtK += r.ConsAtK
			for _, sr := range r.Samples {
				if sr.Err != "" {
					if br.Unscored == 0 {
						br.FirstError = sr.Err
					}
					br.Unscored++
				}
				br.MeanTokens += float64(sr.Tokens)
				if sr.Finish == "length" {
					br.Truncated++
				}
			}
		}
		n := float64(br.N)
		br.PassAt1 /= n
		br.PassAtK /= n
		br.ConsAtK /= n
		br.MeanTokens /= n * float64(s.Samples)
		res.Benchmarks[j.bench.Name] = br
		res.Order = append(res.Order, j.bench.Name)
	}
	if err := c.rewrite(); err != nil {
		return nil, err
	}
	if err := res.write(cfg.Out); err != nil {
		return nil, err
	}
	return res, nil
}

// scoreChunk checks every sample of a chunk with a pool of workers (code
// runs Python, so scoring can take as long as generating) and computes
// each problem's metrics.
func scoreChunk(ctx context.Context, workers int, b *data.Dataset, js data.Judges, idx []int, prompts []string,
	outs [][]Completion, s Settings, hash string) ([]Record, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	recs := make([]Record, len(idx))
	type task struct{ r, j int }
	tasks := make(chan task)
	var wg sync.WaitGroup
	for i, pi := range idx {
		p := b.Examples[pi]
		if len(outs[i]) != s.Samples {
			return nil, fmt.Errorf("benchmark %s problem %d: generator returned %d samples, expected %d", b.Name, pi, len(outs[i]), s.Samples)
		}
		recs[i] = Record{Bench: b.Name, Index: p.Index, ID: p.ID, Settings: hash, Prompt: prompts[i], Gold: p.Gold,
			Samples: make([]SampleResult, s.Samples)}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tasks {
				recs[t.r].Samples[t.j] = check(ctx, js, b.Examples[idx[t.r]], prompts[t.r], outs[t.r][t.j], s.Prompt == "plain")
			}
		}()
	}
	for r := range recs {
		for j := range recs[r].Samples {
			tasks <- task{r, j}
		}
	}
	close(tasks)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Checks cut short by cancellation would be cached as wrong.
		return nil, err
	}
	for r := range recs {
		v := voter(ctx, js, b.Examples[idx[r]])
		correct := make([]bool, s.Samples)
		answers := make([]string, s.Samples)
		for j, sr := range recs[r].Samples {
			correct[j], answers[j] = sr.Correct, sr.Answer
		}
		m, err := Score(correct, answers, s.K, v)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s problem %d: %w", b.Name, recs[r].Index, err)
		}
		recs[r].ProblemMetrics = m
	}
	return recs, nil
}

// ReadRecords decodes a samples.jsonl file written by Run.
func ReadRecords(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for n := 1; sc.Scan(); n++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
