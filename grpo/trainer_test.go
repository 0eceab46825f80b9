package grpo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/reward"
	_ "github.com/r1go/r1/reward/all"
)

// lengthParity is a test reward that varies with random completions, so a
// random policy gets non-zero advantages and the update path is exercised.
type lengthParity struct{}

func (lengthParity) Name() string { return "test-parity" }
func (lengthParity) Score(_ context.Context, s reward.Sample) (reward.Score, error) {
	return reward.Score{Value: float64(len(s.Completion) % 3)}, nil
}

func init() {
	reward.Register("test-parity", func(map[string]any) (reward.Func, error) { return lengthParity{}, nil })
}

func writeData(t *testing.T, dir string) string {
	p := filepath.Join(dir, "problems.jsonl")
	var b strings.Builder
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "{\"problem\": \"What is %d + %d?\", \"answer\": \"%d\", \"level\": %d}\n", i, i+3, 2*i+3, 1+i%3)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(t *testing.T, modelDir, data, out string) Config {
	c := Default()
	c.Model, c.Out = modelDir, out
	c.Data = DataConfig{Dataset: data, Template: "r1-zero"}
	c.Steps = 4
	c.PromptsPerStep = 2
	c.G = 3
	c.MicroBatch = 4
	c.Sampling.MaxNewTokens = 12
	c.Optim.LR = 1e-2
	c.Loss.Beta = 0.05
	c.Loss.NumIterations = 2 // exercises the clip and the old-policy pass
	c.Rewards = reward.Config{Rewards: []reward.Spec{{Name: "test-parity"}, {Name: "math"}, {Name: "format"}}}
	c.LogSamples = 2
	return c
}

func readMetrics(t *testing.T, out string) []map[string]any {
	f, err := os.Open(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "time")
		for k := range m {
			if strings.HasPrefix(k, "time/") || k == "tokens_per_s" {
				delete(m, k)
			}
		}
		recs = append(recs, m)
	}
	return recs
}

func TestRunWritesMetricsAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, modelDir, writeData(t, dir), filepath.Join(dir, "run"))
	c.Steps = 2
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := readMetrics(t, c.Out)
	if len(recs) != 2 {
		t.Fatalf("%d metric records", len(recs))
	}
	for _, k := range []string{"reward/mean", "reward/std", "reward/math/mean", "reward/format/mean", "accuracy", "format_rate",
		"completion/length_mean", "completion/length_min", "completion/length_max", "completion/truncated_ratio",
		"kl", "clip/low_fraction", "clip/high_fraction", "entropy", "grad_norm", "lr", "completion/reflection_rate", "loss"} {
		if _, ok := recs[1][k]; !ok {
			t.Errorf("metric %q missing from metrics.jsonl", k)
		}
	}
	for _, f := range []string{"config.yaml", "samples.jsonl", "checkpoints/step-2/model.safetensors", "checkpoints/step-2/config.json",
		"checkpoints/step-2/tokenizer.json", "checkpoints/step-2/optimizer.safetensors", "checkpoints/step-2/state.json"} {
		if _, err := os.Stat(filepath.Join(c.Out, f)); err != nil {
			t.Errorf("run dir lacks %s", f)
		}
	}
	if ev, _ := filepath.Glob(filepath.Join(c.Out, "events.out.tfevents.*")); len(ev) == 0 {
		t.Error("no TensorBoard events")
	}
}

// A run stopped after step 2 and resumed must produce exactly the steps
// 3..4 of an uninterrupted run, and the same final weights.
// A run stopped at step 2 and resumed reproduces the uninterrupted run,
// without a curriculum and with each kind (the resumed run continues the
// same schedule).
func TestResumeIsExact(t *testing.T) {
	for _, kind := range []string{"", "easy_to_hard", "pass_rate"} {
		t.Run("curriculum="+kind, func(t *testing.T) { testResumeIsExact(t, kind) })
	}
}

func testResumeIsExact(t *testing.T, kind string) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "llama", 5); err != nil {
		t.Fatal(err)
	}
	data := writeData(t, dir)
	full := testConfig(t, modelDir, data, filepath.Join(dir, "full"))
	full.Curriculum.Kind = kind
	full.Curriculum.FullAfter = 6 // independent of steps, which the interrupted run lowers
	tr, err := New(full, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	part := testConfig(t, modelDir, data, filepath.Join(dir, "part"))
	part.Steps = 2
	part.Curriculum.Kind = kind
	part.Curriculum.FullAfter = 6
	tr1, _ := New(part, cpu.New())
	if err := tr1.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	part.Steps = 4
	tr2, err := New(part, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	ok, err := tr2.Resume()
	if err != nil || !ok || tr2.StepsDone() != 2 {
		t.Fatalf("resume: ok %v err %v step %d", ok, err, tr2.StepsDone())
	}
	if err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := readMetrics(t, full.Out), readMetrics(t, part.Out)
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("records: %d uninterrupted, %d resumed", len(a), len(b))
	}
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("step %d differs:\n%s\n%s", i+1, ja, jb)
		}
	}
	if _, ok := a[3]["curriculum/skipped"]; ok != (kind != "") {
		t.Fatalf("curriculum metrics logged: %v, curriculum %q", ok, kind)
	}
	if a[3]["grad_norm"] == 0.0 {
		t.Fatal("no gradient flowed: the test would not catch a resume bug")
	}
	wa, _ := os.ReadFile(filepath.Join(full.Out, "checkpoints/step-4/model.safetensors"))
	wb, _ := os.ReadFile(filepath.Join(part.Out, "checkpoints/step-4/model.safetensors"))
	if string(wa) != string(wb) {
		t.Fatal("final weights differ between the resumed and the uninterrupted run")
	}
}

// With μ = 2 the second update sees ratios away from 1, and the clip
// fractions count it (they used to count only the first iteration, where
// the ratio is exactly 1, and were always 0).
func TestClipFractionsCountEveryIteration(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, modelDir, writeData(t, dir), filepath.Join(dir, "run"))
	c.Optim.LR = 5e-2 // a large first update, so the second one clips
	c.Loss.EpsLow, c.Loss.EpsHigh = 0.01, 0.01
	var clipped float64
	for _, m := range stepMetrics(t, c, cpu.New(), 3, nil) {
		clipped += m["clip/low_fraction"] + m["clip/high_fraction"]
		if f := m["clip/low_fraction"] + m["clip/high_fraction"]; f > 0.5 {
			t.Fatalf("clip fraction %v: at most the second of two iterations can clip", f)
		}
	}
	if clipped == 0 {
		t.Fatal("no clipping counted with μ = 2, a large step and ε = 0.01")
	}
}

// The math reward the run scores anyway is the math judge: its scores give
// the accuracy, and the judge is not run a second time. A math reward with
// params of its own is not the judge.
func TestAccuracyReusesTheJudgeReward(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, modelDir, writeData(t, dir), filepath.Join(dir, "run"))
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.judgedBy[data.TaskMath]; got != "math" {
		t.Fatalf("judgedBy %v, want math scored by the math reward", tr.judgedBy)
	}
	c.Rewards = reward.Config{Rewards: []reward.Spec{{Name: "math", Params: map[string]any{"field": "answer"}}, {Name: "format"}}}
	if tr, err = New(c, cpu.New()); err != nil {
		t.Fatal(err)
	}
	if len(tr.judgedBy) != 0 {
		t.Fatalf("a math reward with its own params stands in for the judge: %v", tr.judgedBy)
	}
}
