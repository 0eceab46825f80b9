package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/configs"
	"github.com/r1go/r1/grpo"
	"github.com/r1go/r1/pipeline"
	"github.com/r1go/r1/ppo"
	"github.com/r1go/r1/rm"
	"github.com/r1go/r1/sft"
)

func parse(t *testing.T, text string) *pipeline.Spec {
	t.Helper()
	var s pipeline.Spec
	if err := configs.Decode([]byte(text), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// A reference to a stage that does not exist, a cycle, a self-reference,
// an unknown kind or key, and a reused name are rejected, naming the stage.
func TestResolveRejects(t *testing.T) {
	const pairs = "  - {name: prefs, kind: pairs, config: {synthetic: harmless, n: 4}}\n"
	for _, tc := range []struct{ name, text, want string }{
		{"missing stage", `stages:
  - {name: cold, kind: sft, config: {model: builtin:tiny, data: "${zero.samples}"}}
`, `stage cold: ${zero.samples} refers to stage "zero", which does not exist`},
		{"cycle", `stages:
  - {name: a, kind: sft, config: {model: "${b.output}", data: x.jsonl}}
  - {name: b, kind: sft, config: {model: "${a.output}", data: x.jsonl}}
`, "stage a: references form a cycle: a → b → a"},
		{"self", `stages:
  - {name: a, kind: sft, config: {model: "${a.output}", data: x.jsonl}}
`, "stage a: ${a.output} refers to the stage itself"},
		{"unknown output", "stages:\n" + pairs + `  - {name: r, kind: rm, config: {model: builtin:tiny, data: "${prefs.samples}"}}
`, `stage r: ${prefs.samples}: stage prefs (pairs) has no output "samples"`},
		{"unknown kind", `stages:
  - {name: p, kind: orpo, config: {}}
`, `stage p: kind "orpo": expected one of`},
		{"unknown key", "stages:\n" + pairs + `  - {name: r, kind: rm, config: {model: builtin:tiny, data: "${prefs.output}", stepz: 3}}
`, "stage r (rm): config: yaml: unmarshal errors:\n  line 3: field stepz not found"},
		{"name twice", "stages:\n" + pairs + pairs, "stage prefs: name used twice"},
		{"invalid config", `stages:
  - {name: s, kind: sft, config: {model: builtin:tiny}}
`, "stage s (sft): data: a JSONL file is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipeline.Resolve(parse(t, tc.text), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Stages run after the stages they read from, in the written order
// otherwise; references become the earlier stages' outputs; a change
// upstream changes the hashes downstream.
func TestResolveOrderAndReferences(t *testing.T) {
	text := `stages:
  - {name: rm, kind: rm, config: {model: builtin:tiny, data: "${prefs.output}", steps: 2}}
  - {name: other, kind: pairs, config: {synthetic: helpful, n: 4}}
  - {name: prefs, kind: pairs, config: {synthetic: harmless, n: N}}
`
	dir := t.TempDir()
	p, err := pipeline.Resolve(parse(t, strings.Replace(text, "N", "4", 1)), dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, s := range p.Stages {
		order = append(order, s.Name)
	}
	if got := strings.Join(order, ","); got != "prefs,rm,other" {
		t.Fatalf("order %s, want prefs,rm,other", got)
	}
	c, ok := p.Stage("rm").Config.(*rm.Config)
	if !ok || c.Data != filepath.Join(dir, "prefs", "pairs.jsonl") || c.Out != filepath.Join(dir, "rm") || c.Steps != 2 {
		t.Fatalf("rm stage config %#v", p.Stage("rm").Config)
	}
	p2, err := pipeline.Resolve(parse(t, strings.Replace(text, "N", "5", 1)), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"prefs", "rm"} {
		if p.Stage(name).Hash == p2.Stage(name).Hash {
			t.Errorf("stage %s: hash unchanged by a change in prefs", name)
		}
	}
	if p.Stage("other").Hash != p2.Stage("other").Hash {
		t.Errorf("stage other: hash changed by a stage it does not read")
	}
}

// Every pipeline preset resolves (what --dry-run prints), with each
// stage's block over its kind's defaults and the presets it names.
func TestPresetsDryRun(t *testing.T) {
	for _, name := range []string{"r1-tiny", "r1-qwen2.5-1.5b", "r1-distill-qwen"} {
		t.Run(name, func(t *testing.T) {
			spec, err := pipeline.LoadSpec(name)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			p, err := pipeline.Resolve(spec, dir)
			if err != nil {
				t.Fatal(err)
			}
			y, err := p.Describe()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range p.Stages {
				if !strings.Contains(string(y), "name: "+s.Name+"\n") || !strings.HasPrefix(s.Outputs["output"], dir) {
					t.Errorf("stage %s: output %s; plan:\n%s", s.Name, s.Outputs["output"], y)
				}
			}
		})
	}
	// The settings the real-scale presets cite.
	spec, err := pipeline.LoadSpec("r1-qwen2.5-1.5b")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Resolve(spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	zero := p.Stage("zero").Config.(*grpo.Config)
	if zero.Loss.Beta != 0.001 || zero.Optim.LR != 3e-6 || zero.G != 16 || zero.Sampling.MaxNewTokens != 32768 {
		t.Errorf("zero: β %g lr %g G %d max_new_tokens %d, want the R1 paper's 0.001, 3e-6, 16, 32768",
			zero.Loss.Beta, zero.Optim.LR, zero.G, zero.Sampling.MaxNewTokens)
	}
	ev := p.Stage("eval_final").Config.(*pipeline.EvalConfig)
	if ev.Temperature != 0.6 || ev.TopP != 0.95 || ev.MaxNewTokens != 32768 || ev.Label != "R1" {
		t.Errorf("eval_final: %+v, want T 0.6, top-p 0.95, 32768 tokens", ev)
	}
	if c := p.Stage("rs_sft").Config.(*sft.Config); c.Optim.LR != 1e-5 || c.Epochs != 2 {
		t.Errorf("rs_sft: lr %g epochs %d, want 1e-5 (open-r1) and 2 (R1 paper)", c.Optim.LR, c.Epochs)
	}
}

// --only runs one stage when the stages it reads from are done, and
// refuses otherwise; a finished stage is skipped until its config
// changes.
func TestOnlyAndStatus(t *testing.T) {
	text := `stages:
  - {name: a, kind: pairs, config: {synthetic: harmless, n: N}}
  - {name: b, kind: pairs, config: {from_scored: "${a.output}"}}
`
	dir := t.TempDir()
	p, err := pipeline.Resolve(parse(t, strings.Replace(text, "N", "4", 1)), dir)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background(), pipeline.Options{Only: "b"})
	if err == nil || !strings.Contains(err.Error(), "stage b needs stage a, which is not done (run)") {
		t.Fatalf("--only b before a: %v", err)
	}
	if err := p.Run(context.Background(), pipeline.Options{Only: "a"}); err != nil {
		t.Fatal(err)
	}
	if a, b := p.Status(p.Stage("a")), p.Status(p.Stage("b")); a != "done" || b != "run" {
		t.Fatalf("after --only a: a %s, b %s", a, b)
	}
	if err := p.Run(context.Background(), pipeline.Options{From: "zzz"}); err == nil || !strings.Contains(err.Error(), `no stage "zzz"`) {
		t.Fatalf("--from zzz: %v", err)
	}
	p2, err := pipeline.Resolve(parse(t, strings.Replace(text, "N", "6", 1)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st := p2.Status(p2.Stage("a")); st != "rerun (config changed)" {
		t.Fatalf("a with another n: %s", st)
	}
	for _, f := range []string{"pipeline.yaml", "report.md", "report.html", "a/pairs.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

// A ppo stage takes r1 ppo's config over a GRPO preset (the same shape
// plus ppo.*), and its trained policy is the output later stages read.
func TestPPOStage(t *testing.T) {
	text := `stages:
  - {name: base_rl, kind: ppo, preset: tiny-zero, config: {steps: 3, ppo: {critic: separate}}}
  - {name: after, kind: eval, config: {model: "${base_rl.output}", bench: synthetic, limit: 2}}
`
	dir := t.TempDir()
	p, err := pipeline.Resolve(parse(t, text), dir)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := p.Stage("base_rl").Config.(*ppo.Config)
	if !ok {
		t.Fatalf("ppo stage config is %T", p.Stage("base_rl").Config)
	}
	if c.Steps != 3 || c.PPO.Critic != "separate" || c.G != 16 || c.Out != filepath.Join(dir, "base_rl") {
		t.Errorf("ppo stage: steps %d, critic %q, G %d (tiny-zero's 16), out %s", c.Steps, c.PPO.Critic, c.G, c.Out)
	}
	want := filepath.Join(dir, "base_rl", "checkpoints", "step-3")
	if got := p.Stage("base_rl").Outputs["output"]; got != want {
		t.Errorf("ppo stage output %s, want %s", got, want)
	}
}
