package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// File is an open safetensors file. Its tensors' Data slices point into the
// file's bytes (memory-mapped where the OS allows it) until Close.
type File struct {
	path     string
	buf      []byte // the whole file
	unmap    func([]byte) error
	tensors  []Tensor // sorted by name
	byName   map[string]int
	metadata map[string]string
}

// Open maps (or, where mapping fails, reads) the file at path and validates
// its header: dtypes known, offsets inside the data region, contiguous, not
// overlapping, and each matching shape × dtype size.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, shorter than the 8-byte header length", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes is too large to address", path, size)
	}
	buf, unmap, err := mapFile(fh, int(size))
	if err != nil {
		buf = make([]byte, size)
		if _, rerr := io.ReadFull(fh, buf); rerr != nil {
			return nil, fmt.Errorf("safetensors: %s: reading %d bytes: %w", path, size, rerr)
		}
		unmap = nil
	}
	f, err := parse(path, buf)
	if err != nil {
		if unmap != nil {
			_ = unmap(buf)
		}
		return nil, err
	}
	f.unmap = unmap
	return f, nil
}

// headerEntry is one tensor's header record; pointers tell a missing field
// from a zero one.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parse validates buf (a whole safetensors file) and indexes its tensors.
// path is used only in error messages.
func parse(path string, buf []byte) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: "+format, append([]any{path}, args...)...)
	}
	if len(buf) < 8 {
		return nil, fail("file is %d bytes, shorter than the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	rest := uint64(len(buf) - 8)
	switch {
	case n == 0:
		return nil, fail("header length is 0, want a JSON object")
	case n > maxHeaderBytes:
		return nil, fail("header length %d exceeds the %d-byte limit (corrupt file?)", n, maxHeaderBytes)
	case n > rest:
		return nil, fail("header length %d is beyond the %d bytes that follow it (truncated file?)", n, rest)
	}
	hdr := buf[8 : 8+n]
	if hdr[0] != '{' {
		return nil, fail("header does not start with '{' (not a safetensors file?)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fail("malformed JSON header: %v", err)
	}
	data := buf[8+n:]
	f := &File{path: path, buf: buf, byName: make(map[string]int, len(raw))}
	// Visit names in order so that, of several bad entries, the same one is
	// always reported.
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	spans := make([]span, 0, len(raw))
	for _, name := range names {
		msg := raw[name]
		if name == metadataKey {
			if err := json.Unmarshal(msg, &f.metadata); err != nil {
				return nil, fail("%s: want an object of string values: %v", metadataKey, err)
			}
			continue
		}
		s, err := parseEntry(name, msg, int64(len(data)))
		if err != nil {
			return nil, fail("%v", err)
		}
		spans = append(spans, s)
	}
	if err := checkLayout(spans, int64(len(data))); err != nil {
		return nil, fail("%v", err)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].t.Name < spans[j].t.Name })
	f.tensors = make([]Tensor, len(spans))
	for i, s := range spans {
		f.tensors[i] = s.t
		f.tensors[i].Data = data[s.b:s.end:s.end]
		f.byName[s.t.Name] = i
	}
	return f, nil
}

// span is a tensor with its validated data_offsets.
type span struct {
	t      Tensor
	b, end int64
}

// parseEntry decodes and checks one tensor record; the data slice is filled
// in once the whole layout is known to be valid.
func parseEntry(name string, msg json.RawMessage, dataLen int64) (span, error) {
	var e headerEntry
	if err := json.Unmarshal(msg, &e); err != nil {
		return span{}, fmt.Errorf("tensor %q: malformed entry: %v", name, err)
	}
	switch {
	case e.DType == nil:
		return span{}, fmt.Errorf("tensor %q: missing \"dtype\"", name)
	case e.Shape == nil:
		return span{}, fmt.Errorf("tensor %q: missing \"shape\"", name)
	case e.DataOffsets == nil:
		return span{}, fmt.Errorf("tensor %q: missing \"data_offsets\"", name)
	case len(*e.DataOffsets) != 2:
		return span{}, fmt.Errorf("tensor %q: data_offsets has %d values, want [begin, end]", name, len(*e.DataOffsets))
	}
	shape := make([]int, len(*e.Shape))
	for i, d := range *e.Shape {
		if d < 0 || int64(int(d)) != d {
			return span{}, fmt.Errorf("tensor %q: shape %v: dimension %d out of range", name, *e.Shape, i)
		}
		shape[i] = int(d)
	}
	size, err := byteSize(*e.DType, shape)
	if err != nil {
		return span{}, fmt.Errorf("tensor %q: %v", name, err)
	}
	b, end := (*e.DataOffsets)[0], (*e.DataOffsets)[1]
	switch {
	case b < 0 || end < b:
		return span{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] are not a valid range", name, b, end)
	case end > dataLen:
		return span{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the %d-byte data region (truncated file?)", name, b, end, dataLen)
	case end-b != size:
		return span{}, fmt.Errorf("tensor %q: data_offsets [%d, %d] span %d bytes, but %s %v needs %d", name, b, end, end-b, *e.DType, shape, size)
	}
	return span{t: Tensor{Name: name, DType: *e.DType, Shape: shape}, b: b, end: end}, nil
}

// checkLayout requires the tensors to tile the data region exactly, as the
// reference implementation does: a gap, an overlap or trailing bytes all mean
// the file was not written by a conforming writer. It reorders spans.
func checkLayout(spans []span, dataLen int64) error {
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].b != spans[j].b {
			return spans[i].b < spans[j].b
		}
		if spans[i].end != spans[j].end {
			return spans[i].end < spans[j].end
		}
		return spans[i].t.Name < spans[j].t.Name
	})
	pos, prev := int64(0), ""
	for _, s := range spans {
		switch {
		case s.b < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q (which ends at %d)", s.t.Name, s.b, s.end, prev, pos)
		case s.b > pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a gap after byte %d", s.t.Name, s.b, s.end, pos)
		}
		pos, prev = s.end, s.t.Name
	}
	if pos != dataLen {
		return fmt.Errorf("tensors cover %d bytes but the data region has %d (trailing bytes after the last tensor)", pos, dataLen)
	}
	return nil
}

// Path is the file name given to Open.
func (f *File) Path() string { return f.path }

// Names lists the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, len(f.tensors))
	for i, t := range f.tensors {
		names[i] = t.Name
	}
	return names
}

// Tensors returns all tensors sorted by name. The slice is shared: do not
// modify it.
func (f *File) Tensors() []Tensor { return f.tensors }

// Tensor looks a tensor up by name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return nil, false
	}
	return &f.tensors[i], true
}

// Get is Tensor with an error naming the file and the missing tensor.
func (f *File) Get(name string) (*Tensor, error) {
	if t, ok := f.Tensor(name); ok {
		return t, nil
	}
	return nil, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
}

// Metadata is the header's "__metadata__" map (nil when absent).
func (f *File) Metadata() map[string]string { return f.metadata }

// Close releases the mapping. Tensor data from this file must not be used
// afterwards. Closing twice is harmless.
func (f *File) Close() error {
	if f == nil || f.buf == nil {
		return nil
	}
	buf, unmap := f.buf, f.unmap
	f.buf, f.unmap = nil, nil
	for i := range f.tensors {
		f.tensors[i].Data = nil
	}
	if unmap != nil {
		if err := unmap(buf); err != nil {
			return fmt.Errorf("safetensors: %s: unmap: %w", f.path, err)
		}
	}
	return nil
}

// errNoMmap marks platforms without mmap; Open then reads the file instead.
var errNoMmap = errors.New("mmap not supported")
