package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Model is a checkpoint's tensors across one or more files, looked up by
// name.
type Model struct {
	dir    string
	files  []*File
	byName map[string]*Tensor
	names  []string
}

// OpenModel opens the checkpoint in dir. Like transformers, it prefers
// model.safetensors and otherwise follows model.safetensors.index.json,
// opening every shard its weight_map names and checking that each listed
// tensor is in the shard the index says. Tensors a shard holds but the index
// does not list are ignored, as transformers ignores them.
func OpenModel(dir string) (*Model, error) {
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		m := &Model{dir: dir, files: []*File{f}, byName: make(map[string]*Tensor, len(f.tensors))}
		for i := range f.tensors {
			m.byName[f.tensors[i].Name] = &f.tensors[i]
		}
		m.names = f.Names()
		return m, nil
	}
	idxPath := filepath.Join(dir, IndexFileName)
	js, err := os.ReadFile(idxPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: %s: neither %s nor %s found", dir, SingleFileName, IndexFileName)
	}
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(js, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: malformed JSON: %v", idxPath, err)
	}
	if idx.WeightMap == nil {
		return nil, fmt.Errorf("safetensors: %s: missing \"weight_map\" object", idxPath)
	}
	m := &Model{dir: dir, byName: make(map[string]*Tensor, len(idx.WeightMap))}
	shards := map[string]*File{}
	var shardNames []string
	for name, shard := range idx.WeightMap {
		if _, ok := shards[shard]; !ok {
			if !filepath.IsLocal(shard) {
				return nil, fmt.Errorf("safetensors: %s: weight_map[%q] = %q is not a file name inside %s", idxPath, name, shard, dir)
			}
			shards[shard] = nil
			shardNames = append(shardNames, shard)
		}
	}
	sort.Strings(shardNames)
	for _, s := range shardNames {
		f, err := Open(filepath.Join(dir, s))
		if err != nil {
			m.Close()
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("safetensors: %s: shard %q listed in weight_map is missing: %w", idxPath, s, err)
			}
			return nil, err
		}
		shards[s] = f
		m.files = append(m.files, f)
	}
	for name, shard := range idx.WeightMap {
		t, ok := shards[shard].Tensor(name)
		if !ok {
			m.Close()
			return nil, fmt.Errorf("safetensors: %s: weight_map puts tensor %q in %s, which does not contain it", idxPath, name, shard)
		}
		m.byName[name] = t
		m.names = append(m.names, name)
	}
	sort.Strings(m.names)
	return m, nil
}

// Dir is the directory given to OpenModel.
func (m *Model) Dir() string { return m.dir }

// Names lists every tensor name in sorted order.
func (m *Model) Names() []string { return append([]string(nil), m.names...) }

// Files are the open files (one, or the shards in name order).
func (m *Model) Files() []*File { return m.files }

// Tensor looks a tensor up by name across all shards.
func (m *Model) Tensor(name string) (*Tensor, bool) {
	t, ok := m.byName[name]
	return t, ok
}

// Get is Tensor with an error naming the checkpoint and the missing tensor.
func (m *Model) Get(name string) (*Tensor, error) {
	if t, ok := m.byName[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("safetensors: %s: checkpoint has no tensor %q", m.dir, name)
}

// Metadata is the "__metadata__" of the first file (transformers writes the
// same map into every shard).
func (m *Model) Metadata() map[string]string {
	if len(m.files) == 0 {
		return nil
	}
	return m.files[0].Metadata()
}

// Close closes every file and reports the first error.
func (m *Model) Close() error {
	var first error
	for _, f := range m.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
