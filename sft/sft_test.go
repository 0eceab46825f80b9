package sft

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/model"
)

// writeRows writes n prompt/completion rows the tiny model can memorise,
// plus chat rows, and returns the file.
func writeRows(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		a, c := 11+i*7%80, 23+i*13%70
		if i%3 == 0 {
			fmt.Fprintf(&b, `{"messages": [{"role": "user", "content": "What is %d + %d?"}, {"role": "assistant", "content": "<answer>%d</answer>"}]}`+"\n", a, c, a+c)
		} else {
			fmt.Fprintf(&b, `{"prompt": "What is %d + %d?", "completion": " <answer>%d</answer>"}`+"\n", a, c, a+c)
		}
	}
	p := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(dir, data, out string) Config {
	c := Default()
	c.Model, c.Data, c.Out = tinyDir, data, out
	c.Optim.LR = 3e-3
	c.MicroBatch = 8
	c.Epochs = 6
	c.EvalRows = 8
	c.EvalEvery = 5
	c.SaveEvery = 10
	return c
}

func metricsOf(t *testing.T, out string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for k := range m {
			if k == "time" || k == "tokens_per_s" {
				delete(m, k)
			}
		}
		recs = append(recs, m)
	}
	return recs
}

// SFT learns a small dataset it can memorise: the training loss falls to a
// fraction of its start, the held-out loss is reported and falls too, and
// the fine-tuned model is saved as a loadable directory.
func TestSFTLearnsAndReportsEvalLoss(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(dir, writeRows(t, dir, 48), filepath.Join(dir, "run"))
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Eval) != 8 || len(tr.Train) != 40 {
		t.Fatalf("split %d/%d", len(tr.Train), len(tr.Eval))
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveFinal(); err != nil {
		t.Fatal(err)
	}
	recs := metricsOf(t, c.Out)
	first, last := recs[0]["loss"].(float64), recs[len(recs)-1]["loss"].(float64)
	if !(last < 0.35*first) {
		t.Fatalf("training loss %.3f → %.3f: not learned", first, last)
	}
	var evals []float64
	for _, r := range recs {
		if v, ok := r["eval/loss"].(float64); ok {
			evals = append(evals, v)
		}
	}
	if len(evals) < 2 || !(evals[len(evals)-1] < evals[0]) {
		t.Fatalf("eval losses %v", evals)
	}
	for _, f := range []string{"model.safetensors", "config.json", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(c.Out, f)); err != nil {
			t.Errorf("fine-tuned model lacks %s", f)
		}
	}
	// The tiny base has no chat template; it was taught ChatML, so the
	// fine-tuned model carries that template and stops at <|im_end|>.
	tmpl, err := chat.FromTokenizerConfig(c.Out)
	if err != nil || !strings.Contains(tmpl.Source, "<|im_start|>") {
		t.Fatalf("fine-tuned model's chat template: %v", err)
	}
	imEnd, _ := tr.Tok.TokenID("<|im_end|>")
	if stops := model.StopIDs(c.Out, tr.Model.Config, tr.Tok.EOS); !slices.Contains(stops, imEnd) {
		t.Fatalf("stop ids %v lack <|im_end|> (%d)", stops, imEnd)
	}
}

// An SFT run interrupted and resumed from its checkpoint continues exactly:
// the same metrics and final weights as an uninterrupted run, packed or not.
func TestSFTResumeIsExact(t *testing.T) {
	for _, packing := range []bool{false, true} {
		t.Run(fmt.Sprint("packing=", packing), func(t *testing.T) {
			dir := t.TempDir()
			data := writeRows(t, dir, 30)
			full := testConfig(dir, data, filepath.Join(dir, "full"))
			full.Steps, full.Packing, full.MaxSeqLen, full.MicroBatch, full.EvalEvery = 6, packing, 64, 2, 0
			trA, err := New(full, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			if err := trA.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			part := full
			part.Out, part.Steps = filepath.Join(dir, "part"), 3
			part.Schedule.Total = 6 // the same schedule as the full run
			trB, err := New(part, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			if err := trB.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			part.Steps = 6
			trC, err := New(part, cpu.New())
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := trC.Resume(); err != nil || !ok || trC.StepsDone() != 3 {
				t.Fatalf("resume: %v %v %d", ok, err, trC.StepsDone())
			}
			if err := trC.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
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
			wa, _ := os.ReadFile(filepath.Join(full.Out, "checkpoints", "step-6", "model.safetensors"))
			wb, _ := os.ReadFile(filepath.Join(part.Out, "checkpoints", "step-6", "model.safetensors"))
			if len(wa) == 0 || string(wa) != string(wb) {
				t.Fatal("final weights differ")
			}
		})
	}
}

// Packing fills rows up to max_seq_len and never splits a sample.
func TestPackFillsRows(t *testing.T) {
	var samples []Sample
	for _, n := range []int{5, 9, 3, 7, 2, 8} {
		s := Sample{IDs: make([]int32, n), Loss: make([]bool, n)}
		for i := range s.Loss {
			s.Loss[i] = i > 0
		}
		samples = append(samples, s)
	}
	rows := Pack(samples, 12)
	var lens []int
	total := 0
	for _, r := range rows {
		lens = append(lens, len(r.IDs))
		total += len(r.IDs)
		for j := range r.IDs {
			if j > 0 && r.Segment[j] != r.Segment[j-1] && r.Positions[j] != 0 {
				t.Fatalf("positions do not restart at a new sample: %+v", r)
			}
		}
	}
	if fmt.Sprint(lens) != "[5 12 9 8]" || total != 34 {
		t.Fatalf("row lengths %v", lens)
	}
}

// With eval.dataset set, the model being trained is evaluated on that
// registry benchmark every eval.every steps and after the last, through
// package eval (r1 eval's files in OUT/eval/step-N), and the figures are
// in metrics.jsonl on those steps only; a bad eval key is named.
func TestSFTEvalOnBenchmark(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(dir, writeRows(t, dir, 24), filepath.Join(dir, "run"))
	c.Steps, c.EvalEvery = 3, 0
	c.Eval.Dataset, c.Eval.N, c.Eval.K, c.Eval.Every, c.Eval.MaxNewTokens = "synthetic", 3, 2, 2, 24
	tr, err := New(c, cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := metricsOf(t, c.Out)
	if len(recs) != 3 {
		t.Fatalf("%d metric records, want 3", len(recs))
	}
	key := "eval/" + tr.bench.Name + "/pass@1"
	for i, r := range recs {
		p, ok := r[key].(float64)
		if want := i+1 == 2 || i+1 == 3; ok != want || (ok && !(p >= 0 && p <= 1)) {
			t.Fatalf("step %d: %s = %v (present %v, want present %v): %v", i+1, key, r[key], ok, want, r)
		}
		if ok {
			var res struct {
				Benchmarks map[string]struct {
					N       int     `json:"n"`
					K       int     `json:"k"`
					PassAt1 float64 `json:"pass@1"`
				} `json:"benchmarks"`
			}
			raw, err := os.ReadFile(filepath.Join(c.Out, "eval", fmt.Sprintf("step-%d", i+1), "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatal(err)
			}
			if b := res.Benchmarks[tr.bench.Name]; b.N != 3 || b.K != 2 || b.PassAt1 != p {
				t.Fatalf("step %d: results.json %+v, metrics pass@1 %v", i+1, b, p)
			}
		}
	}
	for _, bad := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.Eval.K = 0 }, "eval.k"},
		{func(c *Config) { c.Eval.Prompt = "fancy" }, "eval.prompt"},
		{func(c *Config) { c.Eval.Dataset = "nosuchbench" }, "eval.dataset"},
	} {
		c := c
		c.Eval.Dataset = "synthetic"
		bad.set(&c)
		if _, err := New(c, cpu.New()); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("want an error naming %s, got %v", bad.want, err)
		}
	}
}

// gradient_checkpointing changes what a step keeps, not what it computes:
// a packed LoRA run (dropout on) logs the same metrics and ends with the
// same adapter with it as without it.
func TestSFTGradientCheckpointingSameRun(t *testing.T) {
	dir := t.TempDir()
	data := writeRows(t, dir, 20)
	run := func(name string, ckpt bool) ([]map[string]any, []byte) {
		c := testConfig(dir, data, filepath.Join(dir, name))
		c.Steps, c.Packing, c.MaxSeqLen, c.MicroBatch, c.EvalEvery = 3, true, 64, 2, 0
		c.LoRA.R, c.LoRA.Dropout, c.LoRA.TargetModules = 4, 0.1, model.Targets{model.AllLinear}
		c.GradientCheckpointing = ckpt
		tr, err := New(c, cpu.New())
		if err != nil {
			t.Fatal(err)
		}
		if tr.Model.GradientCheckpointing != ckpt {
			t.Fatalf("gradient_checkpointing %v did not reach the model", ckpt)
		}
		if err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(filepath.Join(c.Out, "checkpoints", "step-3", "adapter_model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return metricsOf(t, c.Out), w
	}
	ma, wa := run("plain", false)
	mb, wb := run("ckpt", true)
	ja, _ := json.Marshal(ma)
	jb, _ := json.Marshal(mb)
	if string(ja) != string(jb) || string(wa) != string(wb) {
		t.Fatalf("runs differ:\n%s\n%s", ja, jb)
	}
}
