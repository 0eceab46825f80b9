package ppo

import (
	"strings"
	"testing"

	"github.com/r1go/r1/configs"
)

// A GRPO preset loads as a PPO config (the same shape plus ppo.*), --set
// reaches both parts, unknown keys are refused, and Validate names the
// offending key.
func TestConfigLoadsGRPOPresetsAndValidates(t *testing.T) {
	c := Default()
	if err := configs.Load("preset:tiny-zero", []string{"model=m", "ppo.critic=separate", "ppo.gamma=0.99", "loss.num_iterations=3"}, &c); err != nil {
		t.Fatal(err)
	}
	if c.G != 16 || c.PPO.Critic != "separate" || c.PPO.Gamma != 0.99 || c.PPO.Lambda != 0.95 || c.Loss.NumIterations != 3 {
		t.Fatalf("loaded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := configs.Load("", []string{"ppo.gama=1"}, &c); err == nil || !strings.Contains(err.Error(), "gama") {
		t.Errorf("unknown key: %v", err)
	}
	for _, bad := range []struct{ set, key string }{
		{"ppo.critic=twin", "ppo.critic"},
		{"ppo.lambda=1.5", "ppo.lambda"},
		{"ppo.vf_coef=0", "ppo.vf_coef"},
		{"ppo.num_mini_batches=65", "ppo.num_mini_batches"},
		{"loss.dynamic_sampling=true", "loss.dynamic_sampling"},
		{"lora.r=4", "lora.r"},
		{"num_generations=0", "num_generations"},
		{"curriculum.kind=hardest", "curriculum.kind"},
	} {
		c := Default()
		c.Model = "m"
		if err := configs.Set(&c, []string{bad.set}); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), bad.key) {
			t.Errorf("%s: error %v, want one naming %s", bad.set, err, bad.key)
		}
	}
}
