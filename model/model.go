package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/tensor"
)

// Layer holds one decoder block's weights; optional biases are nil in
// their Linear.
type Layer struct {
	AttnNorm       *autograd.Var // input_layernorm (C)
	Q, K, V, O     *Linear       // self_attn.{q,k,v,o}_proj
	QNorm, KNorm   *autograd.Var // self_attn.{q,k}_norm (D), qwen3; nil otherwise
	MLPNorm        *autograd.Var // post_attention_layernorm (C)
	Gate, Up, Down *Linear       // mlp.{gate,up,down}_proj
}

// Model is a decoder-only transformer (Llama-3, Qwen2, Qwen3 differ only in
// biases, q/k norms and config defaults) with its heads: the LM head of a
// *ForCausalLM, the score head of a *ForSequenceClassification (reward
// models), and optionally TRL's value head (PPO). One decoder body serves
// the padded training batch (Hidden) and the paged inference step
// (Forward); the heads read its final hidden states.
type Model struct {
	Config *Config
	Dev    tensor.Backend
	// DType is the element type of the weights, the KV cache and the
	// activations of the inference step (and of NewTape's tapes): the
	// backend's ComputeDType unless WithDType says otherwise.
	DType  tensor.DType
	Embed  *autograd.Var // model.embed_tokens.weight (V,C)
	Layers []Layer
	Norm   *autograd.Var // model.norm.weight (C)

	// LMHead is lm_head (V,C), no bias; its Weight is Embed when tied. Nil
	// for a score model (transformers' *ForSequenceClassification has none).
	LMHead *Linear
	// Score is score (num_labels,C), no bias: set when config.json's
	// architectures name a *ForSequenceClassification (or WithScoreHead).
	Score *Linear
	// Value is TRL's v_head.summary (1,C) with bias (1): set by
	// WithValueHead or when the checkpoint holds one.
	Value *Linear

	// Adapter is the LoRA adapter attached by AddLoRA or LoadLoRA (nil =
	// none): its weights are not among Params, which it freezes.
	Adapter *Adapter

	// GradientCheckpointing recomputes each decoder layer's activations in
	// the backward pass instead of keeping them (the training configs'
	// gradient_checkpointing): a training step's activation memory drops
	// from every layer's to one layer's plus L residual streams, for one
	// more forward pass. Gradients are bit-identical either way.
	GradientCheckpointing bool

	// Ignored lists checkpoint tensors Load did not use.
	Ignored []string
	// Initialized lists the head weights Load had to initialize because the
	// checkpoint lacks them (a score or value head asked for by option on
	// top of a causal LM, as transformers and TRL do).
	Initialized []string

	params    []autograd.Param
	cos, sin  *tensor.Tensor // (P, D/2) rotary tables, grown on demand
	oldRope   []*tensor.Tensor
	packMu    sync.Mutex
	packs     int  // PackWeights holders
	allPacked bool // the backend packed every weight (pack.go)
}

// Params lists the weights in HF order (tied lm_head omitted): the
// decoder's, then lm_head or score, then v_head. Optimizer state and
// checkpoints rely on this order and these names.
func (m *Model) Params() []autograd.Param { return m.params }

// NewTape returns a tape that records activations in the model's dtype.
// (A tape from autograd.NewTape records F32 unless its DType is set.)
func (m *Model) NewTape() *autograd.Tape {
	tp := autograd.NewTape(m.Dev)
	tp.DType = m.DType
	return tp
}

// Option configures a model at New or Load.
type Option func(*options)

type options struct {
	dtype     tensor.DType
	hasDType  bool
	score     bool // a score head with numLabels outputs
	numLabels int
	valueHead bool
}

// WithDType stores weights and the KV cache, and runs the inference step,
// in dt instead of the backend's ComputeDType (F64 on the CPU backend runs
// the whole model at gradient-check precision).
func WithDType(dt tensor.DType) Option {
	return func(o *options) { o.dtype, o.hasDType = dt, true }
}

// WithScoreHead makes the model a sequence classifier (a reward model when
// numLabels is 1): score.weight (numLabels,C) replaces lm_head, and saving
// writes the *ForSequenceClassification architecture. Loading a causal LM
// this way initializes the score head, as transformers'
// AutoModelForSequenceClassification.from_pretrained does.
func WithScoreHead(numLabels int) Option {
	return func(o *options) { o.score, o.numLabels = true, numLabels }
}

// WithValueHead adds TRL's value head (v_head.summary) on top of the LM
// head, initialized when the checkpoint has none. A checkpoint that holds
// one loads it without this option.
func WithValueHead() Option {
	return func(o *options) { o.valueHead = true }
}

// resolve applies opts to cfg and dev: the dtype and the config the model
// is built from (a copy when an option changes the architecture).
func resolve(cfg *Config, dev tensor.Backend, opts []Option) (*Config, options, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if !o.hasDType {
		o.dtype = dev.ComputeDType()
	}
	switch o.dtype {
	case tensor.F32, tensor.BF16, tensor.F16, tensor.F64:
	default:
		return nil, o, fmt.Errorf("model: dtype %v is not a floating-point type", o.dtype)
	}
	if o.score && o.numLabels < 1 {
		return nil, o, fmt.Errorf("model: a score head needs at least one label, got %d", o.numLabels)
	}
	if o.score {
		c := *cfg
		c.Architectures = []string{archPrefix[c.ModelType] + "ForSequenceClassification"}
		c.NumLabels = o.numLabels
		cfg = &c
	}
	if cfg.ScoreHead() && cfg.NumLabels < 1 {
		return nil, o, fmt.Errorf("model: a sequence-classification model needs num_labels ≥ 1, got %d", cfg.NumLabels)
	}
	return cfg, o, nil
}

// New allocates a model with HF-style random init: weights ~ N(0,
// initializer_range), norms = 1, biases = 0. Use Load for checkpoints. It
// panics on an invalid option (a programming error, not bad input).
func New(cfg *Config, dev tensor.Backend, seed uint64, opts ...Option) *Model {
	cfg, o, err := resolve(cfg, dev, opts)
	if err != nil {
		panic(err)
	}
	m := build(cfg, dev, o)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, p := range m.params {
		m.initParam(p, rng)
	}
	return m
}

// initParam draws one weight: N(0, initializer_range), norms 1, biases 0.
func (m *Model) initParam(p autograd.Param, rng *rand.Rand) {
	vals := make([]float32, p.Var.Val.Numel())
	switch {
	case isNorm(p.Name):
		for i := range vals {
			vals[i] = 1
		}
	case isBias(p.Name):
	default:
		for i := range vals {
			vals[i] = float32(rng.NormFloat64() * m.Config.InitializerRange)
		}
	}
	m.setParam(p, vals)
}

// setParam uploads host values into a weight (rounding to its dtype).
func (m *Model) setParam(p autograd.Param, vals []float32) {
	src := m.Dev.Upload(vals, p.Var.Val.DType, p.Var.Val.Shape...)
	m.Dev.Copy(p.Var.Val, src)
	m.Dev.Free(src)
}

func isNorm(name string) bool {
	return hasSuffix(name, "norm.weight") || hasSuffix(name, "layernorm.weight")
}

func isBias(name string) bool { return hasSuffix(name, ".bias") }

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// Head weight names: transformers' lm_head and score, TRL's value head.
const (
	lmHeadName    = "lm_head"
	scoreName     = "score"
	valueHeadName = "v_head.summary"
)

// build allocates zeroed weights in o.dtype and names them. The order of
// params is the checkpoint's and the optimizer's: never reorder it.
func build(cfg *Config, dev tensor.Backend, o options) *Model {
	m := &Model{Config: cfg, Dev: dev, DType: o.dtype}
	add := func(name string, shape ...int) *autograd.Var {
		v := autograd.Trainable(dev.New(m.DType, shape...))
		m.params = append(m.params, autograd.Param{Name: name, Var: v})
		return v
	}
	linear := func(name string, out, in int) *Linear {
		return &Linear{Name: name, Weight: add(name+".weight", out, in)}
	}
	bias := func(l *Linear) { l.Bias = add(l.Name+".bias", l.Out()) }
	c, f, d := cfg.Hidden, cfg.Intermediate, cfg.HeadDim
	q, kv := cfg.Heads*d, cfg.KVHeads*d
	m.Embed = add("model.embed_tokens.weight", cfg.VocabSize, c)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		var l Layer
		l.AttnNorm = add(p+"input_layernorm.weight", c)
		l.Q = linear(p+"self_attn.q_proj", q, c)
		l.K = linear(p+"self_attn.k_proj", kv, c)
		l.V = linear(p+"self_attn.v_proj", kv, c)
		l.O = linear(p+"self_attn.o_proj", c, q)
		if cfg.AttentionBias {
			bias(l.Q)
			bias(l.K)
			bias(l.V)
		}
		if cfg.OutputBias {
			bias(l.O)
		}
		if cfg.QKNorm {
			l.QNorm = add(p+"self_attn.q_norm.weight", d)
			l.KNorm = add(p+"self_attn.k_norm.weight", d)
		}
		l.MLPNorm = add(p+"post_attention_layernorm.weight", c)
		l.Gate = linear(p+"mlp.gate_proj", f, c)
		l.Up = linear(p+"mlp.up_proj", f, c)
		l.Down = linear(p+"mlp.down_proj", c, f)
		if cfg.MLPBias {
			bias(l.Gate)
			bias(l.Up)
			bias(l.Down)
		}
		m.Layers = append(m.Layers, l)
	}
	m.Norm = add("model.norm.weight", c)
	switch {
	case cfg.ScoreHead():
		m.Score = linear(scoreName, cfg.NumLabels, c)
	case cfg.TieEmbeddings:
		m.LMHead = &Linear{Name: lmHeadName, Weight: m.Embed}
	default:
		m.LMHead = linear(lmHeadName, cfg.VocabSize, c)
	}
	if o.valueHead {
		m.addValueHead()
	}
	return m
}

// addValueHead appends v_head.summary (1,C) and its bias (1) to the params.
func (m *Model) addValueHead() {
	w := autograd.Trainable(m.Dev.New(m.DType, 1, m.Config.Hidden))
	b := autograd.Trainable(m.Dev.New(m.DType, 1))
	m.Value = &Linear{Name: valueHeadName, Weight: w, Bias: b}
	m.params = append(m.params, autograd.Param{Name: valueHeadName + ".weight", Var: w}, autograd.Param{Name: valueHeadName + ".bias", Var: b})
}

// invFreq is RoPE's inverse frequencies computed in float32 the way
// transformers does (so long positions round the same way), with llama3 or
// linear scaling applied.
func invFreq(cfg *Config) []float32 {
	d := cfg.HeadDim
	inv := make([]float32, d/2)
	for i := range inv {
		inv[i] = float32(1 / math.Pow(cfg.RopeTheta, float64(float32(2*i)/float32(d))))
	}
	rs := cfg.RopeScaling
	if rs == nil {
		return inv
	}
	switch rs.Type {
	case "linear":
		for i := range inv {
			inv[i] /= float32(rs.Factor)
		}
	case "llama3":
		old := float64(rs.OriginalMaxPositionEmbeddings)
		lowWave, highWave := old/rs.LowFreqFactor, old/rs.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / float64(f)
			switch {
			case wave < highWave: // high frequency: unchanged
			case wave > lowWave: // low frequency: slowed by factor
				inv[i] = f / float32(rs.Factor)
			default: // in between: interpolate
				smooth := (old/wave - rs.LowFreqFactor) / (rs.HighFreqFactor - rs.LowFreqFactor)
				inv[i] = float32((1-smooth)*float64(f)/rs.Factor + smooth*float64(f))
			}
		}
	}
	return inv
}

// ropeDType is the rotary tables' dtype: F32 (angles need the precision;
// kernels read the tables as F32 whatever the activations), or F64 for an
// F64 model, whose kernels run in float64 throughout.
func (m *Model) ropeDType() tensor.DType {
	if m.DType == tensor.F64 {
		return tensor.F64
	}
	return tensor.F32
}

// ropeTables returns cos/sin tables covering positions [0, n).
func (m *Model) ropeTables(n int) (cos, sin *tensor.Tensor) {
	if m.cos != nil && m.cos.Rows() >= n {
		return m.cos, m.sin
	}
	size := 256
	for size < n {
		size *= 2
	}
	inv := invFreq(m.Config)
	half := len(inv)
	cv, sv := make([]float32, size*half), make([]float32, size*half)
	for p := 0; p < size; p++ {
		for i, f := range inv {
			a := float32(p) * f // float32 product, as transformers computes it
			cv[p*half+i] = float32(math.Cos(float64(a)))
			sv[p*half+i] = float32(math.Sin(float64(a)))
		}
	}
	// The tables belong to the model. Outgrown ones are kept, not freed: a
	// tape recorded before the growth may still read them in its backward
	// pass. Doubling bounds what is kept by the size of the current pair.
	if m.cos != nil {
		m.oldRope = append(m.oldRope, m.cos, m.sin)
	}
	m.cos, m.sin = m.Dev.Upload(cv, m.ropeDType(), size, half), m.Dev.Upload(sv, m.ropeDType(), size, half)
	return m.cos, m.sin
}
