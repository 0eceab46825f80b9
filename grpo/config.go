// Package grpo trains a policy with Group Relative Policy Optimization
// (Shao et al. 2024, DeepSeekMath; the RL algorithm of DeepSeek-R1): for each
// prompt, G samples are scored by rule-based rewards, advantages are the
// rewards normalised within the group, and the policy maximises a clipped
// importance-weighted objective with a KL penalty to a frozen reference —
// no value model. Variants from DAPO (Yu et al. 2025) and Dr. GRPO (Liu et
// al. 2025) are options.
package grpo

import (
	"fmt"
	"math"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/reward"
)

// Config is a GRPO run. Every field has a YAML key; `r1 grpo --set
// key.sub=value` overrides any of them.
type Config struct {
	// Model is the Hugging Face checkpoint directory of the policy to train
	// (also the initial reference model).
	Model string `yaml:"model"`
	// Device is cpu, cuda or auto.
	Device string `yaml:"device"`
	// Out is the run directory (config.yaml, metrics.jsonl, samples.jsonl,
	// checkpoints/, TensorBoard events).
	Out string `yaml:"out"`
	// Seed drives data order and sampling; the same seed reproduces a run.
	Seed uint64 `yaml:"seed"`
	// Steps is the number of policy-update steps (one rollout each).
	Steps int `yaml:"steps"`

	Data DataConfig `yaml:"data"`
	// Curriculum schedules the prompts (off by default).
	Curriculum CurriculumConfig `yaml:"curriculum"`

	// PromptsPerStep prompts are sampled each step; each gets G completions.
	PromptsPerStep int `yaml:"prompts_per_step"`
	// G is the group size: completions per prompt (GRPO's G; R1 used 16).
	G int `yaml:"num_generations"`

	Sampling SamplingConfig `yaml:"sampling"`
	Loss     LossOptions    `yaml:"loss"`

	// MicroBatch bounds the sequences in one forward/backward pass; the
	// gradients of a rollout accumulate over micro-batches, so a big rollout
	// fits in memory.
	MicroBatch int `yaml:"micro_batch"`
	// SharePrompts lays each micro-batch out with one row per prompt: the
	// prompt once, then every sample of it as its own segment (the
	// prompt's last token and the completion) that attends to that one
	// copy, instead of one left-padded row per sample. The prompt's
	// forward and backward then run once per group instead of G times —
	// in R1-Zero's template the prompt is most of each sequence. The same
	// log-probs and gradients up to float rounding. CPU only until the
	// CUDA attention kernels take segment masks; elsewhere the padded
	// layout is used. Default true.
	SharePrompts bool `yaml:"share_prompts"`
	// GradientCheckpointing recomputes each decoder layer's activations in
	// the backward pass instead of keeping them (transformers'
	// gradient_checkpointing): a step keeps one layer's activations plus
	// one residual stream per layer, for one more forward pass per step;
	// the gradients are bit-identical.
	GradientCheckpointing bool `yaml:"gradient_checkpointing"`

	Optim    optim.AdamWConfig `yaml:"optimizer"`
	Schedule optim.Schedule    `yaml:"schedule"`

	// LoRA, when lora.r > 0, trains a low-rank adapter on the frozen policy
	// instead of the whole policy (Hu et al. 2021; keys documented at
	// model.LoRAConfig, shared with r1 sft). The reference model is then
	// the policy with the adapter switched off, as TRL and Unsloth compute
	// it: no second copy of the weights is loaded.
	LoRA model.LoRAConfig `yaml:"lora"`

	Rewards reward.Config `yaml:"reward"`
	// Routing, when set, scores each row with the rewards of its kind, as
	// R1's final stage mixed reasoning prompts (rule rewards) with general
	// prompts (reward models): row kind (reasoning, the default, or
	// general: a dataset row with "kind": "general") → reward label →
	// weight, replacing reward.rewards' weights. A kind's rows are scored
	// only by the rewards it lists; metrics add reward/KIND/mean and
	// reward/KIND/LABEL/mean. Unset: every reward scores every row.
	Routing map[string]map[string]float64 `yaml:"reward_routing,omitempty"`
	// FormatReward is the label of the reward whose value ≥ 1 counts a
	// sample as well formed (the format_rate metric). Accuracy needs no
	// key: it is the dataset's own correctness check (data.Judge), the one
	// evaluation uses.
	FormatReward string `yaml:"format_reward"`

	// SaveEvery writes a checkpoint every N steps (and at the end); 0 = end only.
	SaveEvery int `yaml:"save_every"`
	// KeepCheckpoints keeps the newest N checkpoints (0 = all).
	KeepCheckpoints int `yaml:"keep_checkpoints"`
	// LogSamples completions are written to samples.jsonl each step.
	LogSamples int `yaml:"log_samples"`
}

// DataConfig chooses the prompts.
type DataConfig struct {
	// Dataset is a name of the dataset registry (package data: gsm8k,
	// math500, aime24, amc23, countdown, humaneval, mbpp,
	// synthetic[:arithmetic|countdown|mixed[:DIFFICULTY]]) or a JSONL(.gz)
	// file with "problem"/"question"/"prompt" and "answer" fields
	// (Countdown rows: "nums", "target").
	Dataset string `yaml:"dataset"`
	// Split for built-ins that have one (train, test).
	Split string `yaml:"split"`
	// DataDir holds the built-in datasets (../shared/data layout).
	DataDir string `yaml:"data_dir"`
	// Template renders a row into a prompt: r1-zero (DeepSeek-R1 Table 1),
	// chat (the model's chat template), plain, countdown-base,
	// countdown-qwen-instruct (TinyZero).
	Template string `yaml:"template"`
	// Limit uses only the first N rows (0 = all).
	Limit int `yaml:"limit"`
	// MaxPromptTokens rejects longer prompts (0 = the model's context minus
	// max_new_tokens); SkipLongPrompts drops them instead of failing.
	MaxPromptTokens int  `yaml:"max_prompt_tokens"`
	SkipLongPrompts bool `yaml:"skip_long_prompts"`
}

// SamplingConfig is how rollouts are drawn.
type SamplingConfig struct {
	Temperature  float64 `yaml:"temperature"`
	TopP         float64 `yaml:"top_p"`
	TopK         int     `yaml:"top_k"`
	MinP         float64 `yaml:"min_p"`
	MaxNewTokens int     `yaml:"max_new_tokens"`
	// StopStrings end a completion early (kept in the text), e.g. "</answer>".
	StopStrings []string `yaml:"stop_strings"`
	// KVCacheDType is the rollout KV cache's storage: auto (the model's
	// dtype: f32 on the CPU, bf16 on the GPU) or bf16, which halves the
	// cache on the CPU (vLLM's kv_cache_dtype; rollouts then see keys and
	// values rounded to bfloat16, as GPU rollouts do; the loss recomputes
	// log-probs in full precision either way).
	KVCacheDType string `yaml:"kv_cache_dtype"`
}

// LossOptions are the GRPO objective's knobs.
type LossOptions struct {
	// Beta weighs the k3 KL penalty to the reference model (R1: 0.001;
	// DAPO and Dr. GRPO use 0, which loads no reference model).
	Beta float64 `yaml:"beta"`
	// EpsLow, EpsHigh clip the importance ratio (PPO's ε = 0.2; DAPO's
	// clip-higher raises EpsHigh to 0.28).
	EpsLow  float64 `yaml:"epsilon_low"`
	EpsHigh float64 `yaml:"epsilon_high"`
	// ScaleRewards: group (GRPO), batch, none (Dr. GRPO).
	ScaleRewards string `yaml:"scale_rewards"`
	// AdvEps is added to the standard deviation (1e-4 as in TRL).
	AdvEps float64 `yaml:"advantage_eps"`
	// Aggregation: sequence (GRPO), token (DAPO), constant (Dr. GRPO).
	Aggregation string `yaml:"loss_aggregation"`
	// NumIterations μ: policy updates per rollout (GRPO's μ; 1 makes the
	// ratio exactly 1 and the clip inactive).
	NumIterations int `yaml:"num_iterations"`
	// RefRefreshEvery copies the policy into the reference model every N
	// steps (0 = never; Kimi k1.5 / TRL sync_ref_model).
	RefRefreshEvery int `yaml:"ref_refresh_every"`
	// DynamicSampling drops groups whose rewards are all equal (no
	// gradient) and samples more prompts to refill the batch (DAPO), at most
	// MaxRefills extra rounds per step.
	DynamicSampling bool `yaml:"dynamic_sampling"`
	MaxRefills      int  `yaml:"max_refills"`
	// MaskTruncated excludes completions cut by max_new_tokens from the loss
	// (DAPO's overlong filtering).
	MaskTruncated bool `yaml:"mask_truncated"`
	// OverlongBuffer > 0 adds DAPO's soft overlong penalty over the last N
	// tokens before max_new_tokens to the reward.
	OverlongBuffer int `yaml:"overlong_buffer"`
}

// Default returns the defaults: R1-Zero-style GRPO (β 0.001 as in the R1
// paper, ε 0.2, μ 1, sequence aggregation) at a size that runs on a CPU.
func Default() Config {
	oc := optim.DefaultAdamW()
	oc.LR = 1e-6
	oc.WeightDecay = 0
	oc.Beta2 = 0.99
	return Config{
		Device:         "cpu",
		Out:            "runs/grpo",
		Seed:           1,
		Steps:          100,
		Data:           DataConfig{Dataset: "gsm8k", Split: "train", DataDir: "../shared/data", Template: "r1-zero"},
		Curriculum:     DefaultCurriculum(),
		PromptsPerStep: 8,
		G:              8,
		Sampling:       SamplingConfig{Temperature: 1, TopP: 1, MaxNewTokens: 512},
		Loss: LossOptions{Beta: 0.001, EpsLow: 0.2, EpsHigh: 0.2, ScaleRewards: "group", AdvEps: 1e-4,
			Aggregation: "sequence", NumIterations: 1, MaxRefills: 3},
		MicroBatch:   8,
		SharePrompts: true,
		Optim:        oc,
		Schedule:     optim.Schedule{Kind: "constant"},
		Rewards: reward.Config{Rewards: []reward.Spec{
			{Name: "math"}, {Name: "format"},
		}},
		FormatReward: "format",
		LogSamples:   4,
		LoRA:         model.DefaultLoRA(),
	}
}

// TrainerName implements configs.Trainer: presets for r1 grpo (and r1
// zero) say trainer: grpo, or nothing.
func (Config) TrainerName() string { return "grpo" }

// Validate checks the whole config and names the offending key.
func (c *Config) Validate() error {
	if c.G < 2 {
		return fmt.Errorf("num_generations: GRPO needs at least 2 samples per prompt, got %d", c.G)
	}
	return c.Check()
}

// Check validates what every RL trainer on this config shape needs (PPO
// too, which may draw one sample per prompt); Validate adds GRPO's rules.
func (c *Config) Check() error {
	_, _, kvErr := model.ParseKVCacheDType(c.Sampling.KVCacheDType)
	switch {
	case c.Model == "":
		return fmt.Errorf("model: a Hugging Face checkpoint directory is required")
	case c.Out == "":
		return fmt.Errorf("out: a run directory is required")
	case c.Steps <= 0:
		return fmt.Errorf("steps: must be > 0, got %d", c.Steps)
	case c.PromptsPerStep <= 0:
		return fmt.Errorf("prompts_per_step: must be > 0, got %d", c.PromptsPerStep)
	case c.G < 1:
		return fmt.Errorf("num_generations: must be ≥ 1, got %d", c.G)
	case c.MicroBatch <= 0:
		return fmt.Errorf("micro_batch: must be > 0, got %d", c.MicroBatch)
	case c.Sampling.MaxNewTokens <= 0:
		return fmt.Errorf("sampling.max_new_tokens: must be > 0, got %d", c.Sampling.MaxNewTokens)
	case kvErr != nil:
		return fmt.Errorf("sampling.kv_cache_dtype: %w", kvErr)
	case c.Sampling.Temperature <= 0:
		return fmt.Errorf("sampling.temperature: RL needs sampling, want > 0, got %g", c.Sampling.Temperature)
	case c.Loss.Beta < 0:
		return fmt.Errorf("loss.beta: must be ≥ 0, got %g", c.Loss.Beta)
	case !(c.Loss.EpsLow >= 0 && c.Loss.EpsLow <= 1):
		// The ratio is positive, so a low bound 1−ε below 0 means nothing:
		// ε_low = 1 already disables the low clip.
		return fmt.Errorf("loss.epsilon_low: must be in [0, 1] (PPO/GRPO use 0.2; 1 disables the low clip), got %g", c.Loss.EpsLow)
	case !(c.Loss.EpsHigh >= 0 && c.Loss.EpsHigh <= 10):
		return fmt.Errorf("loss.epsilon_high: must be in [0, 10] (PPO/GRPO use 0.2, DAPO's clip-higher 0.28), got %g", c.Loss.EpsHigh)
	case c.Loss.NumIterations <= 0:
		return fmt.Errorf("loss.num_iterations: must be ≥ 1, got %d", c.Loss.NumIterations)
	case c.Loss.OverlongBuffer < 0 || c.Loss.OverlongBuffer >= c.Sampling.MaxNewTokens && c.Loss.OverlongBuffer > 0:
		return fmt.Errorf("loss.overlong_buffer: must be in [0, max_new_tokens), got %d", c.Loss.OverlongBuffer)
	}
	if err := c.Curriculum.Validate(); err != nil {
		return err
	}
	if _, err := Advantages([]float64{0, 1}, 2, c.Loss.ScaleRewards, c.Loss.AdvEps); err != nil {
		return fmt.Errorf("loss.scale_rewards: %w", err)
	}
	if _, err := Weights([]int{1}, &LossConfig{Aggregation: c.Loss.Aggregation, MaxLen: c.Sampling.MaxNewTokens}); err != nil {
		return fmt.Errorf("loss.loss_aggregation: %w", err)
	}
	if err := c.Optim.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	if err := c.LoRA.Validate(); err != nil {
		return err
	}
	if c.LoRA.Enabled() && c.Loss.RefRefreshEvery > 0 {
		// The reference is the base under the adapter; refreshing it would
		// need a second model, which is what LoRA's reference avoids (TRL
		// refuses sync_ref_model with PEFT too).
		return fmt.Errorf("loss.ref_refresh_every: %d with lora.r > 0: the reference is the frozen base (the adapter switched off) and cannot be refreshed; set it to 0",
			c.Loss.RefRefreshEvery)
	}
	if c.Schedule.Kind != "constant" && c.Schedule.Total == 0 {
		c.Schedule.Total = c.Steps
	}
	if err := c.Schedule.Validate(); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if err := c.Rewards.Validate(); err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	labels := map[string]bool{}
	for i, s := range c.Rewards.Rewards {
		if !reward.Registered(s.Name) {
			return fmt.Errorf("reward.rewards[%d].name: unknown reward %q (known: %v)", i, s.Name, reward.Names())
		}
		labels[s.L()] = true
	}
	for kind, ws := range c.Routing {
		if kind != data.KindReasoning && kind != data.KindGeneral {
			return fmt.Errorf("reward_routing: kind %q: want %s or %s", kind, data.KindReasoning, data.KindGeneral)
		}
		if len(ws) == 0 {
			return fmt.Errorf("reward_routing.%s: no reward for this kind", kind)
		}
		for l, w := range ws {
			if !labels[l] {
				return fmt.Errorf("reward_routing.%s.%s: %q is not one of the rewards' labels", kind, l, l)
			}
			if math.IsNaN(w) || math.IsInf(w, 0) {
				return fmt.Errorf("reward_routing.%s.%s: weight must be finite, got %v", kind, l, w)
			}
		}
	}
	if c.FormatReward != "" && !labels[c.FormatReward] {
		return fmt.Errorf("format_reward: %q is not one of the rewards' labels", c.FormatReward)
	}
	return nil
}
