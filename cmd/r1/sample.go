package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/internal/partial"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

func init() {
	register(&command{
		name:    "sample",
		summary: "generate completions: stream one prompt to the terminal, or sample a JSONL file of prompts",
		run:     runSample,
	})
}

// sampleRecord is one line of --out. The prompt row's other fields (e.g. a
// dataset's "answer") follow these.
type sampleRecord struct {
	Prompt           string    `json:"prompt"`
	PromptIndex      int       `json:"prompt_index"`
	SampleIndex      int       `json:"sample_index"`
	Completion       string    `json:"completion"`
	Tokens           []int32   `json:"tokens"`
	LogProbs         []float32 `json:"logprobs"`
	FinishReason     string    `json:"finish_reason"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
}

// sampleRecordKeys are the keys sampleRecord writes; a prompt row's field
// with one of these names is kept as "input_<name>".
var sampleRecordKeys = map[string]bool{"prompt": true, "prompt_index": true, "sample_index": true, "completion": true,
	"tokens": true, "logprobs": true, "finish_reason": true, "prompt_tokens": true, "completion_tokens": true}

// promptRow is one line of --prompts: the prompt and every other field.
type promptRow struct {
	prompt string
	fields map[string]json.RawMessage // all the row's keys, "prompt" included
}

const sampleNotes = `With --prompts, every finished sample is appended to OUT.partial as it
finishes; once all are done OUT is written (sorted by prompt, then sample)
and OUT.partial removed. An interrupted or failed run keeps OUT.partial:
rerun the same command with --resume to generate only what is missing
(prompts whose samples all finished are skipped; the others are sampled
again, which gives the same text for the same seed). Each output row carries
the prompt row's other fields (e.g. "answer"), so it is valid input for
r1 reward; a field named like an output key is kept as "input_<key>".
exit status: 0 done; 1 failed (finished samples kept in OUT.partial);
2 bad flags; 130/143 interrupted (finished samples kept in OUT.partial).`

func runSample(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("sample", "[--model DIR] (--prompt TEXT | --prompts FILE.jsonl --out samples.jsonl [--resume]) [flags]", stderr)
	modelDir := fs.String("model", "", "Hugging Face model directory (default: the built-in tiny base model)")
	adapterDir := fs.String("adapter", "", "LoRA adapter directory (PEFT layout: adapter_config.json + adapter_model.safetensors) applied on top of --model")
	prompt := fs.String("prompt", "", "one prompt; its completion streams to stdout (with -n > 1 the samples follow one another)")
	promptsFile := fs.String("prompts", "", `JSONL file with a "prompt" field per line (sampled in one batch; other fields are copied to the output)`)
	out := fs.String("out", "", "write samples as JSONL here (one line per sample, in prompt then sample order; see below)")
	resume := fs.Bool("resume", false, "continue an interrupted --prompts run from OUT.partial (same flags)")
	n := fs.Int("n", 1, "samples per prompt (GRPO's G), ≥ 1")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives byte-identical output")
	maxNew := fs.Int("max-new-tokens", 256, "stop a sample after this many generated tokens (≥ 1)")
	temp := fs.Float64("temperature", 1.0, "sampling temperature ≥ 0; 0 = greedy")
	topP := fs.Float64("top-p", 1.0, "nucleus sampling: keep the most likely tokens up to this probability mass, in (0, 1] (1 = off)")
	topK := fs.Int("top-k", 0, "keep only the k most likely tokens, ≥ 0 (0 = off)")
	minP := fs.Float64("min-p", 0, "drop tokens less likely than min-p × the most likely one, in [0, 1) (0 = off)")
	stop := fs.String("stop", "", "comma-separated stop strings (e.g. </answer>); none may be empty")
	useChat := fs.Bool("chat", false, "wrap each prompt in the model's chat template (user turn + generation prompt)")
	template := fs.String("template", "", "wrap each prompt in an r1 template: r1-zero, plain, chat")
	batch := fs.Int("batch", 64, "most sequences decoding at once (continuous batching), ≥ 1")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	kvDType := kvCacheFlag(fs)
	usageNotes(fs, sampleNotes)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*prompt == "") == (*promptsFile == "") {
		fs.Usage()
		return usageErrorf("give exactly one of --prompt and --prompts")
	}
	if *promptsFile != "" && *out == "" {
		return usageErrorf("--prompts needs --out FILE.jsonl")
	}
	if *prompt != "" && *out != "" {
		return usageErrorf("--out is for --prompts runs (--prompt streams to stdout)")
	}
	if *resume && *promptsFile == "" {
		return usageErrorf("--resume continues a --prompts run")
	}
	stops, err := sampleFlagsValid(*n, *maxNew, *batch, *topK, *temp, *topP, *minP, *stop)
	if err != nil {
		return err
	}
	if *useChat {
		if *template != "" && *template != "chat" {
			return usageErrorf("--chat and --template %s contradict each other", *template)
		}
		*template = "chat"
	}
	if *out != "" {
		if err := refuseOverwrite(*out, *promptsFile, stdin); err != nil {
			return err
		}
	}
	var rows []promptRow
	if *promptsFile != "" {
		// Read the prompts before loading the model: a bad line is
		// reported at once.
		f, err := os.Open(*promptsFile)
		if err != nil {
			return err
		}
		rows, err = readPromptRows(f, *promptsFile)
		f.Close()
		if err != nil {
			return err
		}
	} else {
		rows = []promptRow{{prompt: *prompt}}
	}
	if *modelDir == "" {
		if *modelDir = defaultModelDir(); *modelDir == "" {
			return fmt.Errorf("--model: no built-in model in this build; pass a model directory")
		}
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	m, err := model.Load(*modelDir, dev)
	if err != nil {
		return err
	}
	if *adapterDir != "" {
		if _, err := m.LoadLoRA(*adapterDir); err != nil {
			return err
		}
	}
	tok, err := tokenizer.Load(*modelDir)
	if err != nil {
		return err
	}
	var tmpl *chat.Template
	if *template == "chat" {
		if tmpl, err = chat.FromTokenizerConfig(*modelDir); err != nil {
			return err
		}
	}
	texts := make([]string, len(rows))
	prompts := make([][]int32, len(rows))
	longest := 0
	for i, r := range rows {
		t := r.prompt
		if *template != "" {
			if t, err = chat.Prompt(*template, chat.PromptInput{Question: t}, tmpl); err != nil {
				return err
			}
		}
		texts[i] = t
		prompts[i] = tok.Encode(t, true)
		if len(prompts[i]) == 0 {
			if *promptsFile != "" {
				return fmt.Errorf("%s:%d: field \"prompt\" is empty after tokenization", *promptsFile, i+1)
			}
			return usageErrorf("--prompt is empty after tokenization")
		}
		longest = max(longest, len(prompts[i]))
	}
	kvType, err := kvCacheType(m, *kvDType)
	if err != nil {
		return err
	}
	if err := checkSampleFits(m.Config, max(*batch, *n), longest, *maxNew, kvType); err != nil {
		return err
	}
	p := sample.Params{Temperature: *temp, TopP: *topP, TopK: *topK, MinP: *minP, MaxNewTokens: *maxNew, Seed: *seed,
		StopIDs: model.StopIDs(*modelDir, m.Config, tok.EOS), IncludeStopString: true, StopStrings: stops}
	eng := &sample.Engine{Model: m, MaxBatch: max(*batch, *n), KVCacheDType: *kvDType, Decode: func(ids []int32) string { return tok.Decode(ids, true) }}

	if *prompt != "" {
		return streamSamples(ctx, eng, tok, prompts[0], *n, p, stdout, stderr)
	}
	return sampleToFile(ctx, eng, rows, texts, prompts, *n, p, *out, *resume, stderr)
}

// sampleFlagsValid checks the sampling flags, naming the flag and its valid
// range, and returns the stop strings.
func sampleFlagsValid(n, maxNew, batch, topK int, temp, topP, minP float64, stop string) ([]string, error) {
	if err := firstErr(
		flagRange("n", int64(n), 1, 1<<20),
		flagRange("max-new-tokens", int64(maxNew), 1, math.MaxInt32),
		flagRange("batch", int64(batch), 1, 1<<20),
		flagRange("top-k", int64(topK), 0, math.MaxInt32),
	); err != nil {
		return nil, err
	}
	switch {
	case !(temp >= 0) || math.IsInf(temp, 0):
		return nil, usageErrorf("--temperature %g: expected a number ≥ 0 (0 = greedy)", temp)
	case !(topP > 0 && topP <= 1):
		return nil, usageErrorf("--top-p %g: expected a number in (0, 1]", topP)
	case !(minP >= 0 && minP < 1):
		return nil, usageErrorf("--min-p %g: expected a number in [0, 1)", minP)
	}
	if stop == "" {
		return nil, nil
	}
	stops := strings.Split(stop, ",")
	for i, s := range stops {
		if s == "" {
			return nil, usageErrorf("--stop %q: stop string %d of %d is empty (an empty stop string would end every sample after one token); separate non-empty strings with commas", stop, i+1, len(stops))
		}
	}
	return stops, nil
}

// checkSampleFits refuses a run whose KV cache cannot fit in memory next to
// the weights: batch sequences of prompt + maxNew tokens.
func checkSampleFits(c *model.Config, batch, prompt, maxNew int, kvType tensor.DType) error {
	mem, ok := model.HostMemory()
	if !ok {
		return nil
	}
	tokens := float64(batch) * float64(prompt+maxNew+16)
	kv := tokens * float64(c.Layers) * 2 * float64(c.KVHeads) * float64(c.HeadDim) * float64(kvType.Size())
	logits := float64(batch) * float64(c.VocabSize) * 4 * 3
	left := float64(mem - c.WeightBytes())
	if kv+logits > left {
		hint := "lower --batch or --max-new-tokens"
		if kvType == tensor.F32 {
			hint += ", or halve the cache with --kv-cache-dtype bf16"
		}
		return usageErrorf("--batch/-n %d × (prompt %d + --max-new-tokens %d) tokens need a %.1f GiB %v KV cache (num_hidden_layers %d, num_key_value_heads %d, head_dim %d), but only %.1f GiB of memory is left beside the weights; %s",
			batch, prompt, maxNew, kv/(1<<30), kvType, c.Layers, c.KVHeads, c.HeadDim, left/(1<<30), hint)
	}
	return nil
}

// readPromptRows reads --prompts: one JSON object per line with a string
// "prompt"; every field is kept. A blank or bad line is an error naming
// the file and line, reported before any generation starts.
func readPromptRows(r io.Reader, name string) ([]promptRow, error) {
	var rows []promptRow
	err := eachLine(r, func(line []byte, ln int) error {
		row, err := parsePromptRow(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, ln, err)
		}
		rows = append(rows, row)
		return nil
	})
	if err == nil && len(rows) == 0 {
		err = fmt.Errorf("%s: no prompts (expected JSONL with a \"prompt\" per line)", name)
	}
	return rows, err
}

// parsePromptRow reads one --prompts line.
func parsePromptRow(line []byte) (promptRow, error) {
	if len(trimSpace(line)) == 0 {
		return promptRow{}, errors.New(`blank line (expected a JSON object with a "prompt")`)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return promptRow{}, fmt.Errorf("expected a JSON object with a \"prompt\": %v", err)
	}
	raw, ok := fields["prompt"]
	if !ok {
		return promptRow{}, errors.New(`field "prompt" is missing`)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return promptRow{}, fmt.Errorf("field \"prompt\": expected a string, got %s", truncate(string(raw), 40))
	}
	return promptRow{prompt: s, fields: fields}, nil
}

// marshalSample writes rec followed by the prompt row's other fields
// (sorted), as one JSON object.
func marshalSample(rec sampleRecord, row promptRow) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(row.fields))
	for k := range row.fields {
		if k == "prompt" && row.prompt == rec.Prompt {
			continue // unchanged by a template: already there
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = b[:len(b)-1] // drop '}'
	for _, k := range keys {
		name := k
		if sampleRecordKeys[k] {
			name = "input_" + k
			if _, clash := row.fields[name]; clash {
				continue // the row has both: its own input_<key> wins
			}
		}
		kb, _ := json.Marshal(name)
		b = append(b, ',')
		b = append(b, kb...)
		b = append(b, ':')
		var v bytes.Buffer
		if err := json.Compact(&v, row.fields[k]); err != nil {
			return nil, err
		}
		b = append(b, v.Bytes()...)
	}
	return append(b, '}'), nil
}

// sampleKey reads a finished sample of an earlier run (OUT.partial) and
// checks that it belongs to these prompts.
func sampleKey(path string, texts []string, n int) partial.Key {
	return func(line []byte, ln int) (int, int, error) {
		var rec struct {
			Prompt      *string `json:"prompt"`
			PromptIndex *int    `json:"prompt_index"`
			SampleIndex *int    `json:"sample_index"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Prompt == nil || rec.PromptIndex == nil || rec.SampleIndex == nil {
			return 0, 0, fmt.Errorf("%s:%d: not a sample row (expected prompt, prompt_index and sample_index)", path, ln)
		}
		pi, si := *rec.PromptIndex, *rec.SampleIndex
		switch {
		case pi < 0 || pi >= len(texts):
			return 0, 0, fmt.Errorf("%s:%d: prompt_index %d, but --prompts has %d prompts: was it written for another prompts file?", path, ln, pi, len(texts))
		case *rec.Prompt != texts[pi]:
			return 0, 0, fmt.Errorf("%s:%d: prompt %d differs from the prompt of this run: was it written with other --prompts or --template?", path, ln, pi)
		case si < 0 || si >= n:
			return 0, 0, fmt.Errorf("%s:%d: sample_index %d, but -n is %d: resume with the -n of the first run", path, ln, si, n)
		}
		return pi, si, nil
	}
}

// sampleToFile samples every prompt n times into out, keeping each finished
// sample in out.partial as it finishes (see sampleNotes).
func sampleToFile(ctx context.Context, eng *sample.Engine, rows []promptRow, texts []string, prompts [][]int32, n int,
	p sample.Params, out string, resume bool, stderr io.Writer) error {
	pf, done, err := partial.Open(out, resume, sampleKey(partial.Path(out), texts, n), stderr)
	if err != nil {
		return err
	}
	defer pf.Close()
	// Prompts whose n samples all finished are not sampled again; the
	// others are sampled whole (same seed, same text).
	count := make([]int, len(rows))
	for _, d := range done {
		count[d.Prompt]++
	}
	var kept []partial.Row
	for _, d := range done {
		if count[d.Prompt] >= n {
			kept = append(kept, d)
		}
	}
	var reqs []sample.Request
	var reqPrompt []int // request index → prompt index
	for i := range rows {
		if count[i] < n {
			reqs = append(reqs, sample.Request{Prompt: prompts[i], N: n})
			reqPrompt = append(reqPrompt, i)
		}
	}
	if resume && len(done) > 0 {
		fmt.Fprintf(stderr, "resuming: %d of %d prompts already done (%d samples kept from %s)\n", len(rows)-len(reqs), len(rows), len(kept), partial.Path(out))
	}

	total := len(reqs) * n
	start := time.Now()
	var mu sync.Mutex
	finished, toks := 0, 0
	var writeErr error
	results := append([]partial.Row(nil), kept...)
	eng.OnFinish = func(s *sample.Sample) {
		mu.Lock()
		defer mu.Unlock()
		pi := reqPrompt[s.Request]
		rec := sampleRecord{Prompt: texts[pi], PromptIndex: pi, SampleIndex: s.Index, Completion: s.Text,
			Tokens: s.Tokens, LogProbs: s.LogProbs, FinishReason: s.FinishReason, PromptTokens: s.PromptTokens, CompletionTokens: len(s.Tokens)}
		line, err := marshalSample(rec, rows[pi])
		if err == nil {
			results = append(results, partial.Row{Prompt: pi, Sample: s.Index, Line: line})
			err = pf.Append(line)
		}
		if err != nil && writeErr == nil {
			writeErr = err
		}
		finished++
		toks += len(s.Tokens)
		if finished%max(1, total/50) == 0 || finished == total {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(finished) * float64(total-finished))
			fmt.Fprintf(stderr, "\r%s %d/%d samples  eta %s   ", progressBar(finished, total, 30), finished, total, eta.Round(time.Second))
		}
	}
	var genErr error
	if len(reqs) > 0 {
		_, genErr = eng.Generate(ctx, reqs, p)
		fmt.Fprintln(stderr)
	}
	if err := firstErr(writeErr, pf.Close(), genErr); err != nil {
		what := "stopped"
		if errors.Is(err, context.Canceled) {
			what = "interrupted"
		}
		return fmt.Errorf("%s: %w; the %d finished samples are kept in %s: rerun the same command with --resume to finish", what, err, len(results), partial.Path(out))
	}
	if err := pf.Finish(out, results); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "%d samples, %d new tokens in %s (%.0f tok/s) → %s\n", len(results), toks, el.Round(time.Millisecond), float64(toks)/el.Seconds(), out)
	return nil
}

// streamSamples streams one prompt's n samples to stdout one after another:
// the first live, each later one buffered until the ones before it are
// done, under a "--- sample i ---" header when n > 1.
func streamSamples(ctx context.Context, eng *sample.Engine, tok *tokenizer.Tokenizer, prompt []int32, n int, p sample.Params, stdout, stderr io.Writer) error {
	w := bufio.NewWriter(stdout)
	var mu sync.Mutex
	decs := make([]*tokenizer.Decoder, n)
	bufs := make([]strings.Builder, n) // text of samples not yet shown
	ended := make([]bool, n)
	current := 0 // the sample being shown live
	header := func(i int) {
		if n > 1 {
			if i > 0 {
				w.WriteString("\n")
			}
			fmt.Fprintf(w, "--- sample %d ---\n", i)
		}
	}
	header(0)
	w.Flush()
	for i := range decs {
		decs[i] = tok.NewDecoder(true)
	}
	eng.OnToken = func(_, index int, token int32) {
		mu.Lock()
		defer mu.Unlock()
		text := decs[index].Push(token)
		if index == current {
			w.WriteString(text)
			w.Flush()
		} else {
			bufs[index].WriteString(text)
		}
	}
	eng.OnFinish = func(s *sample.Sample) {
		mu.Lock()
		defer mu.Unlock()
		i := s.Index
		ended[i] = true
		rest := decs[i].Flush()
		if i != current {
			bufs[i].WriteString(rest)
			return
		}
		w.WriteString(rest)
		// Show the samples that finished while this one ran, then go live
		// on the next unfinished one.
		for current++; current < n; current++ {
			header(current)
			w.WriteString(bufs[current].String())
			bufs[current].Reset()
			if !ended[current] {
				break
			}
		}
		w.Flush()
	}
	res, err := eng.Generate(ctx, []sample.Request{{Prompt: prompt, N: n}}, p)
	mu.Lock()
	if current < n { // interrupted: show what the unfinished samples have
		for i := current; i < n; i++ {
			if i > current {
				header(i)
			}
			w.WriteString(bufs[i].String())
			if !ended[i] {
				w.WriteString(decs[i].Flush())
			}
		}
	}
	w.WriteString("\n")
	w.Flush()
	mu.Unlock()
	for _, s := range res {
		fmt.Fprintf(stderr, "[sample %d: %d tokens, %s]\n", s.Index, len(s.Tokens), s.FinishReason)
	}
	return err
}

func progressBar(done, total, width int) string {
	fill := width * done / max(total, 1)
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "]"
}
