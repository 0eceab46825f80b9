package model

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/r1go/r1/internal/atomicfile"
	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// Load reads a Hugging Face checkpoint directory: config.json and
// model.safetensors (or shards listed in model.safetensors.index.json), in
// F32, BF16 or F16. Weights are converted to the model's dtype (the
// backend's ComputeDType unless WithDType says otherwise). Every weight the
// architecture needs must be present with the shape the config implies;
// extra tensors (e.g. rotary_emb.inv_freq) are ignored and listed in
// Model.Ignored. The heads follow config.json's architectures and the
// options; a TRL value head (v_head.summary.*) in the checkpoint is loaded.
// Head weights an option adds and the checkpoint lacks are initialized
// (N(0, initializer_range) from a fixed seed, biases 0) and listed in
// Model.Initialized.
func Load(dir string, dev tensor.Backend, opts ...Option) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	cfg, o, err := resolve(cfg, dev, opts)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	defer st.Close()
	if _, ok := st.Tensor(valueHeadName + ".weight"); ok {
		o.valueHead = true
	}
	m := build(cfg, dev, o)
	rng := rand.New(rand.NewPCG(0, 0x5eed))
	want := map[string]bool{}
	for _, p := range m.params {
		want[p.Name] = true
		t, ok := st.Tensor(p.Name)
		if !ok && m.optionalHead(p.Name, o) {
			m.initParam(p, rng)
			m.Initialized = append(m.Initialized, p.Name)
			continue
		}
		if !ok {
			return nil, fmt.Errorf("load %s: tensor %q is missing (config.json describes a %s with %d layers)", dir, p.Name, cfg.ModelType, cfg.Layers)
		}
		if !tensor.SameShape(t.Shape, p.Var.Val.Shape) {
			return nil, fmt.Errorf("load %s: tensor %q has shape %v, but config.json implies %v", dir, p.Name, t.Shape, p.Var.Val.Shape)
		}
		vals, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", dir, err)
		}
		m.setParam(p, vals)
	}
	for _, name := range st.Names() {
		if !want[name] {
			m.Ignored = append(m.Ignored, name)
		}
	}
	return m, nil
}

// optionalHead reports whether name is a weight of a head that an option
// added, which Load may initialize when the checkpoint lacks it.
func (m *Model) optionalHead(name string, o options) bool {
	switch {
	case o.score && strings.HasPrefix(name, scoreName+"."):
		return true
	case o.valueHead && strings.HasPrefix(name, valueHeadName+"."):
		return true
	}
	return false
}

// Save writes config.json and model.safetensors (sharded above 5 GB, as
// transformers does) into dir, atomically file by file, with weights stored
// as dtype. The result loads unchanged in transformers.
func (m *Model) Save(dir string, dtype tensor.DType) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	tensors := make([]safetensors.Tensor, 0, len(m.params))
	for _, p := range m.params {
		t, err := safetensors.FromFloat32(p.Name, dtype, p.Var.Val.Shape, m.Dev.Download(p.Var.Val))
		if err != nil {
			return fmt.Errorf("save model: %w", err)
		}
		tensors = append(tensors, t)
	}
	if err := safetensors.WriteModel(dir, tensors, map[string]string{"format": "pt"}, 5<<30); err != nil {
		return fmt.Errorf("save model to %s: %w", dir, err)
	}
	cfg := *m.Config
	cfg.ensureRaw()
	cfg.DType = map[tensor.DType]string{tensor.F32: "float32", tensor.BF16: "bfloat16", tensor.F16: "float16"}[dtype]
	data, err := cfg.MarshalJSON()
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, "config.json"), append(data, '\n'))
}

// CopyTokenizerFiles copies the tokenizer and generation files that sit
// next to a checkpoint (tokenizer.json, tokenizer_config.json,
// generation_config.json, special_tokens_map.json) from src to dst, so that a
// saved model is self-contained. Missing files are skipped.
func CopyTokenizerFiles(src, dst string) error {
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(dst, name), data); err != nil {
			return err
		}
	}
	return nil
}

// Describe is a one-line summary: "qwen2 24L d896 14h/2kv hd64 ff4864 V151936 tied 494.0M params".
func (c *Config) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %dL d%d %dh/%dkv hd%d ff%d V%d", c.ModelType, c.Layers, c.Hidden, c.Heads, c.KVHeads, c.HeadDim, c.Intermediate, c.VocabSize)
	if c.ScoreHead() {
		fmt.Fprintf(&b, " score(%d)", c.NumLabels)
	} else if c.TieEmbeddings {
		b.WriteString(" tied")
	}
	fmt.Fprintf(&b, " %.1fM params", float64(c.NumParams())/1e6)
	return b.String()
}
