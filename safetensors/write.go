package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/r1go/r1/internal/atomicfile"
)

// Standard Hugging Face checkpoint file names.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Write stores tensors in a safetensors file at path, atomically. As the
// Hugging Face writers do, tensors appear in the header sorted by name, data
// follows in the same order, and the header is padded with spaces to a
// multiple of 8 bytes so that the data region stays aligned. metadata may be
// nil; transformers expects {"format": "pt"}.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	sorted, err := checkTensors(path, tensors)
	if err != nil {
		return err
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("safetensors: %s: metadata %q: keys and values must be valid UTF-8", path, k)
		}
	}
	hdr := encodeHeader(sorted, metadata)
	return atomicfile.WriteFunc(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		for _, t := range sorted {
			if _, err := w.Write(t.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkTensors validates tensors for writing and returns them sorted by
// name, without modifying the caller's slice.
func checkTensors(path string, tensors []Tensor) ([]Tensor, error) {
	sorted := append([]Tensor(nil), tensors...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i, t := range sorted {
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("safetensors: %s: tensor %d has an empty name", path, i)
		case t.Name == metadataKey:
			return nil, fmt.Errorf("safetensors: %s: tensor name %q is reserved", path, t.Name)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("safetensors: %s: tensor name %q is not valid UTF-8", path, t.Name)
		case i > 0 && sorted[i-1].Name == t.Name:
			return nil, fmt.Errorf("safetensors: %s: tensor %q appears twice", path, t.Name)
		}
		size, err := byteSize(t.DType, t.Shape)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: %v", path, t.Name, err)
		}
		if int64(len(t.Data)) != size {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: has %d data bytes, %s %v needs %d", path, t.Name, len(t.Data), t.DType, t.Shape, size)
		}
	}
	return sorted, nil
}

// encodeHeader writes the compact JSON header by hand, because the key order
// (metadata first, then tensors by name) and the field order inside each
// entry should match what the reference writer produces.
func encodeHeader(sorted []Tensor, metadata map[string]string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		writeJSONString(&b, metadataKey)
		b.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, k)
			b.WriteByte(':')
			writeJSONString(&b, metadata[k])
		}
		b.WriteByte('}')
		if len(sorted) > 0 {
			b.WriteByte(',')
		}
	}
	var off int64
	for i, t := range sorted {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, t.Name)
		b.WriteString(`:{"dtype":`)
		writeJSONString(&b, t.DType)
		b.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
		end := off + int64(len(t.Data))
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// writeJSONString appends s as a JSON string without HTML escaping, which
// the Rust writer does not do either.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // cannot fail for a string
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// shardName is the Hugging Face name of shard i (0-based) of n.
func shardName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
}

var shardPattern = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// index is the layout of model.safetensors.index.json.
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// WriteModel writes a checkpoint into dir (created if needed) the way
// transformers' save_pretrained does: one model.safetensors when the data
// fits in maxShardBytes (or maxShardBytes <= 0), otherwise shards
// model-00001-of-0000N.safetensors filled greedily in name order (a tensor
// larger than the limit gets a shard of its own) plus
// model.safetensors.index.json. If metadata has no "format" key,
// "format": "pt" is added, since transformers refuses files without it.
//
// Every file is written atomically; the index goes last, and checkpoint files
// from an earlier save that the new one does not use are removed at the end,
// so an interrupted save leaves the previous checkpoint loadable unless the
// new shards share its shard names.
func WriteModel(dir string, tensors []Tensor, metadata map[string]string, maxShardBytes int64) error {
	sorted, err := checkTensors(dir, tensors)
	if err != nil {
		return err
	}
	md := map[string]string{"format": "pt"}
	for k, v := range metadata {
		md[k] = v
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	var total int64
	var groups [][]Tensor
	var cur []Tensor
	var curSize int64
	for _, t := range sorted {
		n := int64(len(t.Data))
		total += n
		if maxShardBytes > 0 && len(cur) > 0 && curSize+n > maxShardBytes {
			groups = append(groups, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, t)
		curSize += n
	}
	if len(cur) > 0 || len(groups) == 0 {
		groups = append(groups, cur)
	}
	if len(groups) == 1 {
		if err := Write(filepath.Join(dir, SingleFileName), groups[0], md); err != nil {
			return err
		}
		return removeStale(dir, map[string]bool{SingleFileName: true})
	}
	keep := map[string]bool{IndexFileName: true}
	idx := index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	for i, g := range groups {
		name := shardName(i, len(groups))
		keep[name] = true
		if err := Write(filepath.Join(dir, name), g, md); err != nil {
			return err
		}
		for _, t := range g {
			idx.WeightMap[t.Name] = name
		}
	}
	// transformers writes json.dumps(index, indent=2, sort_keys=True) + "\n";
	// Go sorts map keys and the struct fields are already in sorted order.
	js, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", filepath.Join(dir, IndexFileName), err)
	}
	if err := atomicfile.Write(filepath.Join(dir, IndexFileName), append(js, '\n')); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return removeStale(dir, keep)
}

// removeStale deletes checkpoint files in dir that are not in keep, so an
// old model.safetensors cannot shadow a new sharded save (transformers looks
// for the single file first) and old shards do not linger.
func removeStale(dir string, keep map[string]bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if keep[n] || e.IsDir() {
			continue
		}
		if n == SingleFileName || n == IndexFileName || shardPattern.MatchString(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("safetensors: removing stale checkpoint file: %w", err)
			}
		}
	}
	return nil
}
