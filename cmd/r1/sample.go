package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

func init() {
	register(&command{
		name:    "sample",
		summary: "generate completions: stream one prompt to the terminal, or sample a JSONL file of prompts",
		run:     runSample,
	})
}

// sampleRecord is one line of --out.
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

func runSample(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("sample", "[--model DIR] (--prompt TEXT | --prompts FILE.jsonl --out samples.jsonl) [flags]", stderr)
	modelDir := fs.String("model", "", "Hugging Face model directory (default: the built-in tiny base model)")
	adapterDir := fs.String("adapter", "", "LoRA adapter directory (PEFT layout: adapter_config.json + adapter_model.safetensors) applied on top of --model")
	prompt := fs.String("prompt", "", "one prompt; its completion streams to stdout")
	promptsFile := fs.String("prompts", "", `JSONL file with a "prompt" field per line (sampled in one batch)`)
	out := fs.String("out", "", "write samples as JSONL here (atomically; one line per sample, in prompt then sample order)")
	n := fs.Int("n", 1, "samples per prompt (GRPO's G)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives byte-identical output")
	maxNew := fs.Int("max-new-tokens", 256, "stop a sample after this many generated tokens")
	temp := fs.Float64("temperature", 1.0, "sampling temperature; 0 = greedy")
	topP := fs.Float64("top-p", 1.0, "nucleus sampling: keep the most likely tokens up to this probability mass (1 = off)")
	topK := fs.Int("top-k", 0, "keep only the k most likely tokens (0 = off)")
	minP := fs.Float64("min-p", 0, "drop tokens less likely than min-p × the most likely one (0 = off)")
	stop := fs.String("stop", "", "comma-separated stop strings (e.g. </answer>)")
	useChat := fs.Bool("chat", false, "wrap each prompt in the model's chat template (user turn + generation prompt)")
	template := fs.String("template", "", "wrap each prompt in an r1 template: r1-zero, plain, chat")
	batch := fs.Int("batch", 64, "most sequences decoding at once (continuous batching)")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*prompt == "") == (*promptsFile == "") {
		fs.Usage()
		return fmt.Errorf("give exactly one of --prompt and --prompts")
	}
	if *promptsFile != "" && *out == "" {
		return fmt.Errorf("--prompts needs --out FILE.jsonl")
	}
	if *useChat {
		if *template != "" && *template != "chat" {
			return fmt.Errorf("--chat and --template %s contradict each other", *template)
		}
		*template = "chat"
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
	var texts []string
	if *prompt != "" {
		texts = []string{*prompt}
	} else {
		f, err := os.Open(*promptsFile)
		if err != nil {
			return err
		}
		err = jsonLines(f, func(line []byte, ln int) error {
			var rec struct {
				Prompt *string `json:"prompt"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				return fmt.Errorf("%s:%d: %w", *promptsFile, ln, err)
			}
			if rec.Prompt == nil {
				return fmt.Errorf("%s:%d: field \"prompt\" is missing", *promptsFile, ln)
			}
			texts = append(texts, *rec.Prompt)
			return nil
		})
		f.Close()
		if err != nil {
			return err
		}
	}
	reqs := make([]sample.Request, len(texts))
	for i, t := range texts {
		if *template != "" {
			if t, err = chat.Prompt(*template, chat.PromptInput{Question: t}, tmpl); err != nil {
				return err
			}
			texts[i] = t
		}
		ids := tok.Encode(t, true)
		if len(ids) == 0 {
			return fmt.Errorf("prompt %d is empty after tokenization", i+1)
		}
		reqs[i] = sample.Request{Prompt: ids, N: *n}
	}
	p := sample.Params{Temperature: *temp, TopP: *topP, TopK: *topK, MinP: *minP, MaxNewTokens: *maxNew, Seed: *seed,
		StopIDs: model.StopIDs(*modelDir, m.Config, tok.EOS), IncludeStopString: true}
	if *stop != "" {
		p.StopStrings = strings.Split(*stop, ",")
	}
	eng := &sample.Engine{Model: m, MaxBatch: max(*batch, *n), Decode: func(ids []int32) string { return tok.Decode(ids, true) }}

	if *prompt != "" { // stream one prompt's samples
		w := bufio.NewWriter(stdout)
		var mu sync.Mutex
		decs := map[int]*tokenizer.Decoder{}
		eng.OnToken = func(_, index int, token int32) {
			mu.Lock()
			defer mu.Unlock()
			d := decs[index]
			if d == nil {
				d = tok.NewDecoder(true)
				decs[index] = d
				if *n > 1 {
					fmt.Fprintf(w, "\n--- sample %d ---\n", index)
				}
			}
			w.WriteString(d.Push(token))
			w.Flush()
		}
		res, err := eng.Generate(ctx, reqs, p)
		for _, d := range decs {
			w.WriteString(d.Flush())
		}
		w.WriteString("\n")
		w.Flush()
		for _, s := range res {
			fmt.Fprintf(stderr, "[sample %d: %d tokens, %s]\n", s.Index, len(s.Tokens), s.FinishReason)
		}
		return err
	}

	total := len(reqs) * *n
	start := time.Now()
	done := 0
	eng.OnFinish = func(*sample.Sample) {
		done++
		if done%max(1, total/50) == 0 || done == total {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(done) * float64(total-done))
			fmt.Fprintf(stderr, "\r%s %d/%d samples  eta %s   ", progressBar(done, total, 30), done, total, eta.Round(time.Second))
		}
	}
	res, err := eng.Generate(ctx, reqs, p)
	fmt.Fprintln(stderr)
	if err != nil {
		return err
	}
	var buf strings.Builder
	var toks int
	for _, s := range res {
		rec := sampleRecord{Prompt: texts[s.Request], PromptIndex: s.Request, SampleIndex: s.Index, Completion: s.Text,
			Tokens: s.Tokens, LogProbs: s.LogProbs, FinishReason: s.FinishReason, PromptTokens: s.PromptTokens, CompletionTokens: len(s.Tokens)}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
		toks += len(s.Tokens)
	}
	if err := atomicfile.Write(*out, []byte(buf.String())); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "%d samples, %d tokens in %s (%.0f tok/s) → %s\n", len(res), toks, el.Round(time.Millisecond), float64(toks)/el.Seconds(), *out)
	return nil
}

func progressBar(done, total, width int) string {
	fill := width * done / max(total, 1)
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "]"
}
