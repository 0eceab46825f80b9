package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// sharedData is ../shared/data next to the repository.
func sharedData(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "..", "shared", "data"))
	if _, err := os.Stat(dir); err != nil {
		t.Skip("shared data not present:", dir)
	}
	return dir
}

// The tiny-llama-random checkpoint was written by transformers 4.43 in bf16.
func TestLoadTransformersCheckpoint(t *testing.T) {
	dir := filepath.Join(sharedData(t), "models", "tiny-llama-random")
	m, err := Load(dir, dev)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.ModelType != "llama" || m.Config.Layers != 4 || m.Config.Hidden != 128 || m.Config.DType != "bfloat16" {
		t.Fatalf("config read wrong: %+v", m.Config)
	}
	l := logitsOf(t, m, NewBatch([][]int32{{0, 3, 5, 7}, {9, 1}}, 2))
	if len(l) != 2*4*16 {
		t.Fatalf("got %d logits", len(l))
	}
	if !dev.AllFinite(dev.Upload(l, tensor.F32, len(l))) {
		t.Fatal("non-finite logits")
	}
}

// copyFixture copies a fixture checkpoint into a temp dir for mutation.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join("testdata", name, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestLoadBadInput(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   []string // substrings the error must contain
	}{
		{"missing safetensors", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors"))
		}, []string{"model.safetensors"}},
		{"missing config", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.json"))
		}, []string{"config.json"}},
		{"truncated safetensors", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
		}, []string{"model.safetensors"}},
		{"unknown model_type", func(t *testing.T, dir string) {
			rewriteConfig(t, dir, `"model_type": "qwen2"`, `"model_type": "mamba"`)
		}, []string{"config.json", "model_type", "mamba"}},
		{"shape disagrees with config", func(t *testing.T, dir string) {
			rewriteConfig(t, dir, `"intermediate_size": 64`, `"intermediate_size": 72`)
		}, []string{"mlp.gate_proj.weight", "[64 32]", "[72 32]"}},
		{"missing tensor", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			f, err := safetensors.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			var keep []safetensors.Tensor
			for _, tt := range f.Tensors() {
				if tt.Name != "model.norm.weight" {
					keep = append(keep, safetensors.Tensor{Name: tt.Name, DType: tt.DType, Shape: tt.Shape, Data: append([]byte(nil), tt.Data...)})
				}
			}
			f.Close()
			if err := safetensors.Write(p, keep, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.norm.weight", "missing"}},
		{"malformed config", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o644)
		}, []string{"config.json", "JSON"}},
		{"non-integer field", func(t *testing.T, dir string) {
			rewriteConfig(t, dir, `"num_hidden_layers": 2`, `"num_hidden_layers": "two"`)
		}, []string{"num_hidden_layers"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyFixture(t, "qwen2")
			c.mutate(t, dir)
			_, err := Load(dir, dev)
			if err == nil {
				t.Fatal("Load succeeded on bad input")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func rewriteConfig(t *testing.T, dir, old, new string) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	data, _ := os.ReadFile(p)
	if !strings.Contains(string(data), old) {
		t.Fatalf("fixture config lacks %q", old)
	}
	os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
}
