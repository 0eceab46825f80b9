package configs_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/grpo"
	_ "github.com/r1go/r1/reward/all"
)

// loadGRPO is how the CLI loads a GRPO config.
func loadGRPO(src string, sets []string) (grpo.Config, error) {
	c := grpo.Default()
	err := configs.Load(src, sets, &c)
	return c, err
}

// Every preset in configs/ must parse strictly and validate.
func TestPresetsValidate(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d presets", len(files))
	}
	for _, f := range files {
		c, err := loadGRPO("preset:"+strings.TrimSuffix(filepath.Base(f), ".yaml"), nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestSetOverridesAndErrors(t *testing.T) {
	c, err := loadGRPO("", []string{"model=m", "sampling.temperature=0.7", "loss.beta=0", "reward.rewards=[{name: countdown}]", "format_reward="})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sampling.Temperature != 0.7 || c.Loss.Beta != 0 || c.Rewards.Rewards[0].Name != "countdown" || c.Model != "m" {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ set, want string }{
		{"sampling.temprature=0.7", "temprature"},
		{"steps=many", "steps"},
		{"noequals", "key=value"},
		{"loss.epsilon_low=5", "loss.epsilon_low: must be in [0, 1]"},
		{"loss.epsilon_high=-0.1", "loss.epsilon_high: must be in [0, 10]"},
		{"loss.epsilon_low=.nan", "loss.epsilon_low"},
	} {
		c, err := loadGRPO("", []string{"model=m", bad.set})
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--set %s: err %v, want mention of %q", bad.set, err, bad.want)
		}
	}
	c, _ = loadGRPO("", []string{"model=m", "num_generations=1"})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "num_generations") {
		t.Errorf("G=1 validated: %v", err)
	}
	c, _ = loadGRPO("", []string{"model=m", "reward.rewards=[{name: nosuch}]", "format_reward="})
	if _, err := grpo.New(c, nil); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown reward: %v", err)
	}
	// An unknown reward is named before anything that depends on it.
	c, _ = loadGRPO("", []string{"model=m", "reward.rewards=[{name: nosuch}]"})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `unknown reward "nosuch"`) {
		t.Errorf("unknown reward with default format_reward: %v", err)
	}
}

// FuzzConfig: any YAML text and any --set override either load into a
// GRPO config or fail with an error; nothing panics, and what loads
// renders back to YAML that loads again.
func FuzzConfig(f *testing.F) {
	for _, name := range configs.Names() {
		data, err := configs.Get(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), "sampling.temperature=0.7")
	}
	f.Add("steps: [1, 2]\nloss: {beta: .inf}\n", "reward.rewards=[{name: math, weight: -1}]")
	f.Add("data:\n  dataset: !!binary AAAA\n", "a.b.c.d=")
	f.Add("&a [*a]", "=")
	f.Fuzz(func(t *testing.T, yamlText, set string) {
		c := grpo.Default()
		if err := configs.Decode([]byte(yamlText), &c); err != nil {
			return
		}
		if err := configs.Set(&c, []string{set}); err != nil {
			return
		}
		_ = c.Validate()
		y, err := configs.YAML(&c)
		if err != nil {
			t.Fatalf("a loaded config does not render: %v", err)
		}
		back := grpo.Default()
		if err := configs.Decode(y, &back); err != nil {
			t.Fatalf("a rendered config does not load back: %v\n%s", err, y)
		}
	})
}
