package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/sample"
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
	LoRARank        int                `json:"lora_r,omitempty"`
	LoRATargets     string             `json:"lora_targets,omitempty"`
	LoRADropout     float64            `json:"lora_dropout,omitempty"`
	TrainableParams int64              `json:"trainable_params"`
	TrainTokPerS    float64            `json:"train_tok_per_s"`
	TrainBatch      int                `json:"train_batch"`
	TrainSeq        int                `json:"train_seq"`
	MFU             float64            `json:"mfu,omitempty"`
	RolloutTokPerS  map[string]float64 `json:"rollout_tok_per_s"`
	PeakHeapMB      float64            `json:"peak_heap_mb"`
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

func runBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[--device cpu] [--shape tiny10m] [--lora-r 16] [flags]", stderr)
	device := fs.String("device", "cpu", "compute device: cpu, cuda or auto")
	shape := fs.String("shape", "tiny10m", "architecture: "+strings.Join(sortedKeys(benchShapes), ", "))
	batch := fs.Int("batch", 8, "training batch size B")
	seq := fs.Int("seq", 256, "training sequence length T (DESIGN.md's GPU table uses 1024)")
	steps := fs.Int("steps", 3, "timed training steps (after one warm-up step)")
	rollout := fs.String("rollout-batch", "1,32", "comma-separated rollout batch sizes (empty: skip rollout)")
	prompt := fs.Int("prompt-len", 128, "rollout prompt length")
	newTokens := fs.Int("new-tokens", 512, "rollout tokens generated per sequence")
	peakFlops := fs.Float64("peak-tflops", 0, "device peak TFLOP/s for MFU (0: not reported)")
	loraR := fs.Int("lora-r", 0, "train a LoRA adapter of this rank on the frozen model instead of every weight (0: full training)")
	loraTargets := fs.String("lora-targets", "q_proj,v_proj", "with --lora-r: comma-separated target modules (PEFT names, or all-linear)")
	loraAlpha := fs.Float64("lora-alpha", 16, "with --lora-r: LoRA alpha")
	loraDropout := fs.Float64("lora-dropout", 0, "with --lora-r: LoRA dropout (masks drawn on the host and uploaded)")
	asJSON := fs.Bool("json", false, "print JSON only")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	spec, ok := benchShapes[*shape]
	if !ok {
		return fmt.Errorf("--shape %q: want one of %s", *shape, strings.Join(sortedKeys(benchShapes), ", "))
	}
	dev, err := openDevice(*device)
	if err != nil {
		return err
	}
	cfg, err := model.ParseConfig([]byte(spec))
	if err != nil {
		return err
	}
	m := model.New(cfg, dev, 1)
	res := benchResult{Shape: *shape, Device: dev.Name(), Params: cfg.NumParams(), TrainBatch: *batch, TrainSeq: *seq, RolloutTokPerS: map[string]float64{}}
	params := m.Params()
	if *loraR > 0 {
		lc := model.DefaultLoRA()
		lc.R, lc.Alpha, lc.Dropout, lc.TargetModules = *loraR, *loraAlpha, *loraDropout, strings.Split(*loraTargets, ",")
		a, err := m.AddLoRA(lc, 1)
		if err != nil {
			return fmt.Errorf("--lora-r/--lora-targets: %w", err)
		}
		params = a.Params()
		res.LoRARank, res.LoRATargets, res.LoRADropout = *loraR, *loraTargets, *loraDropout
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
	rows := make([][]int32, *batch)
	for i := range rows {
		rows[i] = make([]int32, *seq)
		for j := range rows[i] {
			rows[i][j] = int32(rng.IntN(cfg.VocabSize))
		}
	}
	b := model.NewBatch(rows, 0)
	b.Mask = nil
	target := model.NextTokenTargets(b)
	opt, err := optim.NewAdamW(optim.DefaultAdamW(), params)
	if err != nil {
		return err
	}
	tp := autograd.NewTape(dev)
	step := func() error {
		if _, _, err := m.LMLoss(tp, b, target, 1); err != nil {
			return err
		}
		tp.Backward()
		sampleMem()
		tp.Reset()
		_, err := opt.Step(1e-5, 1)
		return err
	}
	if !*asJSON {
		fmt.Fprintf(stderr, "training %s (%.1fM params, %.2fM trained) B=%d T=%d…\n", *shape, float64(res.Params)/1e6, float64(res.TrainableParams)/1e6, *batch, *seq)
	}
	if err := step(); err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < *steps; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	sec := time.Since(start).Seconds()
	res.TrainTokPerS = float64(*batch**seq**steps) / sec
	if *peakFlops > 0 {
		// 6·N FLOPs per token for the weights plus attention's 12·L·T·d.
		flops := 6*float64(res.Params) + 12*float64(cfg.Layers**seq*cfg.Heads*cfg.HeadDim)
		res.MFU = res.TrainTokPerS * flops / (*peakFlops * 1e12)
	}

	// Rollout: prompt of random tokens, new tokens sampled at T=1.
	for _, f := range strings.Split(*rollout, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		bs, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || bs <= 0 {
			return fmt.Errorf("--rollout-batch %q: want positive integers", *rollout)
		}
		reqs := make([]sample.Request, bs)
		for i := range reqs {
			reqs[i].Prompt = make([]int32, *prompt)
			for j := range reqs[i].Prompt {
				reqs[i].Prompt[j] = int32(rng.IntN(cfg.VocabSize))
			}
		}
		if !*asJSON {
			fmt.Fprintf(stderr, "rollout batch %d, %d new tokens…\n", bs, *newTokens)
		}
		e := &sample.Engine{Model: m, MaxBatch: bs, OnFinish: func(*sample.Sample) { sampleMem() }}
		start := time.Now()
		out, err := e.Generate(ctx, reqs, sample.Params{Temperature: 1, TopP: 1, MaxNewTokens: *newTokens, Seed: 1})
		if err != nil {
			return err
		}
		var toks int
		for _, s := range out {
			toks += len(s.Tokens)
		}
		res.RolloutTokPerS[strconv.Itoa(bs)] = float64(toks) / time.Since(start).Seconds()
	}
	res.PeakHeapMB = float64(peak) / (1 << 20)
	res.PeakRSSMB = float64(peakRSS()) / (1 << 20)
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
