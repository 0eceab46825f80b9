package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/distill"
	"github.com/r1go/r1/filter"
	"github.com/r1go/r1/openai"
	"github.com/r1go/r1/reward"
	"github.com/r1go/r1/sample"
)

func init() {
	register(&command{
		name:    "generate",
		summary: "rejection sampling: a teacher (local model or OpenAI-compatible endpoint) answers prompts K times; filtered SFT rows with provenance",
		run:     runGenerate,
	})
}

const generateNotes = `Every sample is appended to OUT.partial as it arrives; once all are in, the
filters run in (prompt, sample) order and OUT gets the kept rows, then OUT.partial
is removed. An interrupted or killed run keeps OUT.partial: rerun the same
command with --resume and only the missing samples are asked for (no row is
lost or written twice).
Rows: {"messages": [user question, assistant "<think>\nreasoning\n</think>\n\nanswer"],
"prompt_index", "sample_index", "question", "answer" (gold), "task", "finish_reason",
"tokens", "seed", "teacher": {model or url, sampling settings}, "scores": {filter
scores}}; r1 sft --data OUT reads them unchanged. Filters drop by reason:
incorrect, format, language, length, repetition, duplicate, over_cap.`

// teacherFlags are the flags that pick and tune a teacher (r1 generate,
// r1 distill).
type teacherFlags struct {
	dir, url, model, keyEnv, template, system, device string
	concurrency, retries, maxNew, batch, topK         int
	timeout                                           time.Duration
	stream                                            bool
	temp, topP                                        float64
	seed                                              uint64
}

func (t *teacherFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.dir, "teacher", "", "local teacher: a Hugging Face checkpoint directory or builtin:tiny, sampled with r1's own engine")
	fs.StringVar(&t.url, "teacher-url", "", "OpenAI-compatible teacher: API base such as http://localhost:8000/v1 (vLLM, SGLang, DeepSeek's API, r1 serve)")
	fs.StringVar(&t.model, "teacher-model", "", "with --teacher-url: the model name to request")
	fs.StringVar(&t.keyEnv, "api-key-env", "OPENAI_API_KEY", "with --teacher-url: environment variable holding the API key (sent as a Bearer token when set)")
	fs.IntVar(&t.concurrency, "concurrency", 8, "with --teacher-url: most requests in flight at once")
	fs.DurationVar(&t.timeout, "timeout", 120*time.Second, "with --teacher-url: time limit of one request (each retry gets its own)")
	fs.IntVar(&t.retries, "retries", 3, "with --teacher-url: retries of a request after a timeout, network error, 429 or 5xx (exponential backoff)")
	fs.BoolVar(&t.stream, "stream", false, "with --teacher-url: stream replies (server-sent events); the rows are the same")
	fs.StringVar(&t.system, "system", "", "with --teacher-url: a system message before each question")
	fs.StringVar(&t.template, "template", "r1-zero", "with --teacher: prompt format (r1-zero, chat, plain); an endpoint applies its own chat template")
	fs.IntVar(&t.batch, "batch", 64, "with --teacher: most sequences decoding at once")
	fs.StringVar(&t.device, "device", "cpu", "with --teacher: compute device (cpu, cuda, auto)")
	fs.IntVar(&t.topK, "top-k", 0, "with --teacher: keep only the k most likely tokens (0 = off)")
	fs.IntVar(&t.maxNew, "max-new-tokens", 256, "most tokens per answer (max_tokens for an endpoint)")
	fs.Float64Var(&t.temp, "temperature", 0.6, "sampling temperature (R1's distillation used 0.6)")
	fs.Float64Var(&t.topP, "top-p", 0.95, "nucleus sampling mass in (0, 1]")
	fs.Uint64Var(&t.seed, "seed", 1, "random seed (an endpoint gets seed + prompt×K + sample per request)")
}

// open builds the teacher the flags name.
func (t *teacherFlags) open(n int) (distill.Teacher, error) {
	if (t.dir == "") == (t.url == "") {
		return nil, usageErrorf("give exactly one of --teacher DIR and --teacher-url URL")
	}
	if _, err := sampleFlagsValid(n, t.maxNew, t.batch, t.topK, t.temp, t.topP, 0, ""); err != nil {
		return nil, err
	}
	if t.url != "" {
		if t.model == "" {
			return nil, usageErrorf("--teacher-url needs --teacher-model NAME")
		}
		if err := flagRange("concurrency", int64(t.concurrency), 1, 1<<16); err != nil {
			return nil, err
		}
		if err := flagRange("retries", int64(t.retries), 0, 100); err != nil {
			return nil, err
		}
		retries := t.retries
		if retries == 0 {
			retries = -1 // openai.Config: 0 is the default, negative none
		}
		c, err := openai.New(openai.Config{URL: t.url, Model: t.model, APIKeyEnv: t.keyEnv, Concurrency: t.concurrency,
			Timeout: t.timeout, Retries: retries, Stream: t.stream})
		if err != nil {
			return nil, err
		}
		return &distill.Remote{Client: c, System: t.system, Temperature: t.temp, TopP: t.topP, MaxTokens: t.maxNew, Seed: t.seed}, nil
	}
	dir, err := resolveModel(t.dir)
	if err != nil {
		return nil, err
	}
	dev, err := openDevice(t.device)
	if err != nil {
		return nil, err
	}
	p := sample.Params{Temperature: t.temp, TopP: t.topP, TopK: t.topK, MaxNewTokens: t.maxNew, Seed: t.seed}
	return distill.LoadLocal(dir, dev, p, t.template, max(t.batch, n))
}

// filterFlags are the filter flags (r1 generate, r1 distill).
type filterFlags struct {
	cfg      filter.Config
	off      bool
	keepTrun bool
	noDedup  bool
	mix      string
	judgeURL string
	judgeMod string
	judgeKey string
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	d := filter.Defaults()
	f.cfg = d
	fs.BoolVar(&f.off, "no-filter", false, "keep every sample (no filter)")
	fs.StringVar(&f.cfg.Correct, "correct", d.Correct, `correctness filter: "judge" (the dataset's own check: math verifier, Countdown, code tests), "score" (--score-name ≥ --min-score) or "off"`)
	fs.StringVar(&f.cfg.ScoreName, "score-name", "", `with --correct score: the score to threshold`)
	fs.Float64Var(&f.cfg.MinScore, "min-score", 0.5, `with --correct score: the threshold`)
	fs.StringVar(&f.cfg.Format, "format", d.Format, `format filter: a format reward that must give full marks (format_summary: think block then a tag-free summary; format: R1-Zero's <answer> tags) or "off"`)
	fs.StringVar(&f.cfg.Language, "language", d.Language, `language filter: target language code or script name, or "off"`)
	fs.Float64Var(&f.cfg.MinLanguage, "min-language", d.MinLanguage, "share of words in the target language that the reasoning and the answer must each reach")
	fs.IntVar(&f.cfg.MinChars, "min-chars", 0, "drop answers shorter than this many characters (0 = no bound)")
	fs.IntVar(&f.cfg.MaxChars, "max-chars", 0, "drop answers longer than this many characters (0 = no bound)")
	fs.BoolVar(&f.keepTrun, "keep-truncated", false, "keep answers cut at --max-new-tokens (dropped with reason length by default)")
	fs.IntVar(&f.cfg.RepeatNGram, "repeat-ngram", d.RepeatNGram, "repetition filter: n-gram size in words (0 = off)")
	fs.IntVar(&f.cfg.MaxRepeats, "max-repeats", d.MaxRepeats, "repetition filter: drop an answer in which one n-gram occurs this often")
	fs.BoolVar(&f.noDedup, "no-dedup", false, "keep duplicate answers to the same prompt")
	fs.Float64Var(&f.cfg.NearDup, "near-dup", d.NearDup, "near-duplicate threshold: estimated Jaccard similarity of character 5-gram sets (MinHash) at which an answer duplicates a kept one of the same prompt (0 = exact duplicates only)")
	fs.IntVar(&f.cfg.PerPrompt, "per-prompt", 0, "keep at most M answers per prompt (0 = all)")
	fs.StringVar(&f.judgeURL, "judge-url", "", `score every answer with the "judge" reward on this OpenAI-compatible endpoint (score "judge" in [0, 1]; threshold it with --correct score --score-name judge --min-score X)`)
	fs.StringVar(&f.judgeMod, "judge-model", "", "with --judge-url: the judge's model name")
	fs.StringVar(&f.judgeKey, "judge-api-key-env", "OPENAI_API_KEY", "with --judge-url: environment variable holding its API key")
	fs.StringVar(&f.mix, "mix", "", "FILE:RATIO: add general SFT rows from FILE (messages rows without reasoning), RATIO of them per kept row, e.g. general.jsonl:0.25")
}

// config resolves the flags into a GenerateConfig's filter fields.
func (f *filterFlags) apply(g *distill.GenerateConfig) error {
	c := f.cfg
	for _, s := range []*string{&c.Correct, &c.Format, &c.Language} {
		if *s == "off" {
			*s = ""
		}
	}
	if c.Language == "" {
		c.MinLanguage = 0
	}
	c.DropTruncated = !f.keepTrun
	if f.noDedup {
		c.Dedup, c.NearDup = false, 0
	}
	if c.RepeatNGram == 0 {
		c.MaxRepeats = 0
	}
	if !f.off {
		if err := c.Validate(); err != nil {
			return usageErrorf("%v", err)
		}
	}
	g.Filter, g.NoFilter = c, f.off
	if f.judgeURL != "" {
		j, err := reward.New("judge", map[string]any{"url": f.judgeURL, "model": f.judgeMod, "api_key_env": f.judgeKey})
		if err != nil {
			return usageErrorf("--judge-url: %v", err)
		}
		g.Rewards = append(g.Rewards, j)
	}
	if f.mix != "" {
		i := strings.LastIndexByte(f.mix, ':')
		if i < 0 {
			return usageErrorf("--mix %q: expected FILE:RATIO", f.mix)
		}
		r, err := strconv.ParseFloat(f.mix[i+1:], 64)
		if err != nil || r < 0 {
			return usageErrorf("--mix %q: RATIO: expected a number ≥ 0", f.mix)
		}
		g.MixFile, g.MixRatio = f.mix[:i], r
	}
	return nil
}

// openPrompts loads --prompts: a dataset of the registry or a JSONL file.
func openPrompts(name, split string, limit int) ([]distill.Prompt, error) {
	ds, err := data.Open(name, split, data.Options{Dir: data.FindDir(), Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("--prompts: %w", err)
	}
	return distill.PromptsFrom(ds)
}

func runGenerate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("generate", "(--teacher DIR | --teacher-url URL --teacher-model NAME) --prompts FILE|DATASET --n K --out data.jsonl [flags]", stderr)
	prompts := fs.String("prompts", "", "prompts: a dataset of the registry (gsm8k, countdown, synthetic:arithmetic, …) or a JSONL file with problem/prompt/question and answer fields")
	split := fs.String("split", "train", "with a registry dataset: the split")
	limit := fs.Int("limit", 0, "use the first N prompts (0 = all)")
	n := fs.Int("n", 4, "answers per prompt (K)")
	out := fs.String("out", "", "output JSONL of kept SFT rows")
	resume := fs.Bool("resume", false, "continue an interrupted run from OUT.partial (same flags)")
	var tf teacherFlags
	tf.register(fs)
	var ff filterFlags
	ff.register(fs)
	usageNotes(fs, generateNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *prompts == "" || *out == "" {
		fs.Usage()
		return usageErrorf("--prompts and --out are required")
	}
	g := distill.GenerateConfig{Out: *out, N: *n, Resume: *resume, Progress: stderr, MixSeed: tf.seed}
	if err := ff.apply(&g); err != nil {
		return err
	}
	if err := refuseOverwrite(*out, *prompts, stdin); err != nil {
		return err
	}
	ps, err := openPrompts(*prompts, *split, *limit)
	if err != nil {
		return err
	}
	teacher, err := tf.open(*n)
	if err != nil {
		return err
	}
	st, err := distill.Generate(ctx, g, ps, teacher)
	if err != nil {
		return err
	}
	printGenerateStats(stdout, st, teacher, *out)
	return nil
}

func printGenerateStats(w io.Writer, st distill.GenerateStats, t distill.Teacher, out string) {
	rate := ""
	if st.Generated > 0 && st.Elapsed > 0 {
		rate = fmt.Sprintf(" (%.2f samples/s", float64(st.Generated)/st.Elapsed.Seconds())
		if st.Tokens > 0 {
			rate += fmt.Sprintf(", %.0f tok/s", float64(st.Tokens)/st.Elapsed.Seconds())
		}
		rate += ")"
	}
	fmt.Fprintf(w, "generate: %d prompts, %d samples (%d resumed, %d new in %s%s)\n", st.Prompts, st.Samples, st.Resumed, st.Generated, st.Elapsed.Round(time.Millisecond), rate)
	if r, ok := t.(*distill.Remote); ok {
		cs := r.Client.Stats()
		mean := 0.0
		if cs.Wall > 0 {
			mean = cs.Busy.Seconds() / cs.Wall.Seconds()
		}
		fmt.Fprintf(w, "teacher: %d requests, %d retries, %d failed; in flight: mean %.2f, max %d of %d allowed\n",
			cs.Requests, cs.Retries, cs.Failures, mean, cs.MaxInFlight, r.Client.Config().Concurrency)
	}
	fmt.Fprintf(w, "filters: %s (in %s)\n", st.Filter, st.FilterTime.Round(time.Millisecond))
	if st.General > 0 {
		fmt.Fprintf(w, "mix: %d general rows added\n", st.General)
	}
	fmt.Fprintf(w, "wrote %d rows → %s\n", st.Filter.Kept+st.General, out)
}
