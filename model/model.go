package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/tensor"
)

// Layer holds one decoder block's weights; optional ones are nil.
type Layer struct {
	AttnNorm, Q, K, V, O       *autograd.Var
	QBias, KBias, VBias, OBias *autograd.Var
	QNorm, KNorm               *autograd.Var // qwen3
	MLPNorm, Gate, Up, Down    *autograd.Var
	GateBias, UpBias, DownBias *autograd.Var // llama mlp_bias
}

// Model is a decoder-only transformer (Llama-3, Qwen2, Qwen3 differ only in
// biases, q/k norms and config defaults).
type Model struct {
	Config *Config
	Dev    tensor.Backend
	Embed  *autograd.Var // model.embed_tokens.weight (V,C)
	Layers []Layer
	Norm   *autograd.Var // model.norm.weight (C)
	LMHead *autograd.Var // lm_head.weight (V,C); == Embed when tied

	// Ignored lists checkpoint tensors Load did not use.
	Ignored []string

	params   []autograd.Param
	cos, sin *tensor.Tensor // (P, D/2) rotary tables, grown on demand
	oldRope  []*tensor.Tensor
}

// Params lists the weights in HF order (tied lm_head omitted).
func (m *Model) Params() []autograd.Param { return m.params }

// New allocates a model with HF-style random init: weights ~ N(0,
// initializer_range), norms = 1, biases = 0. Use Load for checkpoints.
func New(cfg *Config, dev tensor.Backend, seed uint64) *Model {
	m := build(cfg, dev)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, p := range m.params {
		vals := make([]float32, p.Var.Val.Numel())
		switch {
		case isNorm(p.Name):
			for i := range vals {
				vals[i] = 1
			}
		case isBias(p.Name):
		default:
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * cfg.InitializerRange)
			}
		}
		src := dev.Upload(vals, tensor.F32, p.Var.Val.Shape...)
		dev.Copy(p.Var.Val, src)
		dev.Free(src)
	}
	return m
}

func isNorm(name string) bool {
	return hasSuffix(name, "norm.weight") || hasSuffix(name, "layernorm.weight")
}

func isBias(name string) bool { return hasSuffix(name, ".bias") }

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// build allocates zeroed weights and names them.
func build(cfg *Config, dev tensor.Backend) *Model {
	m := &Model{Config: cfg, Dev: dev}
	add := func(name string, shape ...int) *autograd.Var {
		v := autograd.Trainable(dev.New(tensor.F32, shape...))
		m.params = append(m.params, autograd.Param{Name: name, Var: v})
		return v
	}
	c, f, d := cfg.Hidden, cfg.Intermediate, cfg.HeadDim
	q, kv := cfg.Heads*d, cfg.KVHeads*d
	m.Embed = add("model.embed_tokens.weight", cfg.VocabSize, c)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		var l Layer
		l.AttnNorm = add(p+"input_layernorm.weight", c)
		l.Q = add(p+"self_attn.q_proj.weight", q, c)
		l.K = add(p+"self_attn.k_proj.weight", kv, c)
		l.V = add(p+"self_attn.v_proj.weight", kv, c)
		l.O = add(p+"self_attn.o_proj.weight", c, q)
		if cfg.AttentionBias {
			l.QBias = add(p+"self_attn.q_proj.bias", q)
			l.KBias = add(p+"self_attn.k_proj.bias", kv)
			l.VBias = add(p+"self_attn.v_proj.bias", kv)
		}
		if cfg.OutputBias {
			l.OBias = add(p+"self_attn.o_proj.bias", c)
		}
		if cfg.QKNorm {
			l.QNorm = add(p+"self_attn.q_norm.weight", d)
			l.KNorm = add(p+"self_attn.k_norm.weight", d)
		}
		l.MLPNorm = add(p+"post_attention_layernorm.weight", c)
		l.Gate = add(p+"mlp.gate_proj.weight", f, c)
		l.Up = add(p+"mlp.up_proj.weight", f, c)
		l.Down = add(p+"mlp.down_proj.weight", c, f)
		if cfg.MLPBias {
			l.GateBias = add(p+"mlp.gate_proj.bias", f)
			l.UpBias = add(p+"mlp.up_proj.bias", f)
			l.DownBias = add(p+"mlp.down_proj.bias", c)
		}
		m.Layers = append(m.Layers, l)
	}
	m.Norm = add("model.norm.weight", c)
	if cfg.TieEmbeddings {
		m.LMHead = m.Embed
	} else {
		m.LMHead = add("lm_head.weight", cfg.VocabSize, c)
	}
	return m
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
	m.cos, m.sin = m.Dev.Upload(cv, tensor.F32, size, half), m.Dev.Upload(sv, tensor.F32, size, half)
	return m.cos, m.sin
}

// Batch is a (B,T) block of token ids on the host with its attention mask
// and positions. Left padding is the convention for generation: positions
// count real tokens only, as transformers' generate computes them.
type Batch struct {
	B, T      int
	IDs       []int32 // (B,T)
	Mask      []int32 // (B,T) 1 = real token, 0 = padding; nil = all real
	Positions []int32 // (B,T); nil = cumsum(mask)−1 clamped at 0
}

// NewBatch pads rows on the left with pad to a common length.
func NewBatch(rows [][]int32, pad int32) Batch {
	t := 0
	for _, r := range rows {
		t = max(t, len(r))
	}
	b := Batch{B: len(rows), T: t, IDs: make([]int32, len(rows)*t), Mask: make([]int32, len(rows)*t)}
	for i, r := range rows {
		off := i*t + t - len(r)
		for j := i * t; j < off; j++ {
			b.IDs[j] = pad
		}
		copy(b.IDs[off:], r)
		for j := off; j < (i+1)*t; j++ {
			b.Mask[j] = 1
		}
	}
	return b
}

func (b *Batch) positions() []int32 {
	if b.Positions != nil {
		return b.Positions
	}
	pos := make([]int32, b.B*b.T)
	for i := 0; i < b.B; i++ {
		var n int32
		for j := 0; j < b.T; j++ {
			k := i*b.T + j
			if b.Mask == nil || b.Mask[k] != 0 {
				pos[k] = n
				n++
			}
		}
	}
	return pos
}

func (b *Batch) check(vocab int) error {
	if len(b.IDs) != b.B*b.T || (b.Mask != nil && len(b.Mask) != b.B*b.T) || (b.Positions != nil && len(b.Positions) != b.B*b.T) {
		return fmt.Errorf("model: batch of %d×%d has %d ids, %d mask entries, %d positions", b.B, b.T, len(b.IDs), len(b.Mask), len(b.Positions))
	}
	for _, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("model: token id %d outside the vocabulary [0,%d)", id, vocab)
		}
	}
	return nil
}

// Hidden runs the transformer on a batch and returns the final-normed hidden
// states (B,T,C), recording on tp for the backward pass. Everything it
// allocates belongs to tp (valid until tp.Reset).
func (m *Model) Hidden(tp *autograd.Tape, b Batch) (*autograd.Var, error) {
	cfg := m.Config
	if err := b.check(cfg.VocabSize); err != nil {
		return nil, err
	}
	pos := b.positions()
	var maxPos int32
	for _, p := range pos {
		maxPos = max(maxPos, p)
	}
	cos, sin := m.ropeTables(int(maxPos) + 1)
	ids := tp.Own(m.Dev.UploadInt32(b.IDs, b.B, b.T)) // (B,T)
	posT := tp.Own(m.Dev.UploadInt32(pos, b.B, b.T))  // (B,T)
	var mask *tensor.Tensor
	if b.Mask != nil {
		mask = tp.Own(m.Dev.UploadInt32(b.Mask, b.B, b.T)) // (B,T)
	}
	eps := float32(cfg.RMSNormEps)
	d := cfg.HeadDim
	scale := float32(1 / math.Sqrt(float64(d)))
	x := tp.Embedding(m.Embed, ids) // (B,T,C)
	for i := range m.Layers {
		l := &m.Layers[i]
		h := tp.RMSNorm(x, l.AttnNorm, eps)
		q := tp.Reshape(tp.Linear(h, l.Q, l.QBias), b.B, b.T, cfg.Heads, d)   // (B,T,Hq,D)
		k := tp.Reshape(tp.Linear(h, l.K, l.KBias), b.B, b.T, cfg.KVHeads, d) // (B,T,Hkv,D)
		v := tp.Reshape(tp.Linear(h, l.V, l.VBias), b.B, b.T, cfg.KVHeads, d) // (B,T,Hkv,D)
		if cfg.QKNorm {
			q = tp.RMSNorm(q, l.QNorm, eps)
			k = tp.RMSNorm(k, l.KNorm, eps)
		}
		q = tp.RoPE(q, cos, sin, posT)
		k = tp.RoPE(k, cos, sin, posT)
		a := tp.Attention(q, k, v, mask, scale) // (B,T,Hq,D)
		a = tp.Reshape(a, b.B, b.T, cfg.Heads*d)
		x = tp.Add(x, tp.Linear(a, l.O, l.OBias))
		h = tp.RMSNorm(x, l.MLPNorm, eps)
		g := tp.SwiGLU(tp.Linear(h, l.Gate, l.GateBias), tp.Linear(h, l.Up, l.UpBias)) // (B,T,F)
		x = tp.Add(x, tp.Linear(g, l.Down, l.DownBias))
	}
	return tp.RMSNorm(x, m.Norm, eps), nil
}

// Logits returns the full (B,T,V) logits. Training and log-prob scoring use
// TokenLogProbs instead, which never holds B·T·V floats at once.
func (m *Model) Logits(tp *autograd.Tape, b Batch) (*autograd.Var, error) {
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, err
	}
	return tp.Linear(h, m.LMHead, nil), nil
}

// TokenLogProbs returns log p(target) and the entropy at every position of
// the batch. target (B,T) holds the next token at each position, −1 where no
// loss applies (padding, prompt tokens, the last position); both outputs are
// 0 there, since those rows skip the LM head.
func (m *Model) TokenLogProbs(tp *autograd.Tape, b Batch, target []int32) (logp, entropy *autograd.Var, err error) {
	if len(target) != b.B*b.T {
		return nil, nil, fmt.Errorf("model: %d targets for a %d×%d batch", len(target), b.B, b.T)
	}
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, nil, err
	}
	n := b.B * b.T
	h2 := tp.Reshape(h, n, m.Config.Hidden)
	// Only rows with a target go through the LM head: in RL the prompt is
	// most of each sequence, and with a 150k vocabulary its logits would
	// dominate the cost.
	var rows, tgt []int32
	for i, t := range target {
		if t >= 0 {
			rows = append(rows, int32(i))
			tgt = append(tgt, t)
		}
	}
	if len(rows) == n || len(rows) == 0 {
		logp, entropy = tp.TokenLogProbs(h2, m.LMHead, tp.Own(m.Dev.UploadInt32(target, n)), 0)
		return logp, entropy, nil
	}
	idx := tp.Own(m.Dev.UploadInt32(rows, len(rows)))
	lp, ent := tp.TokenLogProbs(tp.GatherRows(h2, idx), m.LMHead, tp.Own(m.Dev.UploadInt32(tgt, len(tgt))), 0)
	logp = tp.Reshape(tp.ScatterRows(tp.Reshape(lp, len(rows), 1), idx, n), n)
	entropy = tp.Reshape(tp.ScatterRows(tp.Reshape(ent, len(rows), 1), idx, n), n)
	return logp, entropy, nil
}

// NextTokenTargets shifts ids left by one within each row: target[t] =
// ids[t+1] where both are real tokens, −1 elsewhere (the causal-LM labels).
func NextTokenTargets(b Batch) []int32 {
	tg := make([]int32, b.B*b.T)
	for i := range tg {
		tg[i] = -1
	}
	for r := 0; r < b.B; r++ {
		for t := 0; t+1 < b.T; t++ {
			k := r*b.T + t
			if b.Mask == nil || (b.Mask[k] != 0 && b.Mask[k+1] != 0) {
				tg[k] = b.IDs[k+1]
			}
		}
	}
	return tg
}
