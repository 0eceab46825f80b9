// Package model builds the decoder-only transformers r1 trains — Llama-3,
// Qwen2/Qwen2.5 and Qwen3 — from a Hugging Face config.json, binds their
// weights by HF tensor name, and saves them back in the same format. One
// decoder forward (forward.go) serves training batches and the paged
// inference step; heads (heads.go) turn its hidden states into next-token
// log-probs, reward-model scores or PPO values.
package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Config is the architecture, read from config.json as transformers v4 and
// v5 write it.
type Config struct {
	ModelType         string  // "llama", "qwen2" or "qwen3"
	VocabSize         int     // vocab_size
	Hidden            int     // hidden_size
	Intermediate      int     // intermediate_size
	Layers            int     // num_hidden_layers
	Heads             int     // num_attention_heads
	KVHeads           int     // num_key_value_heads (defaults to Heads)
	HeadDim           int     // head_dim (defaults to Hidden/Heads)
	RMSNormEps        float64 // rms_norm_eps
	RopeTheta         float64 // rope_theta or rope_parameters.rope_theta
	RopeScaling       *RopeScaling
	MaxPositions      int     // max_position_embeddings
	TieEmbeddings     bool    // tie_word_embeddings
	AttentionBias     bool    // q/k/v biases (always on for qwen2; attention_bias for llama/qwen3, which also adds an o bias)
	OutputBias        bool    // o_proj bias (llama/qwen3 attention_bias)
	MLPBias           bool    // mlp_bias (llama)
	QKNorm            bool    // per-head RMSNorm of q and k (qwen3)
	InitializerRange  float64 // initializer_range
	DType             string  // torch_dtype or dtype: the checkpoint's storage type
	BOSTokenID        *int32
	EOSTokenIDs       []int32
	PadTokenID        *int32
	TransformersStyle int // 4 or 5: which spelling to write back

	// Architectures are the transformers classes the checkpoint is for
	// (architectures); a *ForSequenceClassification one makes the model a
	// sequence classifier with a score head instead of the LM head.
	Architectures []string
	// NumLabels is a score head's outputs: len(id2label), else
	// num_labels, else transformers' default 2.
	NumLabels int

	// raw keeps every field of the file so that saving writes back what r1
	// does not interpret (architectures, sliding_window, …).
	raw map[string]any
}

// RopeScaling is the llama3 (or linear) frequency scaling.
type RopeScaling struct {
	Type                          string  `json:"rope_type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
}

// LoadConfig reads dir/config.json (or a path to the file itself).
func LoadConfig(path string) (*Config, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a config.json.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	c := &Config{raw: raw, TransformersStyle: 4}
	var err error
	str := func(key string) string {
		s, _ := raw[key].(string)
		return s
	}
	num := func(key string, def float64, required bool) float64 {
		v, ok := raw[key]
		if !ok || v == nil {
			if required && err == nil {
				err = fmt.Errorf("field %q is missing", key)
			}
			return def
		}
		f, ok := v.(float64)
		if !ok && err == nil {
			err = fmt.Errorf("field %q: want a number, got %v", key, v)
		}
		return f
	}
	integer := func(key string, def int, required bool) int {
		f := num(key, float64(def), required)
		if f != math.Trunc(f) && err == nil {
			err = fmt.Errorf("field %q: want an integer, got %v", key, f)
		}
		return int(f)
	}
	boolean := func(key string, def bool) bool {
		if b, ok := raw[key].(bool); ok {
			return b
		}
		return def
	}
	c.ModelType = str("model_type")
	switch c.ModelType {
	case "llama", "qwen2", "qwen3":
	case "":
		return nil, fmt.Errorf("field \"model_type\" is missing (want llama, qwen2 or qwen3)")
	default:
		return nil, fmt.Errorf("field \"model_type\": unsupported model type %q (want llama, qwen2 or qwen3)", c.ModelType)
	}
	c.VocabSize = integer("vocab_size", 0, true)
	c.Hidden = integer("hidden_size", 0, true)
	c.Intermediate = integer("intermediate_size", 0, true)
	c.Layers = integer("num_hidden_layers", 0, true)
	c.Heads = integer("num_attention_heads", 0, true)
	c.KVHeads = integer("num_key_value_heads", c.Heads, false)
	c.MaxPositions = integer("max_position_embeddings", 2048, false)
	c.RMSNormEps = num("rms_norm_eps", 1e-6, false)
	c.InitializerRange = num("initializer_range", 0.02, false)
	if err != nil {
		return nil, err
	}
	if c.Heads > 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	if hd, ok := raw["head_dim"]; ok && hd != nil {
		c.HeadDim = integer("head_dim", 0, false)
	}
	c.TieEmbeddings = boolean("tie_word_embeddings", false)
	if as, ok := raw["architectures"].([]any); ok {
		for _, a := range as {
			if s, ok := a.(string); ok {
				c.Architectures = append(c.Architectures, s)
			}
		}
	}
	// transformers keeps labels as id2label (num_labels is derived from
	// it, and only read from the file when id2label is absent).
	c.NumLabels = integer("num_labels", 2, false)
	if id2label, ok := raw["id2label"].(map[string]any); ok && len(id2label) > 0 {
		c.NumLabels = len(id2label)
	}
	if err != nil {
		return nil, err
	}
	switch c.ModelType {
	case "qwen2":
		c.AttentionBias = true // Qwen2 always has q/k/v biases and no o bias
	case "qwen3":
		c.QKNorm = true
		c.AttentionBias = boolean("attention_bias", false)
		c.OutputBias = c.AttentionBias
	case "llama":
		c.AttentionBias = boolean("attention_bias", false)
		c.OutputBias = c.AttentionBias
		c.MLPBias = boolean("mlp_bias", false)
	}
	// RoPE: v4 writes rope_theta (+ rope_scaling); v5 writes rope_parameters.
	c.RopeTheta = num("rope_theta", 10000, false)
	scaling := raw["rope_scaling"]
	if rp, ok := raw["rope_parameters"].(map[string]any); ok {
		c.TransformersStyle = 5
		if th, ok := rp["rope_theta"].(float64); ok {
			c.RopeTheta = th
		}
		scaling = rp
	}
	if m, ok := scaling.(map[string]any); ok {
		b, _ := json.Marshal(m)
		var rs RopeScaling
		_ = json.Unmarshal(b, &rs)
		if rs.Type == "" {
			rs.Type, _ = m["type"].(string) // older spelling
		}
		switch rs.Type {
		case "", "default":
		case "llama3":
			if rs.Factor <= 0 || rs.OriginalMaxPositionEmbeddings <= 0 || rs.HighFreqFactor <= rs.LowFreqFactor {
				return nil, fmt.Errorf("field \"rope_scaling\": llama3 scaling needs factor > 0, original_max_position_embeddings > 0 and high_freq_factor > low_freq_factor, got %+v", rs)
			}
			c.RopeScaling = &rs
		case "linear":
			if rs.Factor <= 0 {
				return nil, fmt.Errorf("field \"rope_scaling\": linear scaling needs factor > 0")
			}
			c.RopeScaling = &rs
		default:
			return nil, fmt.Errorf("field \"rope_scaling\": rope_type %q is not supported (default, linear, llama3)", rs.Type)
		}
	}
	c.DType = str("torch_dtype")
	if d := str("dtype"); d != "" {
		c.DType = d
		c.TransformersStyle = 5
	}
	if c.DType == "" {
		c.DType = "float32"
	}
	if v, ok := raw["bos_token_id"].(float64); ok {
		id := int32(v)
		c.BOSTokenID = &id
	}
	if v, ok := raw["pad_token_id"].(float64); ok {
		id := int32(v)
		c.PadTokenID = &id
	}
	switch v := raw["eos_token_id"].(type) {
	case float64:
		c.EOSTokenIDs = []int32{int32(v)}
	case []any:
		for _, x := range v {
			if f, ok := x.(float64); ok {
				c.EOSTokenIDs = append(c.EOSTokenIDs, int32(f))
			}
		}
	}
	return c, c.Validate()
}

// Validate checks that the architecture is buildable.
func (c *Config) Validate() error {
	pos := map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.Hidden, "intermediate_size": c.Intermediate,
		"num_hidden_layers": c.Layers, "num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "head_dim": c.HeadDim}
	for _, k := range []string{"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim"} {
		if pos[k] <= 0 {
			return fmt.Errorf("field %q must be positive, got %d", k, pos[k])
		}
	}
	// Token ids and positions are int32; larger sizes cannot be indexed.
	for _, k := range []string{"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim"} {
		if pos[k] > math.MaxInt32 {
			return fmt.Errorf("field %q is %d, beyond the largest supported size %d", k, pos[k], math.MaxInt32)
		}
	}
	if c.MaxPositions <= 0 || c.MaxPositions > math.MaxInt32 {
		return fmt.Errorf("field \"max_position_embeddings\" must be in [1, %d], got %d", math.MaxInt32, c.MaxPositions)
	}
	if n := c.numParamsFloat(); n > maxParams {
		return fmt.Errorf("the sizes describe %.3g parameters (%s), more than any model r1 can hold (%.0e): check vocab_size, hidden_size, intermediate_size and num_hidden_layers",
			n, c.sizes(), float64(maxParams))
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)", c.Heads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("head_dim (%d) must be even for rotary embeddings", c.HeadDim)
	}
	if c.RMSNormEps <= 0 {
		return fmt.Errorf("rms_norm_eps must be positive, got %g", c.RMSNormEps)
	}
	if c.ScoreHead() && c.NumLabels < 1 {
		return fmt.Errorf("num_labels must be positive for %s, got %d", c.Architectures[0], c.NumLabels)
	}
	if c.NumLabels > math.MaxInt32 {
		return fmt.Errorf("field \"num_labels\" is %d, beyond the largest supported size %d", c.NumLabels, math.MaxInt32)
	}
	return nil
}

// maxParams bounds the parameter count a config may describe (a petabyte of
// float32 weights), so that sizes computed from it never overflow int64.
const maxParams = 1 << 48

// numParamsFloat is NumParams in float64, which cannot overflow.
func (c *Config) numParamsFloat() float64 {
	h, f := float64(c.Hidden), float64(c.Intermediate)
	q, kv := float64(c.Heads)*float64(c.HeadDim), float64(c.KVHeads)*float64(c.HeadDim)
	per := 2*h + 2*h*q + 2*h*kv + 3*h*f + q + 2*kv + 3*h + 2*f + 2*float64(c.HeadDim)
	return float64(c.Layers)*per + 2*float64(c.VocabSize)*h + h + float64(max(c.NumLabels, 0))*h
}

// sizes names the size fields with their values, for messages.
func (c *Config) sizes() string {
	return fmt.Sprintf("vocab_size=%d hidden_size=%d intermediate_size=%d num_hidden_layers=%d num_attention_heads=%d num_key_value_heads=%d head_dim=%d",
		c.VocabSize, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim)
}

// archPrefix is the transformers class-name prefix of each model type.
var archPrefix = map[string]string{"llama": "Llama", "qwen2": "Qwen2", "qwen3": "Qwen3"}

// ScoreHead reports whether the config is a sequence classifier
// (*ForSequenceClassification): a score head replaces the LM head.
func (c *Config) ScoreHead() bool {
	for _, a := range c.Architectures {
		if strings.HasSuffix(a, "ForSequenceClassification") {
			return true
		}
	}
	return false
}

// MarshalJSON writes config.json in the spelling of the transformers
// version the config came from, keeping fields r1 does not interpret.
func (c *Config) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range c.raw {
		out[k] = v
	}
	if len(c.Architectures) > 0 {
		out["architectures"] = c.Architectures
	} else if _, ok := out["architectures"]; !ok {
		out["architectures"] = []string{archPrefix[c.ModelType] + "ForCausalLM"}
	}
	if c.ScoreHead() {
		// Labels as transformers writes them: id2label and label2id.
		if id2label, ok := out["id2label"].(map[string]any); !ok || len(id2label) != c.NumLabels {
			id2, label2 := map[string]string{}, map[string]int{}
			for i := 0; i < c.NumLabels; i++ {
				id2[fmt.Sprint(i)] = fmt.Sprintf("LABEL_%d", i)
				label2[fmt.Sprintf("LABEL_%d", i)] = i
			}
			out["id2label"], out["label2id"] = id2, label2
		}
		delete(out, "num_labels")
	}
	out["model_type"] = c.ModelType
	out["vocab_size"] = c.VocabSize
	out["hidden_size"] = c.Hidden
	out["intermediate_size"] = c.Intermediate
	out["num_hidden_layers"] = c.Layers
	out["num_attention_heads"] = c.Heads
	out["num_key_value_heads"] = c.KVHeads
	out["head_dim"] = c.HeadDim
	out["rms_norm_eps"] = c.RMSNormEps
	out["max_position_embeddings"] = c.MaxPositions
	out["tie_word_embeddings"] = c.TieEmbeddings
	out["initializer_range"] = c.InitializerRange
	out["hidden_act"] = "silu"
	if c.ModelType != "qwen2" {
		out["attention_bias"] = c.OutputBias
	}
	if c.ModelType == "llama" {
		out["mlp_bias"] = c.MLPBias
	}
	if c.BOSTokenID != nil {
		out["bos_token_id"] = *c.BOSTokenID
	}
	if c.PadTokenID != nil {
		out["pad_token_id"] = *c.PadTokenID
	}
	switch len(c.EOSTokenIDs) {
	case 0:
	case 1:
		out["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		out["eos_token_id"] = c.EOSTokenIDs
	}
	var scaling any
	if c.RopeScaling != nil {
		scaling = c.RopeScaling
	}
	if c.TransformersStyle >= 5 {
		delete(out, "rope_theta")
		delete(out, "rope_scaling")
		delete(out, "torch_dtype")
		rp := map[string]any{"rope_type": "default", "rope_theta": c.RopeTheta}
		if c.RopeScaling != nil {
			rp = map[string]any{"rope_type": c.RopeScaling.Type, "rope_theta": c.RopeTheta, "factor": c.RopeScaling.Factor}
			if c.RopeScaling.Type == "llama3" {
				rp["low_freq_factor"] = c.RopeScaling.LowFreqFactor
				rp["high_freq_factor"] = c.RopeScaling.HighFreqFactor
				rp["original_max_position_embeddings"] = c.RopeScaling.OriginalMaxPositionEmbeddings
			}
		}
		out["rope_parameters"] = rp
		out["dtype"] = c.DType
	} else {
		delete(out, "rope_parameters")
		delete(out, "dtype")
		out["rope_theta"] = c.RopeTheta
		out["rope_scaling"] = scaling
		out["torch_dtype"] = c.DType
	}
	if _, ok := out["transformers_version"]; !ok {
		out["transformers_version"] = map[int]string{4: "4.46.0", 5: "5.0.0"}[c.TransformersStyle]
	}
	return json.MarshalIndent(out, "", "  ")
}

// NumParams counts the parameters (tied embeddings once).
func (c *Config) NumParams() int64 {
	h, kv := int64(c.Hidden), int64(c.KVHeads*c.HeadDim)
	q := int64(c.Heads * c.HeadDim)
	f := int64(c.Intermediate)
	per := h + h*q + 2*h*kv + q*h + h + 3*h*f
	if c.AttentionBias {
		per += q + 2*kv
	}
	if c.OutputBias {
		per += h
	}
	if c.MLPBias {
		per += 2*f + h
	}
	if c.QKNorm {
		per += 2 * int64(c.HeadDim)
	}
	n := int64(c.Layers)*per + int64(c.VocabSize)*h + h
	switch {
	case c.ScoreHead():
		n += int64(c.NumLabels) * h
	case !c.TieEmbeddings:
		n += int64(c.VocabSize) * h
	}
	return n
}

// MarshalJSON needs c.raw non-nil for configs built in code.
func (c *Config) ensureRaw() {
	if c.raw == nil {
		c.raw = map[string]any{}
	}
}
