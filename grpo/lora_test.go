package grpo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/testmodel"
	"github.com/r1go/r1/model"
)

// GRPO with LoRA and β > 0 loads no reference model: the reference
// log-probs are the policy's with the adapter switched off. At the first
// step the adapter (B = 0) is invisible, so the KL to the reference is
// exactly 0; after an update it is not. Checkpoints hold the adapter in
// PEFT's layout, not the model, and a resumed run continues exactly.
func TestLoRAGRPOUsesTheBaseAsReference(t *testing.T) {
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if _, err := testmodel.Write(modelDir, "qwen2", 3); err != nil {
		t.Fatal(err)
	}
	data := writeData(t, dir)
	c := testConfig(t, modelDir, data, filepath.Join(dir, "run"))
	c.Steps = 3
	c.LoRA.R, c.LoRA.Alpha, c.LoRA.Dropout, c.LoRA.TargetModules = 4, 8, 0.1, model.Targets{model.AllLinear}
	c.Optim.LR = 5e-2
	if c.Loss.Beta <= 0 {
		t.Fatal("the test needs β > 0")
	}
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Ref != nil || tr.Adapter == nil {
		t.Fatalf("LoRA GRPO: reference model loaded %v, adapter %v", tr.Ref != nil, tr.Adapter != nil)
	}
	if len(tr.Opt.Params) != len(tr.Adapter.Params()) {
		t.Fatalf("optimizer holds %d tensors, want the adapter's %d", len(tr.Opt.Params), len(tr.Adapter.Params()))
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := readMetrics(t, c.Out)
	if len(recs) != 3 {
		t.Fatalf("%d metric records", len(recs))
	}
	if kl := recs[0]["kl"].(float64); kl != 0 {
		t.Fatalf("step 1: KL %v to the adapter-disabled policy, want exactly 0 (B starts at zero)", kl)
	}
	if kl := recs[2]["kl"].(float64); !(kl > 0) {
		t.Fatalf("step 3: KL %v after two updates, want > 0", kl)
	}
	if tr.Adapter.Disabled {
		t.Fatal("the adapter was left disabled")
	}
	ck := filepath.Join(c.Out, "checkpoints", "step-3")
	for _, f := range []string{model.AdapterConfigFile, model.AdapterWeightsFile, "optimizer.safetensors"} {
		if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
			t.Errorf("checkpoint lacks %s", f)
		}
	}
	for _, f := range []string{"model.safetensors", "ref"} {
		if _, err := os.Stat(filepath.Join(ck, f)); err == nil {
			t.Errorf("LoRA checkpoint holds %s", f)
		}
	}

	part := c
	part.Out, part.Steps = filepath.Join(dir, "part"), 1
	tr1, _ := New(part, cpu.New())
	if err := tr1.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	part.Steps = 3
	tr2, _ := New(part, cpu.New())
	if ok, err := tr2.Resume(); err != nil || !ok {
		t.Fatalf("resume: %v %v", ok, err)
	}
	if err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := recs, readMetrics(t, part.Out)
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("step %d differs:\n%s\n%s", i+1, ja, jb)
		}
	}
}

func TestLoRAGRPORefusesRefRefresh(t *testing.T) {
	c := testConfig(t, "m", "d.jsonl", "out")
	c.LoRA.R, c.Loss.RefRefreshEvery = 8, 10
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "loss.ref_refresh_every") {
		t.Fatalf("ref_refresh_every with LoRA: %v", err)
	}
}
