package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// PEFT's adapter files (PEFT's docs, "PEFT checkpoint format"): the LoRA
// config and the adapter's state dict, which holds lora_A and lora_B of
// each adapted module under base_model.model.<module path>.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
	// adapterStateFile is r1's own, in checkpoints only: the dropout RNG
	// position (PEFT does not read it and ignores the file).
	adapterStateFile = "adapter_state.json"
)

// peftConfig is adapter_config.json as PEFT's LoraConfig writes it (keys
// sorted, as PEFT's json.dumps(sort_keys=True) writes them). Options r1
// does not implement are written with their defaults, which is what they
// hold for an adapter r1 trained.
type peftConfig struct {
	AlphaPattern        map[string]float64 `json:"alpha_pattern"`
	AutoMapping         any                `json:"auto_mapping"`
	BaseModelNameOrPath *string            `json:"base_model_name_or_path"`
	Bias                string             `json:"bias"`
	FanInFanOut         bool               `json:"fan_in_fan_out"`
	InferenceMode       bool               `json:"inference_mode"`
	InitLoraWeights     bool               `json:"init_lora_weights"`
	LayerReplication    any                `json:"layer_replication"`
	LayersPattern       any                `json:"layers_pattern"`
	LayersToTransform   any                `json:"layers_to_transform"`
	LoraAlpha           float64            `json:"lora_alpha"`
	LoraDropout         float64            `json:"lora_dropout"`
	ModulesToSave       []string           `json:"modules_to_save"`
	PeftType            string             `json:"peft_type"`
	R                   int                `json:"r"`
	RankPattern         map[string]int     `json:"rank_pattern"`
	Revision            *string            `json:"revision"`
	TargetModules       any                `json:"target_modules"` // a list of names, or one regex string
	TaskType            string             `json:"task_type"`
	UseDora             bool               `json:"use_dora"`
	UseRSLoRA           bool               `json:"use_rslora"`
}

// savedTargets is target_modules as written: the given entries, with
// all-linear resolved to the kinds of projection it selected (as PEFT
// saves it), or the regex string an adapter was loaded with.
func (a *Adapter) savedTargets() any {
	if a.pattern != "" {
		return a.pattern
	}
	var out []string
	for _, e := range a.Config.TargetModules {
		if e != AllLinear {
			out = append(out, e)
			continue
		}
		for _, name := range a.Modules {
			out = append(out, name[strings.LastIndexByte(name, '.')+1:])
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// adapterDType is the dtype an adapter is saved in: F32, or the model's
// when it is 16-bit (its fp32 master copy lives in the optimizer state).
func adapterDType(d tensor.DType) tensor.DType {
	if d == tensor.BF16 || d == tensor.F16 {
		return d
	}
	return tensor.F32
}

// Save writes the adapter into dir in PEFT's layout: adapter_config.json
// and adapter_model.safetensors, each atomically. PEFT's
// PeftModel.from_pretrained(base, dir) loads it unchanged.
func (a *Adapter) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	dt := adapterDType(a.m.DType)
	tensors := make([]safetensors.Tensor, 0, len(a.params))
	for _, p := range a.params {
		t, err := safetensors.FromFloat32(p.Name, dt, p.Var.Val.Shape, a.m.Dev.Download(p.Var.Val))
		if err != nil {
			return fmt.Errorf("save adapter: %w", err)
		}
		tensors = append(tensors, t)
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save adapter to %s: %w", dir, err)
	}
	var base *string
	if a.BaseModel != "" {
		base = &a.BaseModel
	}
	c := peftConfig{
		AlphaPattern: map[string]float64{}, BaseModelNameOrPath: base, Bias: "none", InferenceMode: true, InitLoraWeights: true,
		LoraAlpha: a.Config.Alpha, LoraDropout: a.Config.Dropout, PeftType: "LORA", R: a.Config.R, RankPattern: map[string]int{},
		TargetModules: a.savedTargets(), TaskType: "CAUSAL_LM", UseRSLoRA: a.Config.UseRSLoRA,
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, AdapterConfigFile), append(data, '\n'))
}

// ReadLoRAConfig reads a PEFT adapter_config.json (dir or the file) into
// r1's LoRA config, refusing what r1 cannot run the same way PEFT would:
// another PEFT method, DoRA, trained biases, extra saved modules, per-module
// ranks, Conv1D (fan_in_fan_out) layouts. pattern is target_modules when it
// is PEFT's regex string form ("" for a list).
func ReadLoRAConfig(path string) (cfg LoRAConfig, base, pattern string, err error) {
	if st, serr := os.Stat(path); serr == nil && st.IsDir() {
		path = filepath.Join(path, AdapterConfigFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, "", "", fmt.Errorf("adapter config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return cfg, "", "", fmt.Errorf("%s: %w", path, err)
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", path, key, fmt.Sprintf(format, args...))
	}
	str := func(key string) (string, bool, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false, bad(key, "want a string, got %s", v)
		}
		return s, true, nil
	}
	num := func(key string, def float64) (float64, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return def, nil
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return 0, bad(key, "want a number, got %s", v)
		}
		return f, nil
	}
	flag := func(key string) (bool, error) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return false, nil
		}
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return false, bad(key, "want true or false, got %s", v)
		}
		return b, nil
	}
	empty := func(key string) bool {
		v, ok := raw[key]
		if !ok {
			return true
		}
		s := string(bytes.Join(bytes.Fields(v), nil))
		return s == "null" || s == "{}" || s == "[]"
	}
	if t, _, err := str("peft_type"); err != nil {
		return cfg, "", "", err
	} else if t != "LORA" {
		return cfg, "", "", bad("peft_type", "%q: only LORA adapters are supported", t)
	}
	if b, _, err := str("bias"); err != nil {
		return cfg, "", "", err
	} else if b != "" && b != "none" {
		return cfg, "", "", bad("bias", "%q: adapters that train biases are not supported (want \"none\")", b)
	}
	for _, k := range []string{"use_dora", "fan_in_fan_out", "lora_bias"} {
		on, err := flag(k)
		if err != nil {
			return cfg, "", "", err
		}
		if on {
			return cfg, "", "", bad(k, "true is not supported (DoRA, Conv1D layouts and LoRA biases are not implemented)")
		}
	}
	for _, k := range []string{"modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform", "layer_replication"} {
		if !empty(k) {
			return cfg, "", "", bad(k, "%s is not supported (r1 reads adapters with one rank and alpha on every targeted module and nothing else saved)", raw[k])
		}
	}
	r, err := num("r", 8)
	if err != nil {
		return cfg, "", "", err
	}
	if r != math.Trunc(r) || r < 1 {
		return cfg, "", "", bad("r", "want a positive integer, got %v", r)
	}
	cfg.R = int(r)
	if cfg.Alpha, err = num("lora_alpha", 8); err != nil {
		return cfg, "", "", err
	}
	if cfg.Dropout, err = num("lora_dropout", 0); err != nil {
		return cfg, "", "", err
	}
	if cfg.UseRSLoRA, err = flag("use_rslora"); err != nil {
		return cfg, "", "", err
	}
	tm, ok := raw["target_modules"]
	if !ok || string(tm) == "null" {
		return cfg, "", "", bad("target_modules", "missing: the adapted modules must be named")
	}
	if err := json.Unmarshal(tm, &pattern); err == nil {
		if pattern == AllLinear {
			cfg.TargetModules, pattern = Targets{AllLinear}, ""
		} else if _, err := regexp.Compile(pattern); err != nil {
			return cfg, "", "", bad("target_modules", "%q is not a valid regular expression: %v", pattern, err)
		} else {
			cfg.TargetModules = Targets{pattern}
		}
	} else if err := json.Unmarshal(tm, (*[]string)(&cfg.TargetModules)); err != nil {
		return cfg, "", "", bad("target_modules", "want a list of module names or a string, got %s", tm)
	}
	if base, _, err = str("base_model_name_or_path"); err != nil {
		return cfg, "", "", err
	}
	switch {
	case !(cfg.Alpha > 0) || math.IsInf(cfg.Alpha, 0):
		return cfg, "", "", bad("lora_alpha", "must be > 0, got %g", cfg.Alpha)
	case !(cfg.Dropout >= 0 && cfg.Dropout < 1):
		return cfg, "", "", bad("lora_dropout", "must be in [0, 1), got %g", cfg.Dropout)
	case len(cfg.TargetModules) == 0 || slices.Contains(cfg.TargetModules, ""):
		return cfg, "", "", bad("target_modules", "name at least one module, and no empty name")
	}
	return cfg, base, pattern, nil
}

// LoadLoRA reads an adapter saved in PEFT's layout (by r1 or by PEFT) from
// dir and attaches it to m. Every tensor must be the lora_A or lora_B of a
// module the config targets, with the shape the model and r imply, and
// every targeted module must have both.
func (m *Model) LoadLoRA(dir string) (*Adapter, error) {
	cfg, base, pattern, err := ReadLoRAConfig(dir)
	if err != nil {
		return nil, err
	}
	mm := moduleMatcher{names: cfg.TargetModules}
	if pattern != "" {
		mm = moduleMatcher{pattern: regexp.MustCompile(`^(?:` + pattern + `)$`)}
	}
	a, err := m.attach(cfg, mm, filepath.Join(dir, AdapterConfigFile)+": target_modules", 0)
	if err != nil {
		return nil, err
	}
	a.BaseModel = base
	if err := a.loadWeights(dir); err != nil {
		a.Detach()
		return nil, err
	}
	return a, nil
}

// loadWeights copies dir's adapter_model.safetensors into the adapter.
func (a *Adapter) loadWeights(dir string) error {
	path := filepath.Join(dir, AdapterWeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, p := range a.params {
		want[p.Name] = true
		t, ok := f.Tensor(p.Name)
		if !ok {
			return fmt.Errorf("%s: tensor %q is missing (adapter_config.json targets %s with r=%d)", path, p.Name, p.Name[len(peftPrefix):strings.Index(p.Name, ".lora_")], a.Config.R)
		}
		if !tensor.SameShape(t.Shape, p.Var.Val.Shape) {
			return fmt.Errorf("%s: tensor %q has shape %v, but the model and r=%d imply %v", path, p.Name, t.Shape, a.Config.R, p.Var.Val.Shape)
		}
		vals, err := t.Float32()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		a.m.setParam(p, vals)
	}
	for _, name := range f.Names() {
		if !want[name] {
			return fmt.Errorf("%s: tensor %q is not a lora_A/lora_B of a module adapter_config.json targets (r1 reads LoRA adapters of the decoder's projections only)", path, name)
		}
	}
	return nil
}

// adapterState is adapter_state.json.
type adapterState struct {
	DropoutDraws uint64 `json:"dropout_draws"`
}

// SaveCheckpoint writes the adapter into a training checkpoint directory:
// PEFT's two files and the dropout RNG position. It is what the training
// core saves as "the model" of a LoRA run (train.Config.Weights).
func (a *Adapter) SaveCheckpoint(dir string) error {
	if err := a.Save(dir); err != nil {
		return err
	}
	data, _ := json.Marshal(adapterState{DropoutDraws: a.draws})
	return atomicfile.Write(filepath.Join(dir, adapterStateFile), append(data, '\n'))
}

// LoadCheckpoint restores what SaveCheckpoint wrote into this adapter (the
// optimizer keeps pointing at the same weights). The checkpoint's adapter
// must have this one's rank and modules.
func (a *Adapter) LoadCheckpoint(dir string) error {
	cfg, _, _, err := ReadLoRAConfig(dir)
	if err != nil {
		return err
	}
	if cfg.R != a.Config.R || cfg.Alpha != a.Config.Alpha || cfg.UseRSLoRA != a.Config.UseRSLoRA {
		return fmt.Errorf("%s: adapter r=%d alpha=%g use_rslora=%v, but this run has r=%d alpha=%g use_rslora=%v",
			filepath.Join(dir, AdapterConfigFile), cfg.R, cfg.Alpha, cfg.UseRSLoRA, a.Config.R, a.Config.Alpha, a.Config.UseRSLoRA)
	}
	if err := a.loadWeights(dir); err != nil {
		return err
	}
	path := filepath.Join(dir, adapterStateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && a.Config.Dropout == 0 {
		a.draws = 0 // no dropout: there is no RNG position to restore
		return nil
	}
	if err != nil {
		return err
	}
	var st adapterState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	a.draws = st.DropoutDraws
	return nil
}

// MergeLoRA folds the adapter in adapterDir into the checkpoint in baseDir
// (W += scale·B·A, computed in float32 whatever the base's dtype) and
// writes a full Hugging Face checkpoint into outDir: config.json, the
// weights in the base's dtype (its config.json's torch_dtype), and the
// tokenizer files, the base's overlaid by any the adapter directory holds
// (trainers save the tokenizer, and a changed chat template, next to the
// adapter). It returns the merged adapter, for its description.
func MergeLoRA(baseDir, adapterDir, outDir string, dev tensor.Backend) (*Adapter, error) {
	for _, d := range []string{baseDir, adapterDir} {
		if same, _ := sameDir(d, outDir); same {
			return nil, fmt.Errorf("merge: --out %s is an input directory; write the merged model elsewhere", outDir)
		}
	}
	m, err := Load(baseDir, dev, WithDType(tensor.F32))
	if err != nil {
		return nil, fmt.Errorf("merge: base: %w", err)
	}
	a, err := m.LoadLoRA(adapterDir)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	a.Merge()
	dt, err := tensor.ParseDType(m.Config.DType)
	if err != nil || (dt != tensor.BF16 && dt != tensor.F16) {
		dt = tensor.F32
	}
	if err := m.Save(outDir, dt); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	for _, src := range []string{baseDir, adapterDir} {
		if err := CopyTokenizerFiles(src, outDir); err != nil {
			return nil, fmt.Errorf("merge: tokenizer files: %w", err)
		}
	}
	return a, nil
}

// sameDir reports whether a and b name the same existing directory.
func sameDir(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}
