package train

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/tensor"
)

// fixedLM is the smallest algorithm: next-token loss on rows chosen by a
// cursor from a fixed table, split into micro micro-batches per update.
type fixedLM struct {
	rows   [][]int32
	per    int // rows per step
	micro  int // micro-batches per update
	cursor int
	nanAt  int // step (1-based) whose loss is made NaN; 0 = never
}

func (f *fixedLM) TrainStep(ctx context.Context, u *Update) (map[string]float64, error) {
	var rows [][]int32
	for i := 0; i < f.per; i++ {
		rows = append(rows, f.rows[(f.cursor+i)%len(f.rows)])
	}
	f.cursor += f.per
	m := u.Model()
	per := len(rows) / f.micro
	var total float64
	_, err := u.Update(f.micro, func(tp *autograd.Tape, i int) error {
		b := model.NewBatch(rows[i*per:(i+1)*per], 0)
		b.Mask = nil
		loss, _, err := m.LMLoss(tp, b, model.NextTokenTargets(b), 1/float64(f.micro))
		if f.nanAt == u.Step()+1 {
			return model.ErrNonFiniteLoss
		}
		total += loss / float64(f.micro)
		return err
	})
	return map[string]float64{"loss": total}, err
}

func (f *fixedLM) State() any { return map[string]int{"cursor": f.cursor} }

func (f *fixedLM) Restore(raw json.RawMessage) error {
	var st map[string]int
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	f.cursor = st["cursor"]
	return nil
}

func tinyModel(t *testing.T, dev tensor.Backend) *model.Model {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 40, "hidden_size": 16,
		"intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
		"tie_word_embeddings": true, "initializer_range": 0.1, "max_position_embeddings": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	return model.New(cfg, dev, 9)
}

var table = [][]int32{{1, 5, 9, 13, 17, 21, 25, 29}, {2, 4, 8, 16, 32, 3, 6, 12}, {7, 14, 21, 28, 35, 3, 10, 17}, {11, 22, 33, 5, 16, 27, 38, 9}}

func newTrainer(t *testing.T, dev tensor.Backend, out string, steps int, algo Algorithm) *Trainer {
	t.Helper()
	adam := optim.DefaultAdamW()
	adam.LR = 1e-2
	tr, err := New(Config{Out: out, Steps: steps, Seed: 3, Optim: adam, Schedule: optim.Schedule{Kind: "cosine", Warmup: 1, Total: steps, MinRatio: 0.1},
		SaveEvery: 2, KeepCheckpoints: 2}, tinyModel(t, dev), algo)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

// A run interrupted after step 2 and resumed gives the metrics and weights
// of an uninterrupted run, bit for bit; checkpoints are pruned to the last
// two, a .tmp directory is ignored, and checkpoints/latest names the newest.
func TestRunInterruptResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := newTrainer(t, cpu.New(), full, 6, &fixedLM{rows: table, per: 2, micro: 1}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	part := filepath.Join(dir, "part")
	ctx, cancel := context.WithCancel(context.Background())
	tr := newTrainer(t, cpu.New(), part, 6, &fixedLM{rows: table, per: 2, micro: 1})
	tr.Algo = &cancelAfter{fixedLM: tr.Algo.(*fixedLM), n: 3, cancel: cancel}
	err := tr.Run(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "after step 3") {
		t.Fatalf("interrupted run: %v", err)
	}
	if got := Checkpoints(part); len(got) != 2 || got[1] != 3 {
		t.Fatalf("checkpoints after interrupt at 3 (save_every 2, keep 2): %v", got)
	}
	// A half-written checkpoint of a later step must not be picked up.
	if err := os.MkdirAll(filepath.Join(part, "checkpoints", "step-5.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr2 := newTrainer(t, cpu.New(), part, 6, &fixedLM{rows: table, per: 2, micro: 1})
	if ok, err := tr2.Resume(); err != nil || !ok || tr2.StepsDone() != 3 {
		t.Fatalf("resume: %v %v at %d", ok, err, tr2.StepsDone())
	}
	if err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := readLines(t, filepath.Join(full, "metrics.jsonl")), readLines(t, filepath.Join(part, "metrics.jsonl"))
	if len(a) != 6 || len(b) != 6 {
		t.Fatalf("metrics: %d and %d records", len(a), len(b))
	}
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("step %d: %s vs %s", i+1, ja, jb)
		}
	}
	wa, _ := os.ReadFile(filepath.Join(CheckpointDir(full, 6), "model.safetensors"))
	wb, _ := os.ReadFile(filepath.Join(CheckpointDir(part, 6), "model.safetensors"))
	if len(wa) == 0 || string(wa) != string(wb) {
		t.Fatal("final weights differ between the resumed and the uninterrupted run")
	}
	latest, _ := os.ReadFile(filepath.Join(part, "checkpoints", "latest"))
	if strings.TrimSpace(string(latest)) != "step-6" || LatestCheckpoint(part) != CheckpointDir(part, 6) {
		t.Fatalf("latest = %q", latest)
	}
	if got := Checkpoints(part); len(got) != 2 || got[0] != 4 {
		t.Fatalf("kept %v, want [4 6]", got)
	}
	if a[0]["lr"] == a[5]["lr"] || a[5]["grad_norm"] == nil {
		t.Fatalf("lr must follow the schedule and grad_norm be logged: %v %v", a[0], a[5])
	}
}

// cancelAfter cancels the run's context after n steps.
type cancelAfter struct {
	*fixedLM
	n      int
	cancel func()
}

func (c *cancelAfter) TrainStep(ctx context.Context, u *Update) (map[string]float64, error) {
	m, err := c.fixedLM.TrainStep(ctx, u)
	if u.Step()+1 == c.n {
		c.cancel()
	}
	return m, err
}

// Accumulating two micro-batches of half the rows with loss scale 1/2
// gives the gradient of the whole batch (to float32 rounding), and the
// all-reduce hook sees the accumulated gradients before the update.
func TestAccumulationAndAllReduceHook(t *testing.T) {
	grads := func(micro int) []float32 {
		tr := newTrainer(t, cpu.New(), t.TempDir(), 1, &fixedLM{rows: table, per: 4, micro: micro})
		var g []float32
		calls := 0
		tr.AllReduce = func(ps []autograd.Param) error {
			calls++
			for _, p := range ps {
				if p.Var.Grad != nil {
					g = append(g, tr.Model.Dev.Download(p.Var.Grad)...)
				}
			}
			return nil
		}
		if _, err := tr.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Fatalf("all-reduce hook called %d times for one update", calls)
		}
		return g
	}
	one, two := grads(1), grads(2)
	if len(one) == 0 || len(one) != len(two) {
		t.Fatalf("%d vs %d gradient values", len(one), len(two))
	}
	var worst, scale float64
	for i := range one {
		worst = math.Max(worst, math.Abs(float64(one[i]-two[i])))
		scale = math.Max(scale, math.Abs(float64(one[i])))
	}
	if worst > 1e-5*scale {
		t.Fatalf("accumulated gradient differs from the full batch's by %g (max |g| %g)", worst, scale)
	}
}

// A NaN loss stops the run with ErrNonFinite, applies nothing, and leaves
// the last checkpoint as it was.
func TestNonFiniteStopsWithoutDamage(t *testing.T) {
	out := t.TempDir()
	tr := newTrainer(t, cpu.New(), out, 6, &fixedLM{rows: table, per: 2, micro: 1, nanAt: 3})
	err := tr.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 3") {
		t.Fatalf("run with a NaN at step 3: %v", err)
	}
	if got := Checkpoints(out); len(got) != 1 || got[0] != 2 {
		t.Fatalf("checkpoints %v, want [2]", got)
	}
	for _, p := range tr.Opt.Params {
		if p.Var.Grad != nil && tr.Model.Dev.SumSquares(p.Var.Grad) != 0 {
			t.Fatalf("%s keeps a gradient from the failed step", p.Name)
		}
	}
}

// The core's step frees everything a step allocates: after the first step
// (which creates the gradient buffers and AdamW state) device memory stays
// flat, and losses and gradient norms match an unchecked run bit for bit (a
// buffer freed while in use would have been poisoned to NaN).
func TestStepMemoryIsFlat(t *testing.T) {
	run := func(dev tensor.Backend, check func(step int)) []float64 {
		tr := newTrainer(t, dev, t.TempDir(), 3, &fixedLM{rows: table, per: 2, micro: 2})
		var out []float64
		for i := 0; i < 3; i++ {
			m, err := tr.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m["loss"], m["grad_norm"])
			if check != nil {
				check(i + 1)
			}
		}
		return out
	}
	want := run(cpu.New(), nil)
	mc := memcheck.Wrap(cpu.New())
	var after1 memcheck.Stats
	var mark memcheck.Mark
	got := run(mc, func(step int) {
		if step == 1 {
			after1, mark = mc.Stats(), mc.Mark()
			return
		}
		if st := mc.Stats(); st.Live != after1.Live || st.LiveBytes != after1.LiveBytes {
			t.Fatalf("after step %d: %d tensors / %d B live, after step 1: %d / %d; new:\n%q",
				step, st.Live, st.LiveBytes, after1.Live, after1.LiveBytes, mc.Since(mark))
		}
	})
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("value %d = %v through memcheck, %v without", i, got[i], want[i])
		}
	}
	if want[0] == want[4] {
		t.Fatal("the loss did not move: the steps did not train")
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
}

// A checkpoint made with another seed is refused: the data order and
// sampling would silently change.
func TestResumeRefusesAnotherSeed(t *testing.T) {
	out := t.TempDir()
	if err := newTrainer(t, cpu.New(), out, 2, &fixedLM{rows: table, per: 2, micro: 1}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := newTrainer(t, cpu.New(), out, 4, &fixedLM{rows: table, per: 2, micro: 1})
	tr.Config.Seed = 4
	if _, err := tr.Resume(); err == nil || !strings.Contains(err.Error(), "seed 3") {
		t.Fatalf("resume with another seed: %v", err)
	}
}

// Starting a run in a directory that holds one is refused unless asked to
// overwrite it, which removes its checkpoints and logs.
func TestPrepareRefusesAnExistingRun(t *testing.T) {
	out := t.TempDir()
	if err := Prepare(out, false); err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	if err := newTrainer(t, cpu.New(), out, 2, &fixedLM{rows: table, per: 2, micro: 1}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := Prepare(out, false)
	if err == nil || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("existing run: %v", err)
	}
	if len(Checkpoints(out)) == 0 {
		t.Fatal("a refused start must not touch the run")
	}
	if err := Prepare(out, true); err != nil {
		t.Fatal(err)
	}
	if len(Checkpoints(out)) != 0 {
		t.Fatal("--overwrite left checkpoints")
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.jsonl")); !os.IsNotExist(err) {
		t.Fatal("--overwrite left metrics.jsonl")
	}
	if err := Prepare(out, false); err != nil {
		t.Fatalf("after --overwrite: %v", err)
	}
}

// A 16-bit model is checkpointed in its own dtype, not widened to F32
// (its fp32 master copy is in the optimizer state); F32 stays F32 and the
// F64 of gradient checks is written as F32, which safetensors readers
// expect of a model.
func TestCheckpointDType(t *testing.T) {
	for _, c := range []struct{ in, want tensor.DType }{
		{tensor.F32, tensor.F32}, {tensor.BF16, tensor.BF16}, {tensor.F16, tensor.F16}, {tensor.F64, tensor.F32},
	} {
		if got := CheckpointDType(c.in); got != c.want {
			t.Errorf("%v model saved as %v, want %v", c.in, got, c.want)
		}
	}
}

// newLoRATrainer is newTrainer training a LoRA adapter (with dropout, so
// that its RNG position must survive a resume) on the frozen tiny model.
func newLoRATrainer(t *testing.T, out string, steps int, algo Algorithm) (*Trainer, *model.Model) {
	t.Helper()
	m := tinyModel(t, cpu.New())
	lc := model.DefaultLoRA()
	lc.R, lc.Alpha, lc.Dropout, lc.TargetModules = 4, 8, 0.1, model.Targets{model.AllLinear}
	a, err := m.AddLoRA(lc, 3)
	if err != nil {
		t.Fatal(err)
	}
	adam := optim.DefaultAdamW()
	adam.LR = 1e-2
	tr, err := New(Config{Out: out, Steps: steps, Seed: 3, Optim: adam, Schedule: optim.Schedule{Kind: "constant"},
		SaveEvery: 2, Weights: a}, m, algo)
	if err != nil {
		t.Fatal(err)
	}
	return tr, m
}

// With Config.Weights (a LoRA adapter) the optimizer holds only the
// adapter, checkpoints hold it in PEFT's layout and no full model, the base
// weights never change, and an interrupted run resumes bit for bit,
// dropout masks included.
func TestLoRAWeightsResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	tr, m := newLoRATrainer(t, full, 6, &fixedLM{rows: table, per: 2, micro: 2})
	before := map[string][]float32{}
	for _, p := range m.Params() {
		before[p.Name] = m.Dev.Download(p.Var.Val)
	}
	if got, want := len(tr.Opt.Params), len(m.Adapter.Params()); got != want {
		t.Fatalf("optimizer holds %d tensors, want the adapter's %d", got, want)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if got := m.Dev.Download(p.Var.Val); string(tensor.EncodeF32(got, tensor.F32)) != string(tensor.EncodeF32(before[p.Name], tensor.F32)) || p.Var.Grad != nil {
			t.Fatalf("base weight %s changed or got a gradient buffer", p.Name)
		}
	}
	ck := CheckpointDir(full, 6)
	for _, f := range []string{model.AdapterConfigFile, model.AdapterWeightsFile, "optimizer.safetensors", "state.json"} {
		if _, err := os.Stat(filepath.Join(ck, f)); err != nil {
			t.Fatalf("checkpoint lacks %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(ck, "model.safetensors")); err == nil {
		t.Fatal("a LoRA checkpoint holds the whole model")
	}

	part := filepath.Join(dir, "part")
	ctx, cancel := context.WithCancel(context.Background())
	tr, _ = newLoRATrainer(t, part, 6, &fixedLM{rows: table, per: 2, micro: 2})
	tr.Algo = &cancelAfter{fixedLM: tr.Algo.(*fixedLM), n: 3, cancel: cancel}
	if err := tr.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	tr2, _ := newLoRATrainer(t, part, 6, &fixedLM{rows: table, per: 2, micro: 2})
	if ok, err := tr2.Resume(); err != nil || !ok || tr2.StepsDone() != 3 {
		t.Fatalf("resume: %v %v at %d", ok, err, tr2.StepsDone())
	}
	if err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := readLines(t, filepath.Join(full, "metrics.jsonl")), readLines(t, filepath.Join(part, "metrics.jsonl"))
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Fatalf("step %d: %s vs %s", i+1, ja, jb)
		}
	}
	for _, f := range []string{model.AdapterWeightsFile, "optimizer.safetensors"} {
		wa, _ := os.ReadFile(filepath.Join(CheckpointDir(full, 6), f))
		wb, _ := os.ReadFile(filepath.Join(CheckpointDir(part, 6), f))
		if len(wa) == 0 || string(wa) != string(wb) {
			t.Fatalf("%s differs between the resumed and the uninterrupted run", f)
		}
	}
}

// cancelInside cancels the run's context inside step n, after the step
// has advanced its data cursor and before it updates the weights, and
// fails that step as a sampler stopped by the cancellation does.
type cancelInside struct {
	*fixedLM
	n      int
	cancel func()
}

func (c *cancelInside) TrainStep(ctx context.Context, u *Update) (map[string]float64, error) {
	if u.Step()+1 == c.n {
		c.cursor += c.per // the rows of the step that will not finish
		c.cancel()
		return nil, ctx.Err()
	}
	return c.fixedLM.TrainStep(ctx, u)
}

// A run interrupted inside a step (its data cursor already moved on)
// checkpoints the state of the last completed step, so the resumed run
// is the uninterrupted one bit for bit.
func TestInterruptInsideStepResumesExactly(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := newTrainer(t, cpu.New(), full, 5, &fixedLM{rows: table, per: 2, micro: 1}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "part")
	ctx, cancel := context.WithCancel(context.Background())
	tr := newTrainer(t, cpu.New(), part, 5, &fixedLM{rows: table, per: 2, micro: 1})
	tr.Algo = &cancelInside{fixedLM: tr.Algo.(*fixedLM), n: 4, cancel: cancel}
	if err := tr.Run(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "after step 3") {
		t.Fatalf("interrupted run: %v", err)
	}
	tr2 := newTrainer(t, cpu.New(), part, 5, &fixedLM{rows: table, per: 2, micro: 1})
	if ok, err := tr2.Resume(); err != nil || !ok || tr2.StepsDone() != 3 {
		t.Fatalf("resume: %v %v at %d", ok, err, tr2.StepsDone())
	}
	if err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, b := readLines(t, filepath.Join(full, "metrics.jsonl")), readLines(t, filepath.Join(part, "metrics.jsonl"))
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if len(a) != 5 || string(ja) != string(jb) {
		t.Fatalf("metrics differ:\n%s\n%s", ja, jb)
	}
	wa, _ := os.ReadFile(filepath.Join(CheckpointDir(full, 5), "model.safetensors"))
	wb, _ := os.ReadFile(filepath.Join(CheckpointDir(part, 5), "model.safetensors"))
	if len(wa) == 0 || string(wa) != string(wb) {
		t.Fatal("final weights differ between the resumed and the uninterrupted run")
	}
}
