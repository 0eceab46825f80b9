package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/bench"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/train"
)

// benchShapes are the architectures of DESIGN.md's reference tables (GPU:
// llama-246m, qwen2.5-*; CPU: llama-7m, llama-112m, whose old name is
// llama-100m) plus the CPU-sized tiny10m (bench/torch/tiny10m_config.json).
var benchShapes = map[string]string{
	"llama-7m":     `{"model_type": "llama", "vocab_size": 2048, "hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 2048}`,
	"llama-112m":   `{"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 10, "num_attention_heads": 12, "num_key_value_heads": 4, "max_position_embeddings": 2048}`,
	"tiny10m":      `{"model_type": "llama", "vocab_size": 8192, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 6, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 32, "rms_norm_eps": 1e-5, "max_position_embeddings": 2048}`,
	"llama-100m":   `{"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 10, "num_attention_heads": 12, "num_key_value_heads": 4, "max_position_embeddings": 2048}`,
	"llama-246m":   `{"model_type": "llama", "vocab_size": 32000, "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 16, "num_attention_heads": 16, "num_key_value_heads": 16, "max_position_embeddings": 2048}`,
	"qwen2.5-0.5b": `{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "tie_word_embeddings": true, "rope_theta": 1000000, "max_position_embeddings": 32768}`,
	"qwen2.5-1.5b": `{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "tie_word_embeddings": true, "rope_theta": 1000000, "max_position_embeddings": 32768}`,
}

func init() {
	register(&command{
		name:    "bench",
		summary: "measure training tokens/s, rollout tokens/s and peak memory on random weights",
		run:     runBench,
	})
}

type benchResult struct {
	Shape  string `json:"shape"`
	Device string `json:"device"`
	Params int64  `json:"params"`
	// LoRARank > 0: the training figures are a LoRA adapter's (rank,
	// targets) on the frozen model; TrainableParams are what AdamW updates.
	LoRARank    int     `json:"lora_r,omitempty"`
	LoRATargets string  `json:"lora_targets,omitempty"`
	LoRADropout float64 `json:"lora_dropout,omitempty"`
	// GradientCheckpointing: the training figures recompute each layer's
	// activations in the backward pass.
	GradientCheckpointing bool    `json:"gradient_checkpointing,omitempty"`
	TrainableParams       int64   `json:"trainable_params"`
	TrainTokPerS          float64 `json:"train_tok_per_s"`
	TrainBatch            int     `json:"train_batch"`
	TrainSeq              int     `json:"train_seq"`
	// TrainGFLOPS is the training throughput in GFLOP/s, counted as
	// bench.TrainFLOPsPerToken counts a token.
	TrainGFLOPS    float64            `json:"train_gflops"`
	MFU            float64            `json:"mfu,omitempty"`
	RolloutTokPerS map[string]float64 `json:"rollout_tok_per_s"`
	PeakHeapMB     float64            `json:"peak_heap_mb"`
	// PeakRSSMB is the process's resident-set high-water mark (Linux's
	// VmHWM; 0 elsewhere): heap, stacks and the runtime's unreturned pages.
	PeakRSSMB float64 `json:"peak_rss_mb"`
	// Decode: greedy decoding from a short prompt, prefill timed apart
	// (--decode-batch).
	Decode []benchDecode `json:"decode,omitempty"`
	// KVCacheDType is the rollout and decode KV cache's storage (bf16, f32)
	// when --kv-cache-dtype named one; unset: the model's dtype.
	KVCacheDType string `json:"kv_cache_dtype,omitempty"`
	// PackS is the time to copy the weights into the GEMM's packed layout
	// that decoding reads (model.PackWeights), done once before the decode
	// runs and not counted in their prefill: r1 serve and r1 chat pack once
	// per model load, r1 sample and r1 eval once per call, an RL step once
	// per rollout. The rollout figures include it.
	PackS float64 `json:"pack_s,omitempty"`
	// Roofline is the CPU's ceilings (--roofline), measured after the runs;
	// DecodeWeightMB the weights a decode step reads (MB), which when they
	// fit in the last-level cache do not come from memory at all.
	Roofline       *cpu.Roofline `json:"roofline,omitempty"`
	DecodeWeightMB float64       `json:"decode_weight_mb,omitempty"`
}

// benchDecode is one decode batch size's figures: the prefill of every
// prompt, then tokens/s of the greedy steps after it.
type benchDecode struct {
	Batch         int     `json:"batch"`
	PrefillS      float64 `json:"prefill_s"`
	DecodeTokPerS float64 `json:"decode_tok_per_s"`
	// RooflineTokPerS (--roofline) is the fastest these steps could run
	// here: each step's FLOPs at the FMA peak or its bytes (the weights,
	// the KV cache at the steps' mean context) at the read bandwidth,
	// whichever takes longer (bench.RooflineTokPerS).
	RooflineTokPerS float64 `json:"roofline_tok_per_s,omitempty"`
}

// peakRSS is the process's peak resident set size in bytes, from
// /proc/self/status (0 where that does not exist).
func peakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchOptions are the flags of r1 bench.
type benchOptions struct {
	shape             string
	batch, seq, steps int
	rollouts          []int
	prompt, newTokens int
	peakFlops         float64
	quiet             bool
	// lora: train an adapter on the frozen model (r 0: every weight).
	lora model.LoRAConfig
	// gradCkpt recomputes each layer's activations in the backward pass.
	gradCkpt bool
	// decode: greedy decode batch sizes, each from a decodePrompt-token
	// prompt for decodeTokens timed steps after the prefill.
	decode                     []int
	decodePrompt, decodeTokens int
	// kvCache: the rollout and decode KV cache storage (--kv-cache-dtype),
	// and kvCacheDType the dtype it names when kvCacheSet (else the
	// model's).
	kvCache      string
	kvCacheDType tensor.DType
	kvCacheSet   bool
	// roofline: measure the CPU's ceilings after the runs (--roofline).
	roofline bool
}

func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[--device cpu] [--shape tiny10m] [--lora-r 16] [flags]", stderr)
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	shape := fs.String("shape", "tiny10m", "architecture: "+strings.Join(sortedKeys(benchShapes), ", "))
	batch := fs.Int("batch", 8, "training batch size B (≥ 1)")
	seq := fs.Int("seq", 256, "training sequence length T, from 2 to the shape's max positions (DESIGN.md's GPU table uses 1024)")
	steps := fs.Int("steps", 3, "timed training steps after one warm-up step (≥ 1)")
	rollout := fs.String("rollout-batch", "1,32", "comma-separated rollout batch sizes (empty: skip rollout)")
	prompt := fs.Int("prompt-len", 128, "rollout prompt length (≥ 1)")
	newTokens := fs.Int("new-tokens", 512, "rollout tokens generated per sequence (≥ 1)")
	peakFlops := fs.Float64("peak-tflops", 0, "device peak TFLOP/s for MFU (0: not reported)")
	loraR := fs.Int("lora-r", 0, "train a LoRA adapter of this rank on the frozen model instead of every weight (0: full training)")
	loraTargets := fs.String("lora-targets", "q_proj,v_proj", "with --lora-r: comma-separated target modules (PEFT names, or all-linear)")
	loraAlpha := fs.Float64("lora-alpha", 16, "with --lora-r: LoRA alpha")
	loraDropout := fs.Float64("lora-dropout", 0, "with --lora-r: LoRA dropout (masks drawn on the host and uploaded)")
	gradCkpt := fs.Bool("gradient-checkpointing", false, "train with gradient checkpointing: each layer's activations recomputed in the backward pass instead of kept (less memory, more compute)")
	vocab := fs.Int("vocab", 0, "override the shape's vocab_size (0: the shape's)")
	dim := fs.Int("dim", 0, "override the shape's hidden_size; head_dim becomes dim/heads (0: the shape's)")
	layers := fs.Int("layers", 0, "override the shape's num_hidden_layers (0: the shape's)")
	heads := fs.Int("heads", 0, "override the shape's num_attention_heads; head_dim becomes dim/heads (0: the shape's)")
	kvHeads := fs.Int("kv-heads", 0, "override the shape's num_key_value_heads (0: the shape's)")
	ffn := fs.Int("ffn", 0, "override the shape's intermediate_size (0: the shape's)")
	decodeBatch := fs.String("decode-batch", "", "comma-separated batch sizes for greedy decoding from a --decode-prompt-token prompt, the prefill timed apart (empty: none; with --compare-torch: 1,32)")
	decodePrompt := fs.Int("decode-prompt", 16, "greedy decode prompt length (≥ 1)")
	decodeTokens := fs.Int("decode-tokens", 128, "timed greedy decode steps after the prefill (≥ 1)")
	compare := fs.Bool("compare-torch", false, "also run the same training and greedy decoding in PyTorch on the CPU (--python, --torch-threads, OMP_WAIT_POLICY=PASSIVE), interleaved with r1's runs, and print the medians of --pairs pairs, the ratios, peak RSS, the CPU model and SIMD level; the sampled rollouts (--rollout-batch) are skipped")
	pairs := fs.Int("pairs", 3, "with --compare-torch: interleaved r1/PyTorch pairs (≥ 1) whose medians are reported")
	python := fs.String("python", "/usr/bin/python3", "with --compare-torch: the Python that imports torch (Debian's python3-torch is under /usr/bin/python3)")
	torchThreads := fs.Int("torch-threads", 2, "with --compare-torch: torch.set_num_threads (≥ 1)")
	asJSON := fs.Bool("json", false, "print JSON only")
	roofline := fs.Bool("roofline", false, "after the runs, measure the CPU's ceilings at the selected SIMD level on every core (float32 FMA peak, SGEMM 1024³, read bandwidth over 256 MB; about a second) and report training GFLOP/s against them and each greedy decode against its roofline (its FLOPs at the FMA peak or its bytes at the read bandwidth, whichever is slower; batch 1 is the memory-bandwidth floor); on with --compare-torch")
	kvDType := kvCacheFlag(fs)
	usageNotes(fs, "Ctrl-C or SIGTERM stops it at once (exit status 130/143); nothing is written.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	spec, ok := benchShapes[*shape]
	if !ok {
		return usageErrorf("--shape %q: want one of %s", *shape, strings.Join(sortedKeys(benchShapes), ", "))
	}
	cfg, err := benchConfig(spec, map[string]int{"vocab_size": *vocab, "hidden_size": *dim, "num_hidden_layers": *layers,
		"num_attention_heads": *heads, "num_key_value_heads": *kvHeads, "intermediate_size": *ffn})
	if err != nil {
		return usageErrorf("--shape %s with --vocab/--dim/--layers/--heads/--kv-heads/--ffn: %v", *shape, err)
	}
	o := benchOptions{shape: *shape, batch: *batch, seq: *seq, steps: *steps, prompt: *prompt, newTokens: *newTokens,
		peakFlops: *peakFlops, quiet: *asJSON, gradCkpt: *gradCkpt, decodePrompt: *decodePrompt, decodeTokens: *decodeTokens,
		kvCache: *kvDType, roofline: *roofline || *compare}
	if dt, set, err := model.ParseKVCacheDType(*kvDType); err != nil {
		return usageErrorf("--kv-cache-dtype: %v", err)
	} else if set && dt != tensor.F32 && *compare {
		return usageErrorf("--compare-torch times the same f32 work on both sides; drop --kv-cache-dtype %s", *kvDType)
	} else {
		o.kvCacheDType, o.kvCacheSet = dt, set
	}
	if *loraR > 0 {
		o.lora = model.DefaultLoRA()
		o.lora.R, o.lora.Alpha, o.lora.Dropout, o.lora.TargetModules = *loraR, *loraAlpha, *loraDropout, strings.Split(*loraTargets, ",")
	}
	if err := firstErr(
		flagRange("batch", int64(*batch), 1, 1<<20),
		flagRange("seq", int64(*seq), 2, int64(cfg.MaxPositions)),
		flagRange("steps", int64(*steps), 1, 1<<30),
		flagRange("prompt-len", int64(*prompt), 1, int64(cfg.MaxPositions)-1),
		flagRange("new-tokens", int64(*newTokens), 1, int64(cfg.MaxPositions-*prompt)),
		flagRange("decode-prompt", int64(*decodePrompt), 1, int64(cfg.MaxPositions)-2),
		flagRange("decode-tokens", int64(*decodeTokens), 1, int64(cfg.MaxPositions-*decodePrompt-1)),
		flagRange("pairs", int64(*pairs), 1, 1000),
		flagRange("torch-threads", int64(*torchThreads), 1, 1024),
	); err != nil {
		return err
	}
	if !(*peakFlops >= 0) || math.IsInf(*peakFlops, 0) {
		return usageErrorf("--peak-tflops %g: expected a number ≥ 0", *peakFlops)
	}
	if o.rollouts, err = benchBatches("rollout-batch", *rollout); err != nil {
		return err
	}
	if *compare && *decodeBatch == "" {
		*decodeBatch = "1,32"
	}
	if o.decode, err = benchBatches("decode-batch", *decodeBatch); err != nil {
		return err
	}
	if *compare {
		o.rollouts = nil
	}
	if err := benchFits(cfg, o); err != nil {
		return err
	}
	if *roofline && *device == "cuda" { // before opening it: the refusal does not depend on a driver
		return usageErrorf("--roofline measures the CPU; drop --device %s", *device)
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	if *compare && dev.Name() != "cpu" {
		return usageErrorf("--compare-torch compares with PyTorch on the CPU; drop --device %s", *device)
	}
	if *roofline && dev.Name() != "cpu" {
		return usageErrorf("--roofline measures the CPU; drop --device %s", *device)
	}
	// The work runs apart so that a signal ends the command at once, even
	// in the middle of a training step (nothing is lost: bench writes
	// nothing until the end).
	var res benchResult
	var cmp benchComparison
	ch := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if r := recover(); r != nil {
				err = &panicError{value: r, stack: debug.Stack()}
			}
			ch <- err
		}()
		if *compare {
			cmp, err = benchCompare(ctx, dev, cfg, o, torchOptions{python: *python, threads: *torchThreads, pairs: *pairs}, stderr)
		} else if res, err = benchRun(ctx, dev, cfg, o, stderr); err == nil && o.roofline {
			applyRoofline(&res, cfg, o, measureRoofline(o, stderr))
		}
	}()
	select {
	case err := <-ch:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if *compare {
		printComparison(stdout, cmp, *asJSON)
		return nil
	}
	if *asJSON {
		j, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(j))
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "shape\tdevice\tparams\ttrain tok/s (B=%d,T=%d)", *batch, *seq)
	keys := sortedKeys(res.RolloutTokPerS)
	for _, k := range keys {
		fmt.Fprintf(tw, "\trollout tok/s b=%s", k)
	}
	for _, d := range res.Decode {
		fmt.Fprintf(tw, "\tgreedy decode tok/s b=%d\tprefill ms b=%d", d.Batch, d.Batch)
	}
	if len(res.Decode) > 0 {
		fmt.Fprintf(tw, "\tpack ms")
	}
	fmt.Fprintf(tw, "\tpeak heap\tpeak RSS\n%s\t%s\t%.1fM\t%.0f", res.Shape, res.Device, float64(res.Params)/1e6, res.TrainTokPerS)
	for _, k := range keys {
		fmt.Fprintf(tw, "\t%.0f", res.RolloutTokPerS[k])
	}
	for _, d := range res.Decode {
		fmt.Fprintf(tw, "\t%.0f\t%.1f", d.DecodeTokPerS, d.PrefillS*1e3)
	}
	if len(res.Decode) > 0 {
		fmt.Fprintf(tw, "\t%.1f", res.PackS*1e3)
	}
	fmt.Fprintf(tw, "\t%.0f MB\t%.0f MB\n", res.PeakHeapMB, res.PeakRSSMB)
	tw.Flush()
	printRoofline(stdout, res)
	j, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", j)
	return nil
}

// benchConfig parses a shape's config with the non-zero overrides applied
// (HF key → value); a new hidden size or head count recomputes head_dim.
func benchConfig(spec string, overrides map[string]int) (*model.Config, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(spec), &raw); err != nil {
		return nil, err
	}
	for k, v := range overrides {
		if v < 0 {
			return nil, fmt.Errorf("%s %d: expected ≥ 0", k, v)
		}
		if v > 0 {
			raw[k] = v
			if k == "hidden_size" || k == "num_attention_heads" {
				delete(raw, "head_dim")
			}
		}
	}
	data, _ := json.Marshal(raw)
	return model.ParseConfig(data)
}

// benchBatches parses a comma-separated list of batch sizes (flag name for
// errors; empty items are skipped).
func benchBatches(name, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		bs, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || bs <= 0 || bs > 1<<16 {
			return nil, usageErrorf("--%s %q: item %q: expected integers from 1 to %d", name, list, f, 1<<16)
		}
		out = append(out, bs)
	}
	return out, nil
}

// benchFits refuses a benchmark whose training step or rollout KV cache
// cannot fit in memory, naming the flags: weights, gradients and AdamW
// moments (16 B per parameter) plus the activations the tape keeps.
func benchFits(c *model.Config, o benchOptions) error {
	mem, ok := model.HostMemory()
	if !ok {
		return nil
	}
	h, f, v := float64(c.Hidden), float64(c.Intermediate), float64(c.VocabSize)
	q, kv := float64(c.Heads*c.HeadDim), float64(c.KVHeads*c.HeadDim)
	t := float64(o.seq)
	perTok := float64(c.Layers)*(8*h+2*(q+2*kv)+5*f+float64(c.Heads)*t) + 3*v
	train := 16*float64(c.NumParams()) + 4*float64(o.batch)*t*perTok
	if train > float64(mem) {
		return usageErrorf("--batch %d × --seq %d on %s needs about %.1f GiB for a training step, but this machine has %.1f GiB; lower --batch or --seq",
			o.batch, o.seq, o.shape, train/(1<<30), float64(mem)/(1<<30))
	}
	for _, bs := range o.rollouts {
		cache := float64(bs) * float64(o.prompt+o.newTokens+16) * float64(c.Layers) * 2 * kv * 4
		if need := 4*float64(c.NumParams()) + cache; need > float64(mem) {
			return usageErrorf("--rollout-batch %d × (--prompt-len %d + --new-tokens %d) on %s needs about %.1f GiB, but this machine has %.1f GiB",
				bs, o.prompt, o.newTokens, o.shape, need/(1<<30), float64(mem)/(1<<30))
		}
	}
	return nil
}

// benchRun measures training and rollout throughput, checking ctx between
// steps.
func benchRun(ctx context.Context, dev tensor.Backend, cfg *model.Config, o benchOptions, stderr io.Writer) (benchResult, error) {
	res := benchResult{Shape: o.shape, Device: dev.Name(), Params: cfg.NumParams(), TrainBatch: o.batch, TrainSeq: o.seq, RolloutTokPerS: map[string]float64{}}
	if o.kvCacheSet {
		res.KVCacheDType = strings.ToLower(o.kvCacheDType.String())
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	m := model.New(cfg, dev, 1)
	m.GradientCheckpointing = o.gradCkpt
	res.GradientCheckpointing = o.gradCkpt
	params := m.Params()
	if o.lora.R > 0 {
		a, err := m.AddLoRA(o.lora, 1)
		if err != nil {
			return res, fmt.Errorf("--lora-r/--lora-targets: %w", err)
		}
		params = a.Params()
		res.LoRARank, res.LoRATargets, res.LoRADropout = o.lora.R, strings.Join(o.lora.TargetModules, ","), o.lora.Dropout
	}
	for _, p := range params {
		res.TrainableParams += int64(p.Var.Val.Numel())
	}
	var peak uint64
	sampleMem := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}

	// Training: forward + backward + AdamW on random tokens.
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]int32, o.batch)
	for i := range rows {
		rows[i] = make([]int32, o.seq)
		for j := range rows[i] {
			rows[i][j] = int32(rng.IntN(cfg.VocabSize))
		}
	}
	b := model.NewBatch(rows, 0)
	b.Mask = nil
	target := model.NextTokenTargets(b)
	opt, err := optim.NewAdamW(optim.DefaultAdamW(), params)
	if err != nil {
		return res, err
	}
	tp := autograd.NewTape(dev)
	defer train.GCTarget(cfg.WeightBytes())() // as the training core sets it, from the model's size
	step := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, _, err := m.LMLoss(tp, b, target, 1); err != nil {
			return err
		}
		tp.Backward()
		sampleMem()
		tp.Reset()
		_, err := opt.Step(1e-5, 1)
		return err
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "training %s (%.1fM params, %.2fM trained) B=%d T=%d…\n", o.shape, float64(res.Params)/1e6, float64(res.TrainableParams)/1e6, o.batch, o.seq)
	}
	if err := step(); err != nil {
		return res, err
	}
	start := time.Now()
	for i := 0; i < o.steps; i++ {
		if err := step(); err != nil {
			return res, err
		}
	}
	sec := time.Since(start).Seconds()
	res.TrainTokPerS = float64(o.batch*o.seq*o.steps) / sec
	res.TrainGFLOPS = res.TrainTokPerS * bench.TrainFLOPsPerToken(cfg, o.seq) / 1e9
	if o.peakFlops > 0 {
		res.MFU = res.TrainGFLOPS / (o.peakFlops * 1e3)
	}

	// Rollout: prompt of random tokens, new tokens sampled at T=1.
	for _, bs := range o.rollouts {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		reqs := make([]sample.Request, bs)
		for i := range reqs {
			reqs[i].Prompt = make([]int32, o.prompt)
			for j := range reqs[i].Prompt {
				reqs[i].Prompt[j] = int32(rng.IntN(cfg.VocabSize))
			}
		}
		if !o.quiet {
			fmt.Fprintf(stderr, "rollout batch %d, %d new tokens…\n", bs, o.newTokens)
		}
		e := &sample.Engine{Model: m, MaxBatch: bs, KVCacheDType: o.kvCache, OnFinish: func(*sample.Sample) { sampleMem() }}
		start := time.Now()
		out, err := e.Generate(ctx, reqs, sample.Params{Temperature: 1, TopP: 1, MaxNewTokens: o.newTokens, Seed: 1})
		if err != nil {
			return res, err
		}
		var toks int
		for _, s := range out {
			toks += len(s.Tokens)
		}
		res.RolloutTokPerS[strconv.Itoa(bs)] = float64(toks) / time.Since(start).Seconds()
	}
	if len(o.decode) > 0 {
		start := time.Now()
		unpack := m.PackWeights()
		res.PackS = time.Since(start).Seconds()
		defer unpack()
	}
	for _, bs := range o.decode {
		if !o.quiet {
			fmt.Fprintf(stderr, "greedy decode batch %d, %d-token prompt, %d timed steps…\n", bs, o.decodePrompt, o.decodeTokens)
		}
		d, err := benchGreedy(ctx, m, bs, o.decodePrompt, o.decodeTokens, o.kvCache, rng, sampleMem)
		if err != nil {
			return res, err
		}
		res.Decode = append(res.Decode, d)
	}
	res.PeakHeapMB = float64(peak) / (1 << 20)
	res.PeakRSSMB = float64(peakRSS()) / (1 << 20)
	return res, nil
}

// benchGreedy decodes bs random prompts of the given length greedily for
// steps tokens after the one the prefill picks, and times the prefill (every
// prompt's forward and first pick) apart from the steps — the work of
// compare.py's decode, so the two sides compare.
func benchGreedy(ctx context.Context, m *model.Model, bs, prompt, steps int, kvCache string, rng *rand.Rand, sampleMem func()) (benchDecode, error) {
	d := benchDecode{Batch: bs}
	reqs := make([]sample.Request, bs)
	for i := range reqs {
		reqs[i].Prompt = make([]int32, prompt)
		for j := range reqs[i].Prompt {
			reqs[i].Prompt[j] = int32(rng.IntN(m.Config.VocabSize))
		}
	}
	// Every prompt is prefilled (and picks its first token) before the
	// first decode step, so the bs-th token marks the end of the prefill.
	var tokens int
	var prefilled time.Time
	e := &sample.Engine{Model: m, MaxBatch: bs, KVCacheDType: kvCache, OnFinish: func(*sample.Sample) { sampleMem() },
		OnToken: func(int, int, int32) {
			if tokens++; tokens == bs {
				prefilled = time.Now()
			}
		}}
	start := time.Now()
	out, err := e.Generate(ctx, reqs, sample.Params{Temperature: 0, TopP: 1, MaxNewTokens: steps + 1, Seed: 1})
	end := time.Now()
	if err != nil {
		return d, err
	}
	for _, s := range out {
		if len(s.Tokens) != steps+1 {
			return d, fmt.Errorf("bench: greedy decode stopped after %d of %d tokens", len(s.Tokens), steps+1)
		}
	}
	d.PrefillS = prefilled.Sub(start).Seconds()
	d.DecodeTokPerS = float64(bs*steps) / end.Sub(prefilled).Seconds()
	return d, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// numeric keys sort numerically
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && lessKey(keys[j], keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func lessKey(a, b string) bool {
	ai, errA := strconv.Atoi(a)
	bi, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return ai < bi
	}
	return a < b
}

// measureRoofline measures the CPU's ceilings, saying so (it takes about a
// second).
func measureRoofline(o benchOptions, stderr io.Writer) cpu.Roofline {
	if !o.quiet {
		fmt.Fprintf(stderr, "measuring this CPU's ceilings (FMA peak, SGEMM 1024³, read bandwidth)…\n")
	}
	return cpu.MeasureRoofline()
}

// applyRoofline records roof in res and each greedy decode's roofline: its
// timed steps read the caches at a mean context of prompt + (steps+1)/2.
func applyRoofline(res *benchResult, cfg *model.Config, o benchOptions, roof cpu.Roofline) {
	res.Roofline = &roof
	kvBytes := 4 // the model's dtype on the CPU
	if o.kvCacheSet {
		kvBytes = o.kvCacheDType.Size()
	}
	peak := roof.FMAGFLOPS
	if peak == 0 { // no FMA probe at this level: the SGEMM rate is the best known
		peak = roof.SgemmGFLOPS
	}
	_, weights := bench.DecodeStep(cfg, 1, 0, kvBytes) // no context: the weights alone
	res.DecodeWeightMB = weights / 1e6
	ctx := float64(o.decodePrompt) + float64(o.decodeTokens+1)/2
	for i := range res.Decode {
		res.Decode[i].RooflineTokPerS = bench.RooflineTokPerS(cfg, res.Decode[i].Batch, ctx, kvBytes, peak, roof.ReadGBps)
	}
}

// printRoofline prints res's figures against the machine's ceilings, if
// measured.
func printRoofline(w io.Writer, res benchResult) {
	r := res.Roofline
	if r == nil {
		return
	}
	peak := "not measured at this level (decode rooflines use the SGEMM rate)"
	if r.FMAGFLOPS > 0 {
		peak = fmt.Sprintf("%.0f GFLOP/s", r.FMAGFLOPS)
	}
	fmt.Fprintf(w, "this CPU (%d cores, %s): FMA peak %s, SGEMM 1024³ %.0f GFLOP/s, read %.1f GB/s\n",
		r.Cores, r.SIMD, peak, r.SgemmGFLOPS, r.ReadGBps)
	fmt.Fprintf(w, "training: %.0f GFLOP/s = %.0f%% of SGEMM 1024³", res.TrainGFLOPS, 100*res.TrainGFLOPS/r.SgemmGFLOPS)
	if r.FMAGFLOPS > 0 {
		fmt.Fprintf(w, ", %.0f%% of the FMA peak", 100*res.TrainGFLOPS/r.FMAGFLOPS)
	}
	fmt.Fprintln(w)
	for _, d := range res.Decode {
		if d.RooflineTokPerS > 0 {
			fmt.Fprintf(w, "greedy decode b=%d: %.0f tok/s = %.2f of its roofline, %.0f tok/s\n", d.Batch, d.DecodeTokPerS, d.DecodeTokPerS/d.RooflineTokPerS, d.RooflineTokPerS)
		}
	}
	if len(res.Decode) > 0 && res.DecodeWeightMB*1e6 <= float64(r.CacheBytes) {
		fmt.Fprintf(w, "the weights a decode step reads (%.0f MB) fit in the last-level cache (%.0f MB): they need not come from memory, so decoding can beat the bandwidth part of its roofline\n",
			res.DecodeWeightMB, float64(r.CacheBytes)/1e6)
	}
}
