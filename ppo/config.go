// Package ppo trains a policy with Proximal Policy Optimization (Schulman
// et al. 2017) as RLHF applies it to language models (Ziegler et al. 2019,
// Ouyang et al. 2022; TRL's PPOTrainer, OpenRLHF): a critic estimates the
// value of every prefix, the per-token reward is the rule (or reward-model)
// score at the last token minus β times the KL to a frozen reference,
// advantages come from GAE(γ, λ) and are whitened, and the policy and the
// value function are trained with clipped losses for several epochs over
// mini-batches of each rollout. GRPO (package grpo) is the critic-free
// baseline DeepSeek-R1 chose instead: this package exists to measure that
// choice. Rollouts, rewards, data and metrics are grpo.Source's, the
// training loop the core's (package train).
package ppo

import (
	"fmt"

	"github.com/r1go/r1/grpo"
)

// Config is a PPO run: the GRPO config shape (model, data, sampling,
// rewards, optimizer, …, every key of r1 grpo) plus the ppo section. Of
// the loss section PPO reads beta (the KL coefficient of the per-token
// reward), epsilon_low/epsilon_high (the policy clip) and num_iterations
// (PPO epochs over each rollout), mask_truncated and overlong_buffer;
// scale_rewards, loss_aggregation and advantage_eps are GRPO's and unread
// (PPO whitens advantages and averages its losses over a mini-batch's
// tokens), so a GRPO preset runs under r1 ppo unchanged; dynamic sampling
// and the reference refresh are refused.
type Config struct {
	grpo.Config `yaml:",inline"`
	PPO         Options `yaml:"ppo"`
}

// Options are PPO's own keys.
type Options struct {
	// Critic is where values come from: "head" (a scalar head on the
	// policy's trunk, TRL's v_head layout: one forward serves both, the
	// trunk learns from both losses) or "separate" (a second model with a
	// value head, trained alongside: twice the weights, the classic
	// InstructGPT setting).
	Critic string `yaml:"critic"`
	// CriticModel is the checkpoint the separate critic starts from
	// ("" = model). A checkpoint without a value head gets a fresh one.
	CriticModel string `yaml:"critic_model"`
	// Gamma discounts later rewards; Lambda is GAE's bias/variance knob.
	Gamma  float64 `yaml:"gamma"`
	Lambda float64 `yaml:"lambda"`
	// WhitenAdvantages normalises the batch's advantages to mean 0, std 1.
	WhitenAdvantages bool `yaml:"whiten_advantages"`
	// ClipRangeValue clips the new value to old ± c in the value loss (0 =
	// no clipping).
	ClipRangeValue float64 `yaml:"cliprange_value"`
	// VFCoef weighs the value loss against the policy loss.
	VFCoef float64 `yaml:"vf_coef"`
	// MiniBatches splits each rollout into this many mini-batches per
	// epoch, each one optimizer update (micro_batch still bounds a
	// forward pass).
	MiniBatches int `yaml:"num_mini_batches"`
}

// Default is TRL's PPO settings (γ 1, λ 0.95, KL coefficient 0.05, 4
// epochs, value clip 0.2, vf_coef 0.1, whitened advantages) on GRPO's
// defaults, with one sample per prompt as PPO draws them.
func Default() Config {
	c := Config{Config: grpo.Default()}
	c.Out = "runs/ppo"
	c.G = 1
	c.PromptsPerStep = 64
	c.Loss.Beta = 0.05
	c.Loss.NumIterations = 4
	c.PPO = Options{Critic: "head", Gamma: 1, Lambda: 0.95, WhitenAdvantages: true, ClipRangeValue: 0.2, VFCoef: 0.1, MiniBatches: 4}
	return c
}

// Validate checks the config and names the offending key.
func (c *Config) Validate() error {
	if err := c.Config.Check(); err != nil {
		return err
	}
	o := c.PPO
	switch {
	case o.Critic != "head" && o.Critic != "separate":
		return fmt.Errorf("ppo.critic: want head or separate, got %q", o.Critic)
	case o.CriticModel != "" && o.Critic != "separate":
		return fmt.Errorf("ppo.critic_model: %q is set but ppo.critic is %q (set ppo.critic=separate)", o.CriticModel, o.Critic)
	case !(o.Gamma >= 0 && o.Gamma <= 1):
		return fmt.Errorf("ppo.gamma: must be in [0, 1], got %g", o.Gamma)
	case !(o.Lambda >= 0 && o.Lambda <= 1):
		return fmt.Errorf("ppo.lambda: must be in [0, 1], got %g", o.Lambda)
	case !(o.ClipRangeValue >= 0):
		return fmt.Errorf("ppo.cliprange_value: must be ≥ 0 (0 = no clipping), got %g", o.ClipRangeValue)
	case !(o.VFCoef > 0):
		return fmt.Errorf("ppo.vf_coef: must be > 0 (the critic must learn), got %g", o.VFCoef)
	case o.MiniBatches < 1:
		return fmt.Errorf("ppo.num_mini_batches: must be ≥ 1, got %d", o.MiniBatches)
	case o.MiniBatches > c.PromptsPerStep*c.G:
		return fmt.Errorf("ppo.num_mini_batches: %d mini-batches of a %d-sample rollout (prompts_per_step × num_generations)", o.MiniBatches, c.PromptsPerStep*c.G)
	case c.LoRA.Enabled():
		return fmt.Errorf("lora.r: PPO with a LoRA adapter is not supported yet (the value head would train outside the adapter); set lora.r=0")
	case c.Loss.RefRefreshEvery != 0:
		return fmt.Errorf("loss.ref_refresh_every: not used by PPO, leave it 0")
	case c.Loss.DynamicSampling:
		return fmt.Errorf("loss.dynamic_sampling: a GRPO option (groups of equal rewards carry no GRPO signal; PPO's critic still learns from them); leave it false")
	}
	return nil
}
