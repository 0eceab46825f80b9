package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
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
	// Check the sizes before allocating anything: a config that does not
	// describe the checkpoint, or a model larger than the machine, is
	// refused with the sizes instead of dying out of memory.
	if err := CheckTensors(cfg, st); err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if err := CheckMemory(cfg, o.dtype); err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
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

// TensorShapes is the part of a checkpoint CheckTensors looks at.
type TensorShapes interface {
	Names() []string
	Tensor(name string) (*safetensors.Tensor, bool)
}

// CheckTensors compares the sizes in cfg with the checkpoint's tensors
// before any weight is allocated: the embedding must be (vocab_size,
// hidden_size), the first layer's projections must match the head and MLP
// sizes, and the checkpoint must hold num_hidden_layers layers. The error
// names the config field, its value and the tensor's shape.
func CheckTensors(cfg *Config, st TensorShapes) error {
	shape := func(name string) ([]int, bool) {
		t, ok := st.Tensor(name)
		if !ok {
			return nil, false
		}
		return t.Shape, true
	}
	mismatch := func(name string, got []int, want []int, fields string) error {
		return fmt.Errorf("config.json says %s, so tensor %q should have shape %v, but the checkpoint's has shape %v", fields, name, want, got)
	}
	check := func(name string, fields string, want ...int) error {
		got, ok := shape(name)
		if !ok {
			return nil // Load reports missing tensors once the names are known
		}
		if len(got) != len(want) {
			return mismatch(name, got, want, fields)
		}
		for i := range got {
			if got[i] != want[i] {
				return mismatch(name, got, want, fields)
			}
		}
		return nil
	}
	vh := fmt.Sprintf("vocab_size=%d, hidden_size=%d", cfg.VocabSize, cfg.Hidden)
	if _, ok := shape("model.embed_tokens.weight"); !ok {
		return fmt.Errorf("tensor \"model.embed_tokens.weight\" is missing: not a %s checkpoint", cfg.ModelType)
	}
	if err := check("model.embed_tokens.weight", vh, cfg.VocabSize, cfg.Hidden); err != nil {
		return err
	}
	if !cfg.TieEmbeddings {
		if err := check("lm_head.weight", vh, cfg.VocabSize, cfg.Hidden); err != nil {
			return err
		}
	}
	if cfg.ScoreHead() {
		if err := check(scoreName+".weight", fmt.Sprintf("num_labels=%d, hidden_size=%d", cfg.NumLabels, cfg.Hidden), cfg.NumLabels, cfg.Hidden); err != nil {
			return err
		}
	}
	q, kv := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	for _, c := range []struct {
		name, fields string
		rows         int
	}{
		{"self_attn.q_proj.weight", fmt.Sprintf("num_attention_heads=%d × head_dim=%d = %d, hidden_size=%d", cfg.Heads, cfg.HeadDim, q, cfg.Hidden), q},
		{"self_attn.k_proj.weight", fmt.Sprintf("num_key_value_heads=%d × head_dim=%d = %d, hidden_size=%d", cfg.KVHeads, cfg.HeadDim, kv, cfg.Hidden), kv},
		{"mlp.gate_proj.weight", fmt.Sprintf("intermediate_size=%d, hidden_size=%d", cfg.Intermediate, cfg.Hidden), cfg.Intermediate},
	} {
		if err := check("model.layers.0."+c.name, c.fields, c.rows, cfg.Hidden); err != nil {
			return err
		}
	}
	// The layers present: model.layers.N.… for N up to the largest.
	layers := 0
	for _, n := range st.Names() {
		rest, ok := strings.CutPrefix(n, "model.layers.")
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < math.MaxInt32 {
			layers = max(layers, i+1)
		}
	}
	if layers < cfg.Layers {
		return fmt.Errorf("config.json says num_hidden_layers=%d, but the checkpoint holds %d layers (model.layers.0 to model.layers.%d)", cfg.Layers, layers, layers-1)
	}
	return nil
}

// WeightBytes is the memory the model's weights take once loaded as float32
// (an upper bound for the 16-bit compute types).
func (c *Config) WeightBytes() int64 { return 4 * c.NumParams() }

// CheckMemory refuses a model whose weights, stored as dt, do not fit in the
// machine's memory, naming the sizes; it passes when the memory is unknown.
func CheckMemory(c *Config, dt tensor.DType) error {
	limit, ok := HostMemory()
	if !ok {
		return nil
	}
	if need := int64(dt.Size()) * c.NumParams(); need > limit {
		return fmt.Errorf("the weights need %s as %v (%d parameters: %s) but this machine has %s of memory",
			humanBytes(need), dt, c.NumParams(), c.sizes(), humanBytes(limit))
	}
	return nil
}

// HostMemory returns the memory this process may use: the machine's total
// memory (/proc/meminfo), or the cgroup's limit when lower. ok is false
// where neither can be read.
func HostMemory() (bytes int64, ok bool) {
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, found := strings.CutPrefix(line, "MemTotal:"); found {
				f := strings.Fields(rest)
				if len(f) >= 1 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil && kb > 0 {
						bytes, ok = kb<<10, true
					}
				}
			}
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err == nil && v > 0 && (!ok || v < bytes) {
			bytes, ok = v, true
		}
	}
	return bytes, ok
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(b)/(1<<40))
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d B", b)
}
