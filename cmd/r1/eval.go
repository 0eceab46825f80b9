package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/r1go/r1/assets"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/eval"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

// defaultModelDir is the built-in tiny base model that --model defaults to
// (unpacked from the binary on first use); "" when it cannot be unpacked.
var defaultModelDir = func() string {
	dir, err := assets.TinyDir()
	if err != nil {
		return ""
	}
	return dir
}

func init() {
	register(&command{
		name:    "eval",
		summary: "evaluate a model on math, Countdown and code benchmarks: pass@1, pass@k, cons@k (resumable)",
		run:     runEval,
	})
}

func runEval(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "[--model DIR] [--bench gsm8k,math500,...|FILE.jsonl] [-k 16] [--out DIR]", stderr)
	modelDir := fs.String("model", "", "model directory (config.json, model.safetensors, tokenizer.json); default: the built-in tiny base model")
	adapterDir := fs.String("adapter", "", "LoRA adapter directory (PEFT layout: adapter_config.json + adapter_model.safetensors) applied on top of --model")
	tokPath := fs.String("tokenizer", "", "tokenizer.json or directory holding it (default: the model directory)")
	benches := fs.String("bench", "gsm8k,math500,aime24,amc23", "comma-separated benchmarks (their test split): "+strings.Join(data.Builtins(), ", ")+
		", or paths to JSONL files with problem and answer fields")
	k := fs.Int("k", 16, "samples per problem used by pass@k and cons@k")
	samples := fs.Int("samples", 0, "samples generated per problem (≥ k; 0 means k); more samples give a lower-variance pass@k estimate")
	temp := fs.Float64("temperature", 0.6, "sampling temperature (the R1 paper's default: 0.6)")
	topP := fs.Float64("top-p", 0.95, "nucleus sampling threshold (the R1 paper's default: 0.95)")
	topK := fs.Int("top-k", 0, "keep only the k most likely tokens (0: off)")
	maxNew := fs.Int("max-new-tokens", 32768, "longest completion in tokens, capped by the model's context")
	format := fs.String("prompt", "auto", "prompt format: chat (the model's chat template; math questions get DeepSeek's step-by-step \\boxed{} instruction), chat-bare (the chat template around the question alone, for models fine-tuned on bare questions such as r1 sft's cold start), r1-zero (the paper's template), plain, or auto (chat when the tokenizer has a template, else r1-zero)")
	dataDir := fs.String("data", "", "folder with the built-in benchmarks' files (default: $R1_DATA, ../shared/data or shared/data)")
	limit := fs.Int("limit", 0, "evaluate only the first N problems of each benchmark (0: all)")
	out := fs.String("out", "eval-out", "output directory: results.json, samples.jsonl (also the resume cache), report.md")
	fresh := fs.Bool("fresh", false, "discard cached results in --out computed with other settings instead of refusing")
	seed := fs.Uint64("seed", 0, "sampling seed; with the same seed a resumed or repeated run gives the same samples")
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	chunk := fs.Int("chunk", 0, "problems per generation batch (0: about 256 samples per batch); a kill loses at most one batch")
	maxBatch := fs.Int("max-batch", 64, "sequences decoded at once by the sampler")
	kvDType := kvCacheFlag(fs)
	workers := fs.Int("workers", 0, "concurrent scorers (0: number of CPUs)")
	sandbox := fs.String("code-sandbox", "auto", "sandbox for code benchmarks: auto, bwrap or namespaces")
	codeTimeout := fs.Float64("code-timeout", 20, "wall-clock limit in seconds for running one code sample's tests")
	progress := fs.Bool("progress", true, "draw a progress bar with ETA on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "r1 eval: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *samples == 0 {
		*samples = *k
	}
	if *k <= 0 || *samples < *k {
		return fmt.Errorf("-k %d --samples %d: expected k ≥ 1 and samples ≥ k", *k, *samples)
	}
	if *maxNew <= 0 {
		return fmt.Errorf("--max-new-tokens %d: expected a positive number", *maxNew)
	}
	if *modelDir == "" {
		if *modelDir = defaultModelDir(); *modelDir == "" {
			return errors.New("--model: no built-in model yet; pass --model DIR")
		}
	}
	if *tokPath == "" {
		*tokPath = *modelDir
	}
	if *dataDir == "" {
		*dataDir = data.FindDir()
	}

	var list []*data.Dataset
	seen := map[string]bool{}
	for _, spec := range strings.Split(*benches, ",") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		b, err := data.Open(spec, data.SplitTest, data.Options{Dir: *dataDir, Limit: *limit})
		if err != nil {
			return fmt.Errorf("--bench %s: %w", spec, err)
		}
		if seen[b.Name] {
			return fmt.Errorf("--bench: benchmark %s listed twice", b.Name)
		}
		seen[b.Name] = true
		list = append(list, b)
	}
	if len(list) == 0 {
		return errors.New("--bench: no benchmarks given")
	}

	tok, err := tokenizer.Load(*tokPath)
	if err != nil {
		return fmt.Errorf("--tokenizer: %w", err)
	}
	var tmpl *chat.Template
	if tok.ChatTemplate != "" {
		if tmpl, err = chat.FromTokenizerConfig(filepath.Dir(tokenizerFile(*tokPath))); err != nil {
			return fmt.Errorf("--tokenizer: %w", err)
		}
	}
	switch *format {
	case "auto":
		*format = "r1-zero"
		if tmpl != nil {
			*format = "chat"
		}
	case "chat", "chat-bare":
		if tmpl == nil {
			return fmt.Errorf("--prompt chat: the tokenizer at %s has no chat template; use --prompt r1-zero or plain", *tokPath)
		}
	case "r1-zero", "plain":
	default:
		return fmt.Errorf("--prompt %q: expected chat, chat-bare, r1-zero, plain or auto", *format)
	}

	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	m, err := model.Load(*modelDir, dev)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	if *adapterDir != "" {
		if _, err := m.LoadLoRA(*adapterDir); err != nil {
			return fmt.Errorf("--adapter: %w", err)
		}
	}
	kvType, err := kvCacheType(m, *kvDType)
	if err != nil {
		return err
	}
	kvSetting := "" // the model's own dtype: the settings (and their hash) of earlier runs
	if kvType != m.DType {
		kvSetting = strings.ToLower(kvType.String())
	}
	params := sample.Params{Temperature: *temp, TopP: *topP, TopK: *topK, MaxNewTokens: *maxNew, Seed: *seed,
		StopIDs: model.StopIDs(*modelDir, m.Config, tok.EOS)}
	if *format == "r1-zero" {
		// A base model prompted with the R1-Zero template has no reason to
		// stop after its answer; the closing tag ends the useful part.
		params.StopStrings, params.IncludeStopString = []string{"</answer>"}, true
	}
	if err := params.Validate(); err != nil {
		return err
	}
	absModel, err := filepath.Abs(*modelDir)
	if err != nil {
		return err
	}
	cfg := eval.Config{
		Settings: eval.Settings{Model: absModel, ModelStamp: modelStamp(*modelDir), Prompt: *format, K: *k, Samples: *samples, Temperature: *temp,
			TopP: *topP, TopK: *topK, MaxNewTokens: *maxNew, Seed: *seed, KVCacheDType: kvSetting},
		Out: *out, Fresh: *fresh, Chunk: *chunk, Workers: *workers, Template: tmpl,
		CodeParams: map[string]any{"sandbox": *sandbox, "timeout_s": *codeTimeout},
		Log:        stderr,
	}
	if *progress {
		cfg.Progress = stderr
	}
	gen := &eval.ModelGenerator{
		Engine:     &sample.Engine{Model: m, MaxBatch: *maxBatch, KVCacheDType: *kvDType},
		Tokenizer:  tok,
		Params:     params,
		AddSpecial: !eval.IsChatPrompt(*format),
	}
	// The weights stay packed across the evaluation's chunks of prompts
	// (each a Generate call) instead of being packed again for each.
	unpack := m.PackWeights()
	res, err := eval.Run(ctx, cfg, gen, list)
	unpack()
	if err != nil {
		return err
	}
	res.Table(stdout)
	fmt.Fprintf(stdout, "wrote %s, %s and %s in %s\n", eval.ResultsFile, eval.SamplesFile, eval.ReportFile, *out)
	return nil
}

// modelStamp fingerprints the weights by the names, sizes and modification
// times of the model's files: cheap, and it changes when a checkpoint is
// rewritten in place.
func modelStamp(dir string) string {
	var b strings.Builder
	for _, pat := range []string{"config.json", "*.safetensors", "model.safetensors.index.json"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				fmt.Fprintf(&b, "%s:%d:%d;", filepath.Base(f), st.Size(), st.ModTime().UnixNano())
			}
		}
	}
	return b.String()
}

// tokenizerFile returns the tokenizer.json path for a file or directory.
func tokenizerFile(p string) string {
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return filepath.Join(p, "tokenizer.json")
	}
	return p
}
