package safetensors

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// modelTensors is a small Llama-like set: sizes in bytes are given so the
// expected shard split can be worked out by hand.
func modelTensors(t *testing.T) []Tensor {
	rng := rand.New(rand.NewPCG(3, 4))
	return []Tensor{
		randomTensor(t, rng, "model.embed_tokens.weight", "BF16", []int{16, 8}),            // 256
		randomTensor(t, rng, "lm_head.weight", "BF16", []int{16, 8}),                       // 256
		randomTensor(t, rng, "model.layers.0.self_attn.q_proj.weight", "F32", []int{8, 8}), // 256
		randomTensor(t, rng, "model.layers.0.mlp.up_proj.weight", "F16", []int{32, 8}),     // 512
		randomTensor(t, rng, "model.norm.weight", "F32", []int{8}),                         // 32
		randomTensor(t, rng, "model.layers.0.input_layernorm.weight", "BF16", []int{8}),    // 16
	}
}

func TestWriteModelSharding(t *testing.T) {
	in := modelTensors(t)
	var total int64
	for _, x := range in {
		total += int64(len(x.Data))
	}
	cases := []struct {
		name     string
		maxShard int64
		shards   [][]string // expected tensor names per shard; nil = single file
	}{
		{"no limit", 0, nil},
		{"limit equals total", total, nil},
		// Greedy in name order: a shard closes when the next tensor would
		// push it past the limit.
		{"limit 600", 600, [][]string{
			{"lm_head.weight", "model.embed_tokens.weight", "model.layers.0.input_layernorm.weight"},
			{"model.layers.0.mlp.up_proj.weight"},
			{"model.layers.0.self_attn.q_proj.weight", "model.norm.weight"},
		}},
		// up_proj (512 bytes) is over the limit and gets a shard to itself.
		{"limit 300", 300, [][]string{
			{"lm_head.weight"},
			{"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight"},
			{"model.layers.0.mlp.up_proj.weight"},
			{"model.layers.0.self_attn.q_proj.weight", "model.norm.weight"},
		}},
		{"limit 1", 1, [][]string{
			{"lm_head.weight"}, {"model.embed_tokens.weight"}, {"model.layers.0.input_layernorm.weight"},
			{"model.layers.0.mlp.up_proj.weight"}, {"model.layers.0.self_attn.q_proj.weight"}, {"model.norm.weight"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			if err := WriteModel(dir, in, map[string]string{"step": "7"}, c.maxShard); err != nil {
				t.Fatal(err)
			}
			ents, _ := os.ReadDir(dir)
			var files []string
			for _, e := range ents {
				files = append(files, e.Name())
			}
			if c.shards == nil {
				if strings.Join(files, ",") != SingleFileName {
					t.Fatalf("files = %v, want only %s", files, SingleFileName)
				}
			} else {
				checkIndex(t, dir, c.shards, total)
				if len(files) != len(c.shards)+1 {
					t.Fatalf("files = %v, want %d shards + index", files, len(c.shards))
				}
			}
			m, err := OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := make([]string, len(in))
			for i, x := range in {
				want[i] = x.Name
			}
			sort.Strings(want)
			if got := m.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("names = %v, want %v", got, want)
			}
			if m.Metadata()["format"] != "pt" || m.Metadata()["step"] != "7" {
				t.Errorf("metadata = %v, want format=pt and step=7", m.Metadata())
			}
			for _, x := range in {
				g, err := m.Get(x.Name)
				if err != nil {
					t.Fatal(err)
				}
				if g.DType != x.DType || !slices.Equal(g.Shape, x.Shape) || !bytes.Equal(g.Data, x.Data) {
					t.Errorf("%s differs after the round trip", x.Name)
				}
			}
			if _, err := m.Get("missing.weight"); err == nil || !strings.Contains(err.Error(), `"missing.weight"`) {
				t.Errorf("Get of an absent tensor: got %v", err)
			}
		})
	}
}

// checkIndex compares the index file with what transformers would write.
func checkIndex(t *testing.T, dir string, shards [][]string, total int64) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(dir, IndexFileName))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(js, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.Metadata["total_size"] != total {
		t.Errorf("total_size = %d, want %d", idx.Metadata["total_size"], total)
	}
	n := 0
	for i, names := range shards {
		file := shardName(i, len(shards))
		for _, name := range names {
			n++
			if idx.WeightMap[name] != file {
				t.Errorf("weight_map[%q] = %q, want %q", name, idx.WeightMap[name], file)
			}
		}
	}
	if len(idx.WeightMap) != n {
		t.Errorf("weight_map has %d entries, want %d", len(idx.WeightMap), n)
	}
	if !strings.HasPrefix(string(js), "{\n  \"metadata\": {\n    \"total_size\": ") || !strings.HasSuffix(string(js), "\n  }\n}\n") {
		t.Errorf("index layout differs from transformers' indent=2, sort_keys=True:\n%s", js)
	}
	if got := shardName(0, 3); got != "model-00001-of-00003.safetensors" {
		t.Errorf("shard name %q", got)
	}
}

// A save over an older checkpoint must not leave files that transformers
// would load instead (model.safetensors shadows an index) or stale shards.
func TestWriteModelRemovesStaleFiles(t *testing.T) {
	in := modelTensors(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "config.json")
	if err := os.WriteFile(other, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		maxShard int64
		files    string
	}{
		{300, "config.json,model-00001-of-00004.safetensors,model-00002-of-00004.safetensors,model-00003-of-00004.safetensors,model-00004-of-00004.safetensors,model.safetensors.index.json"},
		{600, "config.json,model-00001-of-00003.safetensors,model-00002-of-00003.safetensors,model-00003-of-00003.safetensors,model.safetensors.index.json"},
		{0, "config.json,model.safetensors"},
		{600, "config.json,model-00001-of-00003.safetensors,model-00002-of-00003.safetensors,model-00003-of-00003.safetensors,model.safetensors.index.json"},
	}
	for i, s := range steps {
		if err := WriteModel(dir, in, nil, s.maxShard); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		var files []string
		for _, e := range ents {
			files = append(files, e.Name())
		}
		if got := strings.Join(files, ","); got != s.files {
			t.Errorf("step %d (max %d): files = %s, want %s", i, s.maxShard, got, s.files)
		}
	}
}

func TestOpenModelRealCheckpoint(t *testing.T) {
	m, err := OpenModel(filepath.Dir(tinyLlama(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Names()) != 39 || len(m.Files()) != 1 {
		t.Fatalf("got %d tensors in %d files, want 39 in 1", len(m.Names()), len(m.Files()))
	}
	if q, ok := m.Tensor("model.layers.0.self_attn.q_proj.weight"); !ok || !slices.Equal(q.Shape, []int{128, 128}) {
		t.Errorf("q_proj lookup: ok=%v", ok)
	}
}

func TestOpenModelBadInput(t *testing.T) {
	shard := func(t *testing.T, dir, name string, tensors ...string) {
		var ts []Tensor
		for _, n := range tensors {
			ts = append(ts, Tensor{Name: n, DType: "U8", Shape: []int{1}, Data: []byte{1}})
		}
		if err := Write(filepath.Join(dir, name), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	index := func(t *testing.T, dir, js string) {
		if err := os.WriteFile(filepath.Join(dir, IndexFileName), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"empty dir", func(t *testing.T, dir string) {}, []string{"neither model.safetensors nor model.safetensors.index.json"}},
		{"malformed index", func(t *testing.T, dir string) { index(t, dir, `{"weight_map": {`) }, []string{IndexFileName, "malformed JSON"}},
		{"no weight_map", func(t *testing.T, dir string) { index(t, dir, `{"metadata": {}}`) }, []string{IndexFileName, `missing "weight_map"`}},
		{"missing shard", func(t *testing.T, dir string) {
			shard(t, dir, "a.safetensors", "x")
			index(t, dir, `{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}`)
		}, []string{IndexFileName, `shard "b.safetensors"`, "missing"}},
		{"tensor not in its shard", func(t *testing.T, dir string) {
			shard(t, dir, "a.safetensors", "x")
			shard(t, dir, "b.safetensors", "y")
			index(t, dir, `{"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}}`)
		}, []string{IndexFileName, `tensor "y"`, "a.safetensors", "does not contain it"}},
		{"shard outside dir", func(t *testing.T, dir string) {
			index(t, dir, `{"weight_map": {"x": "../a.safetensors"}}`)
		}, []string{`"../a.safetensors"`, "not a file name inside"}},
		{"corrupt shard", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "a.safetensors"), []byte("abc"), 0o644)
			index(t, dir, `{"weight_map": {"x": "a.safetensors"}}`)
		}, []string{"a.safetensors", "shorter than the 8-byte"}},
		{"corrupt single file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, SingleFileName), []byte("{}"), 0o644)
		}, []string{SingleFileName, "2 bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			m, err := OpenModel(dir)
			if err == nil {
				m.Close()
				t.Fatal("OpenModel succeeded, want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
