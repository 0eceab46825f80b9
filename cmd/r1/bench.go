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
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tensor"
)

// benchShapes are the architectures of DESIGN.md's reference table plus the
// CPU-sized tiny10m (bench/torch/tiny10m_config.json).
var benchShapes = map[string]string{
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
	GradientCheckpointing bool               `json:"gradient_checkpointing,omitempty"`
	TrainableParams       int64              `json:"trainable_params"`
	TrainTokPerS          float64            `json:"train_tok_per_s"`
	TrainBatch            int                `json:"train_batch"`
	TrainSeq              int                `json:"train_seq"`
	MFU                   float64            `json:"mfu,omitempty"`
	RolloutTokPerS        map[string]float64 `json:"rollout_tok_per_s"`
	PeakHeapMB            float64            `json:"peak_heap_mb"`
	// PeakRSSMB is the process's resident-set high-water mark (Linux's
	// VmHWM; 0 elsewhere): heap, stacks and the runtime's unreturned pages.
	PeakRSSMB float64 `json:"peak_rss_mb"`
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
	asJSON := fs.Bool("json", false, "print JSON only")
	usageNotes(fs, "Ctrl-C or SIGTERM stops it at once (exit status 130/143); nothing is written.")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	spec, ok := benchShapes[*shape]
	if !ok {
		return usageErrorf("--shape %q: want one of %s", *shape, strings.Join(sortedKeys(benchShapes), ", "))
	}
	cfg, err := model.ParseConfig([]byte(spec))
	if err != nil {
		return err
	}
	o := benchOptions{shape: *shape, batch: *batch, seq: *seq, steps: *steps, prompt: *prompt, newTokens: *newTokens,
		peakFlops: *peakFlops, quiet: *asJSON, gradCkpt: *gradCkpt}
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
	); err != nil {
		return err
	}
	if !(*peakFlops >= 0) || math.IsInf(*peakFlops, 0) {
		return usageErrorf("--peak-tflops %g: expected a number ≥ 0", *peakFlops)
	}
	for _, f := range strings.Split(*rollout, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		bs, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || bs <= 0 || bs > 1<<16 {
			return usageErrorf("--rollout-batch %q: item %q: expected integers from 1 to %d", *rollout, f, 1<<16)
		}
		o.rollouts = append(o.rollouts, bs)
	}
	if err := benchFits(cfg, o); err != nil {
		return err
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	// The work runs apart so that a signal ends the command at once, even
	// in the middle of a training step (nothing is lost: bench writes
	// nothing until the end).
	type outcome struct {
		res benchResult
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		var oc outcome
		defer func() {
			if r := recover(); r != nil {
				oc.err = &panicError{value: r, stack: debug.Stack()}
			}
			ch <- oc
		}()
		oc.res, oc.err = benchRun(ctx, dev, cfg, o, stderr)
	}()
	var res benchResult
	select {
	case oc := <-ch:
		if oc.err != nil {
			return oc.err
		}
		res = oc.res
	case <-ctx.Done():
		return ctx.Err()
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
	fmt.Fprintf(tw, "\tpeak heap\tpeak RSS\n%s\t%s\t%.1fM\t%.0f", res.Shape, res.Device, float64(res.Params)/1e6, res.TrainTokPerS)
	for _, k := range keys {
		fmt.Fprintf(tw, "\t%.0f", res.RolloutTokPerS[k])
	}
	fmt.Fprintf(tw, "\t%.0f MB\t%.0f MB\n", res.PeakHeapMB, res.PeakRSSMB)
	tw.Flush()
	j, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", j)
	return nil
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
	if o.peakFlops > 0 {
		// 6·N FLOPs per token for the weights plus attention's 12·L·T·d.
		flops := 6*float64(res.Params) + 12*float64(cfg.Layers*o.seq*cfg.Heads*cfg.HeadDim)
		res.MFU = res.TrainTokPerS * flops / (o.peakFlops * 1e12)
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
		e := &sample.Engine{Model: m, MaxBatch: bs, OnFinish: func(*sample.Sample) { sampleMem() }}
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
	res.PeakHeapMB = float64(peak) / (1 << 20)
	res.PeakRSSMB = float64(peakRSS()) / (1 << 20)
	return res, nil
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
