package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/tensor"
)

// LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language
// Models") trains, next to a frozen projection W (Out,In), a low-rank
// update: y = W·x (+ b) + scale·B·A·dropout(x), with A (r,In) and B (Out,r).
// Only A and B get gradients and optimizer state, which is where the memory
// goes for a full fine-tune; B starts at zero so that the adapted model
// starts as the base model. The layout on disk is PEFT's (peft.go), so
// adapters move between r1 and PEFT / transformers / vLLM unchanged.

// LoRAConfig is the `lora:` block of `r1 sft` and `r1 grpo`. The keys
// follow PEFT's LoraConfig where one exists.
type LoRAConfig struct {
	// R is the rank r of the update B·A (Hu et al. 2021, §4); PEFT's r.
	// 0 turns LoRA off: the whole model trains.
	R int `yaml:"r"`
	// Alpha scales the update by alpha/r (Hu et al. 2021, §4.1: tuning
	// alpha is roughly tuning the learning rate, so r can change without
	// retuning it); PEFT's lora_alpha, default 8 as in PEFT.
	Alpha float64 `yaml:"alpha"`
	// Dropout is the probability of zeroing an element of the adapter's
	// input, during training only (the base path sees the input intact);
	// PEFT's lora_dropout (QLoRA, Dettmers et al. 2023, used 0.05–0.1),
	// default 0. The masks are drawn from the run's seed and a counter that
	// checkpoints keep, so a resumed run draws the same ones.
	Dropout float64 `yaml:"dropout"`
	// TargetModules are the projections that get an adapter, with PEFT's
	// list semantics: an entry names a module by the end of its path
	// (q_proj matches model.layers.*.self_attn.q_proj; layers.0.mlp.up_proj
	// one layer's), and "all-linear" means every projection of the decoder
	// (q, k, v, o, gate, up, down; PEFT also leaves out the output layer).
	// Default [q_proj, v_proj]: PEFT's default for Llama and Qwen, the
	// choice of Hu et al. 2021 (§7.1). An entry that matches nothing is an
	// error.
	TargetModules Targets `yaml:"target_modules"`
	// UseRSLoRA scales the update by alpha/√r instead of alpha/r:
	// rank-stabilized LoRA (Kalajdzievski 2023, "A Rank Stabilization
	// Scaling Factor for Fine-Tuning with LoRA"), under which higher ranks
	// keep learning; PEFT's use_rslora.
	UseRSLoRA bool `yaml:"use_rslora"`
}

// Targets is target_modules: a YAML list, or one name as a plain scalar
// (target_modules: all-linear).
type Targets []string

// UnmarshalYAML accepts a scalar as a list of one.
func (t *Targets) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			*t = nil
			return nil
		}
		*t = Targets{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*t = s
	return nil
}

// AllLinear is the target_modules entry that adapts every projection of
// the decoder (PEFT's "all-linear").
const AllLinear = "all-linear"

// DefaultLoRA is LoRA off (r = 0), with PEFT's defaults for the rest.
func DefaultLoRA() LoRAConfig {
	return LoRAConfig{Alpha: 8, TargetModules: Targets{"q_proj", "v_proj"}}
}

// Enabled reports whether the config asks for LoRA (r > 0).
func (c *LoRAConfig) Enabled() bool { return c.R > 0 }

// Scale is the factor of the update: alpha/r, or alpha/√r with rsLoRA.
func (c *LoRAConfig) Scale() float64 {
	if c.UseRSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// Validate checks the config, naming the offending key (under lora.).
func (c *LoRAConfig) Validate() error {
	switch {
	case c.R < 0:
		return fmt.Errorf("lora.r: must be ≥ 0 (0 = off), got %d", c.R)
	case c.R == 0:
		return nil
	case c.Alpha <= 0 || math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0):
		return fmt.Errorf("lora.alpha: must be > 0, got %g", c.Alpha)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("lora.dropout: must be in [0, 1), got %g", c.Dropout)
	case len(c.TargetModules) == 0:
		return fmt.Errorf("lora.target_modules: name at least one module (q_proj, v_proj, … or %s)", AllLinear)
	}
	for i, t := range c.TargetModules {
		if strings.TrimSpace(t) == "" {
			return fmt.Errorf("lora.target_modules[%d]: empty module name", i)
		}
	}
	return nil
}

// projectionKinds are the last path elements of the decoder's projections,
// in a layer's order: what target_modules can name.
var projectionKinds = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// projections lists the decoder's Linears in model order (layer by layer,
// q, k, v, o, gate, up, down): the modules an adapter may wrap. The heads
// are not among them: the LM head's weight goes straight into the chunked
// log-softmax, not through Linear.Forward.
func (m *Model) projections() []*Linear {
	var out []*Linear
	for i := range m.Layers {
		l := &m.Layers[i]
		out = append(out, l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down)
	}
	return out
}

// moduleMatcher decides which module names an adapter wraps.
type moduleMatcher struct {
	names   []string       // PEFT's list form: name or suffix after a dot
	pattern *regexp.Regexp // PEFT's string form: a full match of the name
}

func (mm moduleMatcher) match(name string) bool {
	if mm.pattern != nil {
		return mm.pattern.MatchString(name)
	}
	for _, n := range mm.names {
		if targetMatches(n, name) {
			return true
		}
	}
	return false
}

// targetMatches is PEFT's rule for one entry of a target_modules list.
func targetMatches(entry, name string) bool {
	if entry == AllLinear {
		return slices.Contains(projectionKinds, name[strings.LastIndexByte(name, '.')+1:])
	}
	return name == entry || strings.HasSuffix(name, "."+entry)
}

// targets resolves a matcher against the decoder: the Linears it selects,
// in model order. Each list entry must select something, so that a typo
// is an error rather than an adapter that silently trains less.
func (m *Model) targets(mm moduleMatcher, key string) ([]*Linear, error) {
	all := m.projections()
	var out []*Linear
	for _, l := range all {
		if mm.match(l.Name) {
			out = append(out, l)
		}
	}
	for _, e := range mm.names {
		found := false
		for _, l := range all {
			found = found || targetMatches(e, l.Name)
		}
		if !found {
			why := "matches no projection of the decoder"
			if e == lmHeadName || strings.HasSuffix(e, "embed_tokens") || strings.HasSuffix(e, "norm") {
				why = "is not a projection of the decoder: r1 adapts only those"
			}
			return nil, fmt.Errorf("%s: %q %s (%s, or %s)", key, e, why, strings.Join(projectionKinds, ", "), AllLinear)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %q matches no projection of the decoder (e.g. model.layers.0.self_attn.q_proj)", key, mm.pattern.String())
	}
	return out, nil
}

// Adapter is a LoRA adapter attached to a model's projections: AddLoRA
// makes a new one to train, LoadLoRA reads one saved in PEFT's layout.
type Adapter struct {
	// Config is the adapter's r, alpha, dropout, target modules and scaling.
	Config LoRAConfig
	// BaseModel is base_model_name_or_path in adapter_config.json: the
	// checkpoint the adapter was trained on.
	BaseModel string
	// Disabled runs the model without the adapter: the base model (GRPO's
	// reference policy, as TRL and Unsloth compute it, with no second copy
	// of the weights).
	Disabled bool
	// Modules are the names of the adapted projections, in model order.
	Modules []string

	m       *Model
	layers  []*Linear
	params  []autograd.Param
	scale   float32
	pattern string // target_modules as PEFT's regex string form, when loaded so
	seed    uint64
	draws   uint64 // dropout masks drawn so far (the RNG position)
}

// LoRA is one projection's adapter: A (r,In), B (Out,r).
type LoRA struct {
	A, B    *autograd.Var
	adapter *Adapter
}

// PEFT's tensor names: the model's module path behind PeftModel's and
// LoraModel's prefixes, then lora_A / lora_B (the adapter name "default"
// is not written).
const peftPrefix = "base_model.model."

func loraNames(module string) (a, b string) {
	return peftPrefix + module + ".lora_A.weight", peftPrefix + module + ".lora_B.weight"
}

// AddLoRA attaches a new adapter of cfg to m: A drawn like PEFT's default
// (Kaiming-uniform with a = √5, i.e. U(−1/√In, 1/√In)) from seed, B zero,
// so the adapted model computes exactly what the base does. The base
// weights are frozen: they leave the gradient computation, so no gradient
// buffer is ever allocated for them. Train Adapter.Params.
func (m *Model) AddLoRA(cfg LoRAConfig, seed uint64) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, fmt.Errorf("lora.r: must be > 0 to add an adapter")
	}
	a, err := m.attach(cfg, moduleMatcher{names: cfg.TargetModules}, "lora.target_modules", seed)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x10a1))
	for _, p := range a.params {
		if !strings.HasSuffix(p.Name, ".lora_A.weight") {
			continue // B stays zero
		}
		bound := 1 / math.Sqrt(float64(p.Var.Val.Cols()))
		vals := make([]float32, p.Var.Val.Numel())
		for i := range vals {
			vals[i] = float32((2*rng.Float64() - 1) * bound)
		}
		m.setParam(p, vals)
	}
	return a, nil
}

// attach builds an adapter with zeroed A and B on the projections mm
// selects, and freezes the base.
func (m *Model) attach(cfg LoRAConfig, mm moduleMatcher, key string, seed uint64) (*Adapter, error) {
	if m.Adapter != nil {
		return nil, fmt.Errorf("model: a LoRA adapter is already attached (%d modules)", len(m.Adapter.Modules))
	}
	layers, err := m.targets(mm, key)
	if err != nil {
		return nil, err
	}
	a := &Adapter{Config: cfg, m: m, layers: layers, scale: float32(cfg.Scale()), seed: seed}
	if mm.pattern != nil {
		a.pattern = mm.pattern.String()
	}
	r := cfg.R
	for _, l := range layers {
		in := l.Weight.Val.Cols()
		la := &LoRA{A: autograd.Trainable(m.Dev.New(m.DType, r, in)), B: autograd.Trainable(m.Dev.New(m.DType, l.Out(), r)), adapter: a}
		an, bn := loraNames(l.Name)
		a.params = append(a.params, autograd.Param{Name: an, Var: la.A}, autograd.Param{Name: bn, Var: la.B})
		a.Modules = append(a.Modules, l.Name)
		l.LoRA = la
	}
	for _, p := range m.params {
		p.Var.RequiresGrad = false
	}
	m.Adapter = a
	return a, nil
}

// Params are the adapter's trainable weights with PEFT's tensor names, in
// model order (each module's lora_A, then its lora_B): what the optimizer
// trains and checkpoints store.
func (a *Adapter) Params() []autograd.Param { return a.params }

// NumParams is the number of trainable adapter weights.
func (a *Adapter) NumParams() int {
	n := 0
	for _, p := range a.params {
		n += p.Var.Val.Numel()
	}
	return n
}

// Merge folds the adapter into the base weights, W += scale·B·A, and
// detaches it (PEFT's merge_and_unload): the model is then a plain model
// that computes what base + adapter did, and trains as a whole again.
func (a *Adapter) Merge() {
	m := a.m
	for _, l := range a.layers {
		m.Dev.MatMul(l.Weight.Val, l.LoRA.B.Val, l.LoRA.A.Val, false, false, a.scale, 1)
	}
	a.Detach()
}

// Detach removes the adapter without merging it (the base model is left
// as it was), unfreezes the base weights and frees A and B.
func (a *Adapter) Detach() {
	m := a.m
	for _, l := range a.layers {
		m.Dev.Free(l.LoRA.A.Val)
		m.Dev.Free(l.LoRA.B.Val)
		l.LoRA = nil
	}
	for _, p := range m.params {
		p.Var.RequiresGrad = true
	}
	m.Adapter = nil
}

// forward is Linear.Forward through the adapter.
func (la *LoRA) forward(tp *autograd.Tape, l *Linear, x *autograd.Var) *autograd.Var {
	a := la.adapter
	xd := x
	// Dropout belongs to training: a tape that records gradients. Scoring
	// (NoGrad tapes: evaluation, reference and old log-probs, sampling)
	// sees the adapter whole, as PEFT's model.eval() does.
	if a.Config.Dropout > 0 && !tp.NoGrad {
		xd = tp.MulConst(x, tp.Own(a.dropoutMask(x.Val.Shape, tp.DType)))
	}
	return tp.LoRALinear(x, l.Weight, l.Bias, xd, la.A, la.B, a.scale)
}

// dropoutMask draws the next mask of shape: 0 with probability p, else
// 1/(1−p) (inverted dropout, as torch's). Each mask comes from its own
// stream, (seed, draw number), so the masks depend on how many were drawn
// before and nothing else: a resumed run that restores the count draws
// the same ones.
func (a *Adapter) dropoutMask(shape []int, dt tensor.DType) *tensor.Tensor {
	p := a.Config.Dropout
	keep := float32(1 / (1 - p))
	rng := rand.New(rand.NewPCG(a.seed^0xd809_0a7e_5eed_0000, a.draws))
	a.draws++
	vals := make([]float32, tensor.Numel(shape))
	for i := range vals {
		if rng.Float64() >= p {
			vals[i] = keep
		}
	}
	return a.m.Dev.Upload(vals, dt, shape...)
}

// DropoutDraws is the number of dropout masks drawn so far: the RNG state
// a checkpoint keeps so that a resumed run continues the same sequence.
func (a *Adapter) DropoutDraws() uint64 { return a.draws }

// SetDropoutDraws restores DropoutDraws from a checkpoint.
func (a *Adapter) SetDropoutDraws(n uint64) { a.draws = n }
