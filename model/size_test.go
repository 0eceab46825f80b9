package model

import (
	"strings"
	"testing"

	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// fakeShapes is a checkpoint's tensor shapes without data.
type fakeShapes map[string][]int

func (f fakeShapes) Names() []string {
	var out []string
	for n := range f {
		out = append(out, n)
	}
	return out
}

func (f fakeShapes) Tensor(name string) (*safetensors.Tensor, bool) {
	s, ok := f[name]
	if !ok {
		return nil, false
	}
	return &safetensors.Tensor{Name: name, Shape: s}, true
}

func TestCheckTensors(t *testing.T) {
	base := func() *Config {
		c, err := ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 40,
			"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ckpt := fakeShapes{
		"model.embed_tokens.weight":              {100, 16},
		"lm_head.weight":                         {100, 16},
		"model.layers.0.self_attn.q_proj.weight": {16, 16},
		"model.layers.0.self_attn.k_proj.weight": {8, 16},
		"model.layers.0.mlp.gate_proj.weight":    {40, 16},
		"model.layers.1.self_attn.q_proj.weight": {16, 16},
	}
	if err := CheckTensors(base(), ckpt); err != nil {
		t.Fatalf("matching config: %v", err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.VocabSize = 1 << 30 }, "vocab_size=1073741824, hidden_size=16, so tensor \"model.embed_tokens.weight\" should have shape [1073741824 16], but the checkpoint's has shape [100 16]"},
		{func(c *Config) { c.Hidden = 4096 }, "hidden_size=4096"},
		{func(c *Config) { c.Intermediate = 1 << 20 }, "intermediate_size=1048576"},
		{func(c *Config) { c.KVHeads = 4 }, "num_key_value_heads=4"},
		{func(c *Config) { c.HeadDim = 64 }, "num_attention_heads=4 × head_dim=64"},
		{func(c *Config) { c.Layers = 1000 }, "num_hidden_layers=1000, but the checkpoint holds 2 layers"},
	} {
		c := base()
		tc.edit(c)
		if err := CheckTensors(c, ckpt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
	delete(ckpt, "model.embed_tokens.weight")
	if err := CheckTensors(base(), ckpt); err == nil || !strings.Contains(err.Error(), "model.embed_tokens.weight") {
		t.Errorf("no embedding: err %v", err)
	}
}

// Sizes no machine can hold are refused by ParseConfig (int32 ids, a cap
// on the parameter count) and by CheckMemory (the machine's memory).
func TestSizeLimits(t *testing.T) {
	for _, tc := range []struct {
		json, want string
	}{
		{`"vocab_size": 1e12, "hidden_size": 16`, `field "vocab_size" is 1000000000000`},
		{`"vocab_size": 2000000000, "hidden_size": 2000000000`, "parameters"},
		{`"vocab_size": 100, "hidden_size": 16, "max_position_embeddings": 0`, "max_position_embeddings"},
		{`"vocab_size": 100, "hidden_size": 16, "architectures": ["LlamaForSequenceClassification"], "num_labels": 1e12`, "num_labels"},
	} {
		_, err := ParseConfig([]byte(`{"model_type": "llama", ` + tc.json + `, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.json, err, tc.want)
		}
	}
	if _, ok := HostMemory(); !ok {
		t.Skip("memory size unknown here")
	}
	c, err := ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 1000000000, "hidden_size": 65536, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckMemory(c, tensor.F32); err == nil || !strings.Contains(err.Error(), "this machine has") || !strings.Contains(err.Error(), "vocab_size=1000000000") {
		t.Errorf("CheckMemory: %v", err)
	}
	small, _ := ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4}`))
	if err := CheckMemory(small, tensor.F32); err != nil {
		t.Errorf("a small model: %v", err)
	}
}
