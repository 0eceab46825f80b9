package grpo

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/reward"
)

// generalOnly scores 1 on a general row and −100 on any other, so a
// misrouted sample shows.
type generalOnly struct{}

func (generalOnly) Name() string { return "test-general" }
func (generalOnly) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	if s.Fields["kind"] == data.KindGeneral {
		return reward.Score{Value: 1, Parts: map[string]float64{reward.RawPart: 5}}, nil
	}
	return reward.Score{Value: -100}, nil
}

func init() {
	reward.Register("test-general", func(map[string]any) (reward.Func, error) { return generalOnly{}, nil })
}

func zero(s reward.Score) bool { return s.Value == 0 && s.Err == "" && s.Parts == nil }

func TestRouterScoresEachKindWithItsRewards(t *testing.T) {
	c := Default()
	c.Rewards = reward.Config{Rewards: []reward.Spec{{Name: "test-parity"}, {Name: "test-general"}, {Name: "format"}}}
	c.Routing = map[string]map[string]float64{data.KindReasoning: {"test-parity": 2, "format": 0.5}, data.KindGeneral: {"test-general": 3}}
	r, err := newRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	gen := map[string]any{"kind": "general"}
	samples := []reward.Sample{{Completion: "ab"}, {Completion: "x", Fields: gen}, {Completion: "<think>a</think><answer>1</answer>"}, {Completion: "y", Fields: gen}}
	kinds := []string{"reasoning", "general", "reasoning", "general"}
	res := r.score(context.Background(), samples, kinds)
	if fmt.Sprint(res.Labels) != "[test-parity test-general format]" {
		t.Fatalf("labels %v", res.Labels)
	}
	for i, s := range samples {
		sc := res.Scores[i]
		var want float64
		if kinds[i] == "general" {
			if sc[1].Value != 1 || !zero(sc[0]) || !zero(sc[2]) {
				t.Errorf("general sample %d: scores %+v", i, sc)
			}
			want = 3
		} else {
			if !zero(sc[1]) {
				t.Errorf("reasoning sample %d scored by the general reward: %+v", i, sc[1])
			}
			want = 2*float64(len(s.Completion)%3) + 0.5*sc[2].Value
		}
		if math.Abs(res.Total[i]-want) > 1e-12 {
			t.Errorf("sample %d (%s): total %v, want %v", i, kinds[i], res.Total[i], want)
		}
	}
	if !r.applies("general", 1) || r.applies("general", 0) || !r.applies("reasoning", 2) {
		t.Error("applies")
	}
}

func TestRoutingConfig(t *testing.T) {
	for _, c := range []struct {
		routing map[string]map[string]float64
		want    string
	}{
		{map[string]map[string]float64{"chat": {"math": 1}}, `kind "chat"`},
		{map[string]map[string]float64{"general": {}}, "no reward"},
		{map[string]map[string]float64{"general": {"nope": 1}}, `"nope" is not one of the rewards' labels`},
		{map[string]map[string]float64{"general": {"math": math.Inf(1)}}, "finite"},
	} {
		cfg := Default()
		cfg.Model = "m"
		cfg.Routing = c.routing
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.routing, err, c.want)
		}
	}
}

// A GRPO run on mixed reasoning and general rows: each kind is scored by
// its rewards only, metrics report each kind's means, accuracy counts the
// reasoning rows only; without routing general rows are refused.
func TestRunWithRouting(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "mixed.jsonl")
	var b strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&b, "{\"problem\": \"What is %d + %d?\", \"answer\": \"%d\"}\n{\"prompt\": \"Say something kind %d.\", \"kind\": \"general\"}\n", i, i+3, 2*i+3, i)
	}
	os.WriteFile(p, []byte(b.String()), 0o644)
	c := testConfig(t, modelDir, p, filepath.Join(dir, "run"))
	c.Steps, c.PromptsPerStep = 2, 4
	c.Rewards.Rewards = append(c.Rewards.Rewards, reward.Spec{Name: "test-general"})
	if _, err := New(c, cpu.New()); err == nil || !strings.Contains(err.Error(), "reward_routing") {
		t.Fatalf("general rows without routing: %v", err)
	}
	c.Routing = map[string]map[string]float64{"reasoning": {"math": 1, "format": 0.5, "test-parity": 1}, "general": {"test-general": 1}}
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := readMetrics(t, c.Out)
	for _, m := range ms {
		if m["reward/general/test-general/mean"] != 1.0 || m["reward/test-general/mean"] != 1.0 || m["reward/math/errors"] != 0.0 ||
			m["reward/test-general/raw_mean"] != 5.0 {
			t.Fatalf("a reward scored another kind's rows: %v", m)
		}
		if m["reward/general/fraction"] == nil || m["reward/reasoning/math/mean"] == nil || m["accuracy"] == nil {
			t.Fatalf("per-kind metrics missing: %v", m)
		}
		if _, ok := m["reward/reasoning/test-general/mean"]; ok {
			t.Fatalf("a reasoning mean for a general reward: %v", m)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(c.Out, "samples.jsonl"))
	if !strings.Contains(string(raw), `"kind":"general"`) || !strings.Contains(string(raw), `"kind":"reasoning"`) {
		t.Fatalf("samples.jsonl lacks kinds:\n%s", raw)
	}
}

// sampling.kv_cache_dtype takes auto, bf16 or f32, and names itself otherwise.
func TestKVCacheDTypeConfig(t *testing.T) {
	for _, c := range []struct {
		dtype string
		ok    bool
	}{{"", true}, {"auto", true}, {"bf16", true}, {"f32", true}, {"fp8", false}} {
		cfg := Default()
		cfg.Model = "m"
		cfg.Sampling.KVCacheDType = c.dtype
		err := cfg.Validate()
		if c.ok && err != nil || !c.ok && (err == nil || !strings.Contains(err.Error(), "sampling.kv_cache_dtype")) {
			t.Errorf("kv_cache_dtype %q: %v", c.dtype, err)
		}
	}
}
