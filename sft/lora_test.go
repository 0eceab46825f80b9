package sft

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/safetensors"
)

func loraTestConfig(dir, data, out string) Config {
	c := testConfig(dir, data, out)
	c.LoRA.R, c.LoRA.Alpha, c.LoRA.TargetModules = 8, 16, model.Targets{model.AllLinear}
	c.Optim.LR = 1e-2 // adapters want a larger step than full fine-tuning
	return c
}

// LoRA SFT on the tiny model: the optimizer holds the adapter only, the
// base weights stay as loaded, the training loss falls, and the run ends
// with the adapter in PEFT's layout (and the tokenizer) in the run
// directory, which loads back on the base.
func TestLoRASFTLearns(t *testing.T) {
	dir := t.TempDir()
	c := loraTestConfig(dir, writeRows(t, dir, 48), filepath.Join(dir, "run"))
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Adapter == nil || len(tr.Opt.Params) != len(tr.Adapter.Params()) {
		t.Fatalf("optimizer holds %d tensors; want the adapter's only", len(tr.Opt.Params))
	}
	base, err := safetensors.OpenModel(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	for _, p := range tr.Model.Params() {
		st, _ := base.Tensor(p.Name)
		want, _ := st.Float32()
		if !slices.Equal(tr.Model.Dev.Download(p.Var.Val), want) || p.Var.Grad != nil {
			t.Fatalf("base weight %s changed or got a gradient buffer", p.Name)
		}
	}
	recs := metricsOf(t, c.Out)
	first, last := recs[0]["loss"].(float64), recs[len(recs)-1]["loss"].(float64)
	t.Logf("LoRA SFT (%d adapter weights): loss %.3f → %.3f in %d steps", tr.Adapter.NumParams(), first, last, len(recs))
	if !(last < 0.5*first) {
		t.Fatalf("training loss %.3f → %.3f: not learned", first, last)
	}
	for _, f := range []string{model.AdapterConfigFile, model.AdapterWeightsFile, "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(c.Out, f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(c.Out, "model.safetensors")); err == nil {
		t.Error("a LoRA run saved the whole model")
	}
	m, err := model.Load(tinyDir, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.LoadLoRA(c.Out)
	if err != nil {
		t.Fatal(err)
	}
	if a.BaseModel != tinyDir || len(a.Modules) != len(tr.Adapter.Modules) {
		t.Fatalf("saved adapter: base %q, %d modules", a.BaseModel, len(a.Modules))
	}
}

// A LoRA SFT run (with dropout) interrupted and resumed continues exactly:
// the same metrics, adapter and optimizer state as an uninterrupted run.
func TestLoRASFTResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	data := writeRows(t, dir, 30)
	full := loraTestConfig(dir, data, filepath.Join(dir, "full"))
	full.Steps, full.MicroBatch, full.Accumulation, full.EvalEvery, full.LoRA.Dropout = 6, 2, 2, 0, 0.1
	run := func(c Config, resume bool) {
		tr, err := New(c, cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		if resume {
			if ok, err := tr.Resume(); err != nil || !ok || tr.StepsDone() != 3 {
				t.Fatalf("resume: %v %v %d", ok, err, tr.StepsDone())
			}
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	run(full, false)
	part := full
	part.Out, part.Steps = filepath.Join(dir, "part"), 3
	part.Schedule.Total = 6
	run(part, false)
	part.Steps = 6
	run(part, true)
	a, b := metricsOf(t, full.Out), metricsOf(t, part.Out)
	if len(a) != 6 || len(b) != 6 {
		t.Fatalf("%d and %d records", len(a), len(b))
	}
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("step %d:\n%s\n%s", i+1, ja, jb)
		}
	}
	for _, f := range []string{model.AdapterWeightsFile, "optimizer.safetensors"} {
		wa, _ := os.ReadFile(filepath.Join(full.Out, "checkpoints", "step-6", f))
		wb, _ := os.ReadFile(filepath.Join(part.Out, "checkpoints", "step-6", f))
		if len(wa) == 0 || string(wa) != string(wb) {
			t.Fatalf("%s differs between the resumed and the uninterrupted run", f)
		}
	}
}

func TestLoRAConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	c := loraTestConfig(dir, writeRows(t, dir, 8), filepath.Join(dir, "run"))
	c.LoRA.TargetModules = model.Targets{"qproj"}
	if _, err := New(c, cpu.New()); err == nil || !strings.Contains(err.Error(), "lora.target_modules") {
		t.Fatalf("typo in target_modules: %v", err)
	}
	c.LoRA.TargetModules, c.LoRA.Dropout = model.Targets{"q_proj"}, 1.5
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "lora.dropout") {
		t.Fatalf("dropout 1.5: %v", err)
	}
}
