package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

func loraConfig(r int, alpha float64, targets ...string) LoRAConfig {
	c := DefaultLoRA()
	c.R, c.Alpha = r, alpha
	if len(targets) > 0 {
		c.TargetModules = targets
	}
	return c
}

// randomizeAdapter gives B (and A) random values, as a trained adapter has:
// with B = 0 the adapter is invisible and many bugs with it.
func randomizeAdapter(a *Adapter, rng *rand.Rand, scale float64) {
	for _, p := range a.Params() {
		vals := make([]float32, p.Var.Val.Numel())
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * scale)
		}
		a.m.setParam(p, vals)
	}
}

// With B initialised to zero the adapted model computes exactly what the
// base computes: logits bit for bit, through the training path (Logits on
// a recording tape) and the paged inference step.
func TestLoRAZeroBIsBase(t *testing.T) {
	for _, mt := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(mt, func(t *testing.T) {
			m := New(tinyConfig(t, mt), dev, 3)
			b := mixedPadding()
			base := logitsOf(t, m, b)
			a, err := m.AddLoRA(loraConfig(4, 16, AllLinear), 7)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(a.Modules), 7*m.Config.Layers; got != want {
				t.Fatalf("all-linear adapted %d modules, want %d", got, want)
			}
			for _, p := range a.Params() {
				nz := slices.ContainsFunc(dev.Download(p.Var.Val), func(v float32) bool { return v != 0 })
				if strings.HasSuffix(p.Name, "lora_A.weight") != nz {
					t.Fatalf("%s: nonzero %v (A is drawn, B starts at zero)", p.Name, nz)
				}
			}
			tp := m.NewTape() // records: the training path
			l, err := m.Logits(tp, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := dev.Download(l.Val); !slices.Equal(got, base) {
				t.Fatalf("logits with a zero-B adapter differ from the base model's")
			}
			tp.Reset()
			if got := logitsOf(t, m, b); !slices.Equal(got, base) {
				t.Fatalf("NoGrad logits with a zero-B adapter differ from the base model's")
			}
		})
	}
}

// A's draw is PEFT's default init, Kaiming-uniform with a = √5: U(±1/√In),
// and the same seed draws the same adapter.
func TestLoRAInit(t *testing.T) {
	m := New(tinyConfig(t, "qwen2"), dev, 3)
	a, err := m.AddLoRA(loraConfig(8, 16), 11)
	if err != nil {
		t.Fatal(err)
	}
	m2 := New(tinyConfig(t, "qwen2"), dev, 3)
	a2, _ := m2.AddLoRA(loraConfig(8, 16), 11)
	for i, p := range a.Params() {
		v := dev.Download(p.Var.Val)
		if !slices.Equal(v, dev.Download(a2.Params()[i].Var.Val)) {
			t.Fatalf("%s: same seed, different init", p.Name)
		}
		if !strings.HasSuffix(p.Name, "lora_A.weight") {
			continue
		}
		bound := 1 / math.Sqrt(float64(p.Var.Val.Cols()))
		var sq float64
		for _, x := range v {
			if math.Abs(float64(x)) > bound {
				t.Fatalf("%s: %v outside ±%v", p.Name, x, bound)
			}
			sq += float64(x) * float64(x)
		}
		// U(±b) has variance b²/3.
		if got := sq / float64(len(v)); math.Abs(got-bound*bound/3) > 0.2*bound*bound/3 {
			t.Fatalf("%s: variance %v, want ≈ %v", p.Name, got, bound*bound/3)
		}
	}
}

// The adapter's gradients match central finite differences of an LM loss on
// an F64 model, for A and B of every kind of projection, with biases
// (qwen2) and with rsLoRA scaling; the frozen base gets no gradient buffer
// at all.
func TestLoRAGradientsFiniteDifferences(t *testing.T) {
	b := NewBatch([][]int32{{3, 14, 15, 9, 2}, {5, 35, 8}}, 0)
	target := NextTokenTargets(b)
	for _, rs := range []bool{false, true} {
		t.Run(map[bool]string{false: "alpha/r", true: "rslora"}[rs], func(t *testing.T) {
			cfg := tinyConfig(t, "qwen2")
			cfg.Layers = 1
			m := New(cfg, dev, 5, WithDType(tensor.F64))
			lc := loraConfig(3, 6, AllLinear)
			lc.UseRSLoRA = rs
			a, err := m.AddLoRA(lc, 9)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(8, 9))
			randomizeAdapter(a, rng, 0.3)
			// L = Σ r·logp over the targets, read from the F64 buffers (LMLoss
			// downloads float32, too coarse for a 1e-6 step).
			seeds := make([]float32, len(target))
			for i := range seeds {
				seeds[i] = float32(rng.NormFloat64())
			}
			logp := func(tp *autograd.Tape) *autograd.Var {
				lp, _, err := m.TokenLogProbs(tp, b, target)
				if err != nil {
					t.Fatal(err)
				}
				return lp
			}
			tp := m.NewTape()
			tp.SetGrad(logp(tp), seeds)
			tp.Backward()
			tp.Reset()
			for _, p := range m.Params() {
				if p.Var.Grad != nil || p.Var.RequiresGrad {
					t.Fatalf("frozen base weight %s: RequiresGrad %v, gradient buffer allocated %v", p.Name, p.Var.RequiresGrad, p.Var.Grad != nil)
				}
			}
			noGrad := func() float64 {
				tp := m.NewTape()
				tp.NoGrad = true
				defer tp.Reset()
				var l float64
				for i, v := range logp(tp).Val.Buf.([]float64) {
					l += float64(seeds[i]) * v
				}
				return l
			}
			checked := 0
			for _, p := range a.Params() {
				w, g := f64Weights(p.Var), p.Var.Grad.Buf.([]float64)
				for n := 0; n < 4; n++ {
					i := rng.IntN(len(w))
					old := w[i]
					w[i] = old + 1e-6
					up := noGrad()
					w[i] = old - 1e-6
					down := noGrad()
					w[i] = old
					fd := (up - down) / 2e-6
					if math.Abs(fd-g[i]) > 1e-6*math.Max(1, math.Abs(g[i])) {
						t.Fatalf("%s[%d]: gradient %.10g, finite difference %.10g", p.Name, i, g[i], fd)
					}
					checked++
				}
			}
			t.Logf("%d adapter elements of %d tensors match finite differences", checked, len(a.Params()))
		})
	}
}

// Dropout acts on training tapes only, draws its masks from (seed, draw
// count) alone (a restored count gives the same masks, hence the same
// loss), and scales kept inputs by 1/(1−p) so the adapter's expected
// output is unchanged.
func TestLoRADropout(t *testing.T) {
	m := New(tinyConfig(t, "qwen2"), dev, 3)
	lc := loraConfig(4, 8, AllLinear)
	lc.Dropout = 0.3
	a, err := m.AddLoRA(lc, 5)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(a, rand.New(rand.NewPCG(1, 2)), 0.5)
	b := mixedPadding()
	clean := logitsOf(t, m, b)
	if a.DropoutDraws() != 0 {
		t.Fatalf("a NoGrad pass drew %d dropout masks", a.DropoutDraws())
	}
	train := func() []float32 {
		tp := m.NewTape()
		defer tp.Reset()
		l, err := m.Logits(tp, b)
		if err != nil {
			t.Fatal(err)
		}
		return dev.Download(l.Val)
	}
	first := train()
	if n := a.DropoutDraws(); n != uint64(len(a.Modules)) {
		t.Fatalf("one training pass drew %d masks, want one per module (%d)", n, len(a.Modules))
	}
	second := train()
	if slices.Equal(first, clean) || slices.Equal(first, second) {
		t.Fatalf("dropout changed nothing (or drew the same masks twice)")
	}
	a.SetDropoutDraws(uint64(len(a.Modules)))
	if !slices.Equal(train(), second) {
		t.Fatalf("restoring the draw count did not reproduce the masks")
	}
	// Inverted dropout: the mean of a mask is ≈ 1.
	mask := dev.Download(a.dropoutMask([]int{100000}, tensor.F32))
	var s float64
	for _, v := range mask {
		s += float64(v)
	}
	if mean := s / float64(len(mask)); math.Abs(mean-1) > 0.01 {
		t.Fatalf("mask mean %v, want ≈ 1", mean)
	}
}

// Disabling the adapter gives the base model back (GRPO's reference), and
// Merge folds it into the weights: the merged model's logits are base +
// adapter's within float32 rounding.
func TestLoRADisableAndMerge(t *testing.T) {
	m := New(tinyConfig(t, "llama"), dev, 3)
	b := mixedPadding()
	base := logitsOf(t, m, b)
	a, err := m.AddLoRA(loraConfig(4, 8, "q_proj", "v_proj", "down_proj"), 5)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(a, rand.New(rand.NewPCG(1, 2)), 0.5)
	adapted := logitsOf(t, m, b)
	if slices.Equal(adapted, base) {
		t.Fatal("a nonzero adapter changed nothing")
	}
	a.Disabled = true
	if !slices.Equal(logitsOf(t, m, b), base) {
		t.Fatal("the disabled adapter still changes the logits")
	}
	a.Disabled = false
	a.Merge()
	if m.Adapter != nil || m.Layers[0].Q.LoRA != nil {
		t.Fatal("Merge left the adapter attached")
	}
	for _, p := range m.Params() {
		if !p.Var.RequiresGrad {
			t.Fatalf("%s still frozen after Merge", p.Name)
		}
	}
	assertClose(t, logitsOf(t, m, b), adapted, mergeTol)
}

// mergeTol bounds |merged − adapted| logits in float32: the merged weight
// W + s·B·A is rounded once more than the two separate products. Logits of
// these models are O(1); the differences seen are ~1e-6.
const mergeTol = 1e-4

func assertClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	var worst float64
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	t.Logf("max |difference| %.3g (tolerance %g)", worst, tol)
	if worst > tol || math.IsNaN(worst) {
		t.Fatalf("max |difference| %.3g > %g", worst, tol)
	}
}

// Target modules follow PEFT's list semantics: a name matches a module path
// equal to it or ending in "."+name; typos, the heads and the embedding
// are errors that name the key.
func TestLoRATargets(t *testing.T) {
	for _, tc := range []struct {
		targets []string
		want    []string // modules of layer 0..1, or the error
		err     string
	}{
		{targets: []string{"q_proj", "v_proj"}, want: []string{
			"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
			"model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"}},
		{targets: []string{"layers.1.mlp.up_proj"}, want: []string{"model.layers.1.mlp.up_proj"}},
		{targets: []string{"model.layers.0.self_attn.o_proj", "gate_proj"}, want: []string{
			"model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_proj", "model.layers.1.mlp.gate_proj"}},
		{targets: []string{"q_prj"}, err: `lora.target_modules: "q_prj" matches no projection`},
		{targets: []string{"proj"}, err: `"proj" matches no projection`}, // a suffix after a dot, not a substring
		{targets: []string{"lm_head"}, err: `"lm_head" is not a projection of the decoder`},
		{targets: []string{"embed_tokens"}, err: `"embed_tokens" is not a projection`},
	} {
		m := New(tinyConfig(t, "qwen2"), dev, 3)
		a, err := m.AddLoRA(loraConfig(2, 4, tc.targets...), 1)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.targets, err, tc.err)
			}
			if m.Adapter != nil || m.Params()[0].Var.RequiresGrad == false {
				t.Errorf("%v: a failed AddLoRA changed the model", tc.targets)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.targets, err)
		}
		if !slices.Equal(a.Modules, tc.want) {
			t.Errorf("%v: adapted %v, want %v", tc.targets, a.Modules, tc.want)
		}
	}
	m := New(tinyConfig(t, "qwen2"), dev, 3)
	if _, err := m.AddLoRA(loraConfig(2, 4), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddLoRA(loraConfig(2, 4), 1); err == nil || !strings.Contains(err.Error(), "already attached") {
		t.Errorf("second adapter: %v", err)
	}
}

func TestLoRAConfigYAMLAndValidate(t *testing.T) {
	for _, tc := range []struct{ yaml, err string }{
		{"r: 8\ntarget_modules: all-linear", ""},
		{"r: 8\ntarget_modules: [q_proj, k_proj]", ""},
		{"r: -1", "lora.r"},
		{"r: 8\nalpha: 0", "lora.alpha"},
		{"r: 8\ndropout: 1", "lora.dropout"},
		{"r: 8\ntarget_modules: []", "lora.target_modules"},
		{"r: 0\nalpha: -3", ""}, // off: nothing else is read
	} {
		c := DefaultLoRA()
		if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		err := c.Validate()
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err %v, want %q", tc.yaml, err, tc.err)
		}
	}
	var c LoRAConfig
	yaml.Unmarshal([]byte("target_modules: all-linear"), &c)
	if !slices.Equal(c.TargetModules, Targets{AllLinear}) {
		t.Errorf("scalar target_modules decoded as %v", c.TargetModules)
	}
	c = LoRAConfig{R: 16, Alpha: 32}
	if c.Scale() != 2 {
		t.Errorf("alpha/r = %v", c.Scale())
	}
	c.UseRSLoRA = true
	if c.Scale() != 8 {
		t.Errorf("rsLoRA alpha/√r = %v", c.Scale())
	}
}

// The hand-written PEFT fixture (testdata/lora_peft, see
// make_lora_fixture.py): r1 reads its config and tensors, and writes the
// same tensor names, shapes, dtypes and bytes, and PEFT's config keys with
// the same values.
func TestPEFTFixture(t *testing.T) {
	m, err := Load("testdata/qwen2", dev)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatch([][]int32{{3, 14, 15, 9, 26}, {5, 35}}, 0)
	base := logitsOf(t, m, b)
	a, err := m.LoadLoRA("testdata/lora_peft")
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.R != 4 || a.Config.Alpha != 8 || a.Config.Dropout != 0.05 || a.Config.UseRSLoRA || a.scale != 2 ||
		!slices.Equal(a.Config.TargetModules, Targets{"q_proj", "v_proj"}) || a.BaseModel != "model/testdata/qwen2" {
		t.Fatalf("config read as %+v base %q scale %v", a.Config, a.BaseModel, a.scale)
	}
	if want := []string{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"}; !slices.Equal(a.Modules, want) {
		t.Fatalf("modules %v, want %v", a.Modules, want)
	}
	adapted := logitsOf(t, m, b)
	if slices.Equal(adapted, base) {
		t.Fatal("the fixture's adapter changed nothing")
	}

	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Open("testdata/lora_peft/" + AdapterWeightsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := safetensors.Open(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if !slices.Equal(got.Names(), want.Names()) {
		t.Fatalf("tensor names\n got %v\nwant %v", got.Names(), want.Names())
	}
	for _, w := range want.Tensors() {
		g, _ := got.Tensor(w.Name)
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || string(g.Data) != string(w.Data) {
			t.Fatalf("%s: wrote %s %v (%d bytes), fixture %s %v (%d bytes)", w.Name, g.DType, g.Shape, len(g.Data), w.DType, w.Shape, len(w.Data))
		}
	}
	if got.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v, want format pt", got.Metadata())
	}

	readJSON := func(path string) map[string]any {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	wc, gc := readJSON("testdata/lora_peft/"+AdapterConfigFile), readJSON(filepath.Join(dir, AdapterConfigFile))
	for k, v := range gc {
		fv, ok := wc[k]
		if !ok {
			t.Errorf("r1 writes key %q, which PEFT's config (the fixture) does not have", k)
			continue
		}
		vj, fj := jsonOf(v), jsonOf(fv)
		if vj != fj {
			t.Errorf("%s: r1 writes %s, the fixture has %s", k, vj, fj)
		}
	}
	for _, k := range []string{"peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules", "bias", "use_rslora",
		"base_model_name_or_path", "fan_in_fan_out", "inference_mode", "modules_to_save", "use_dora", "init_lora_weights", "rank_pattern", "alpha_pattern"} {
		if _, ok := gc[k]; !ok {
			t.Errorf("r1 does not write PEFT's key %q", k)
		}
	}

	// What r1 wrote loads back to the same adapter.
	m2, _ := Load("testdata/qwen2", dev)
	if _, err := m2.LoadLoRA(dir); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logitsOf(t, m2, b), adapted) {
		t.Fatal("the adapter r1 saved gives other logits than the fixture")
	}

	// Merge = base + adapter, within float32 rounding.
	a.Merge()
	assertClose(t, logitsOf(t, m, b), adapted, mergeTol)
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// Adapters r1 cannot run as PEFT would are refused with the file and key.
func TestLoadLoRARejects(t *testing.T) {
	for _, tc := range []struct{ old, new, err string }{
		{`"use_dora": false`, `"use_dora": true`, "use_dora"},
		{`"peft_type": "LORA"`, `"peft_type": "IA3"`, "peft_type"},
		{`"bias": "none"`, `"bias": "all"`, "bias"},
		{`"modules_to_save": null`, `"modules_to_save": ["lm_head"]`, "modules_to_save"},
		{`"rank_pattern": {}`, `"rank_pattern": {"q_proj": 8}`, "rank_pattern"},
		{`"fan_in_fan_out": false`, `"fan_in_fan_out": true`, "fan_in_fan_out"},
		{`"r": 4`, `"r": 8`, "has shape [4 32], but the model and r=8 imply [8 32]"},
		{`"v_proj"`, `"k_proj"`, "model.layers.0.self_attn.k_proj.lora_A.weight\" is missing"},
		{`"q_proj",`, `"q_proj", "o_proj",`, "o_proj.lora_A.weight\" is missing"},
		{`"target_modules": [`, `"target_modules": ["lm_head", `, `"lm_head" is not a projection`},
	} {
		dir := t.TempDir()
		data, _ := os.ReadFile("testdata/lora_peft/" + AdapterConfigFile)
		w, _ := os.ReadFile("testdata/lora_peft/" + AdapterWeightsFile)
		if !strings.Contains(string(data), tc.old) {
			t.Fatalf("fixture lacks %q", tc.old)
		}
		os.WriteFile(filepath.Join(dir, AdapterConfigFile), []byte(strings.Replace(string(data), tc.old, tc.new, 1)), 0o644)
		os.WriteFile(filepath.Join(dir, AdapterWeightsFile), w, 0o644)
		m, _ := Load("testdata/qwen2", dev)
		_, err := m.LoadLoRA(dir)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s → %s: err %v, want the file and %q", tc.old, tc.new, err, tc.err)
		}
		if m.Adapter != nil || m.Layers[0].Q.LoRA != nil || !m.Params()[0].Var.RequiresGrad {
			t.Errorf("%s → %s: a failed LoadLoRA left the model changed", tc.old, tc.new)
		}
	}
}
