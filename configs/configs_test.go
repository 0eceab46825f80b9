package configs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/pipeline"
	_ "github.com/r1go/r1/reward/all"
	"github.com/r1go/r1/sft"
)

// loadGRPO is how the CLI loads a GRPO config.
func loadGRPO(src string, sets []string) (grpo.Config, error) {
	c := grpo.Default()
	err := configs.Load(src, sets, &c)
	return c, err
}

// validator is a trainer's config as the CLI fills it: defaults, then the
// preset, then Validate.
type validator interface {
	configs.Trainer
	Validate() error
}

// trainers are the configs a preset may be typed with.
var trainers = map[string]func() validator{
	"grpo": func() validator { c := grpo.Default(); return &c },
	"sft":  func() validator { c := sft.Default(); return &c },
	// r1 pipeline: the stages, each resolved into its own trainer's config.
	"pipeline": func() validator { return &pipeline.Spec{} },
}

// Every preset in configs/ must parse strictly and validate as a config of
// the trainer its trainer: line names (grpo when it has none), and be
// refused by every other trainer.
func TestPresetsValidate(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	if len(files) < 5 {
		t.Fatalf("found %d presets", len(files))
	}
	seen := map[string]int{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		trainer, err := configs.PresetTrainer(name)
		if err != nil {
			t.Fatal(err)
		}
		newConfig, ok := trainers[trainer]
		if !ok {
			t.Fatalf("%s: trainer %q has no config here", f, trainer)
		}
		seen[trainer]++
		c := newConfig()
		if err := configs.Load("preset:"+name, nil, c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for other, newOther := range trainers {
			if other == trainer {
				continue
			}
			if err := configs.Load(name, nil, newOther()); err == nil || !strings.Contains(err.Error(), "configures r1 "+trainer) {
				t.Errorf("%s (trainer %s) loaded as a %s config: %v", f, trainer, other, err)
			}
		}
	}
	if seen["grpo"] < 4 || seen["sft"] < 1 {
		t.Fatalf("presets by trainer: %v", seen)
	}
	// The cold-start preset is the built-in model's cold start.
	var c sft.Config = sft.Default()
	if err := configs.Load("cold-start", nil, &c); err != nil || c.Model != "builtin:tiny" || !c.ColdStart.Enabled() || !c.Eval.Enabled() {
		t.Fatalf("cold-start preset: %v %+v", err, c)
	}
}

// The trainer: line is blanked, not removed: decoding errors keep the
// file's line numbers. A user's file without one (config.yaml of a run,
// --print-config output) loads into any trainer's config; one with it
// only into that trainer's.
func TestTrainerLine(t *testing.T) {
	name, rest := configs.CutTrainer([]byte("# comment\ntrainer: sft   # typed\nepochs: many\n"))
	if name != "sft" || string(rest) != "# comment\n\nepochs: many\n" {
		t.Fatalf("CutTrainer: %q %q", name, rest)
	}
	c := sft.Default()
	err := configs.Decode(rest, &c)
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("decoding error %v, want one at line 3", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("epochs: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := configs.Load(path, nil, &c); err != nil || c.Epochs != 2 {
		t.Fatalf("an untyped file: %v, epochs %d", err, c.Epochs)
	}
	if err := os.WriteFile(path, []byte("trainer: sft\nepochs: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := grpo.Default()
	if err := configs.Load(path, nil, &g); err == nil || !strings.Contains(err.Error(), "configures r1 sft") {
		t.Fatalf("an SFT file loaded as a GRPO config: %v", err)
	}
	if n, _ := configs.CutTrainer([]byte("model: m\n")); n != "" {
		t.Fatalf("a trainer found in %q", "model: m")
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
