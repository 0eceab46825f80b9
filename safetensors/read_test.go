package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tinyLlama is the real transformers-written checkpoint in the shared data.
func tinyLlama(t testing.TB) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "data", "models", "tiny-llama-random", "model.safetensors")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	return p
}

// rawFile assembles a safetensors file from a header string and data bytes.
func rawFile(header string, data []byte) []byte {
	var b bytes.Buffer
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	b.Write(n[:])
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func writeTemp(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenRealCheckpoint(t *testing.T) {
	path := tinyLlama(t)
	for _, mmap := range []bool{true, false} {
		t.Run(map[bool]string{true: "mmap", false: "read"}[mmap], func(t *testing.T) {
			old := useMmap
			useMmap = mmap
			defer func() { useMmap = old }()
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// 4 layers x 9 tensors + embed_tokens + final norm + lm_head.
			if got := len(f.Names()); got != 39 {
				t.Errorf("got %d tensors, want 39", got)
			}
			if got := f.Metadata()["format"]; got != "pt" {
				t.Errorf("metadata format = %q, want pt", got)
			}
			names := f.Names()
			for i := 1; i < len(names); i++ {
				if names[i-1] >= names[i] {
					t.Errorf("names not sorted: %q before %q", names[i-1], names[i])
				}
			}
			cases := []struct {
				name  string
				shape []int
			}{
				{"model.layers.0.self_attn.q_proj.weight", []int{128, 128}},
				{"model.layers.3.mlp.down_proj.weight", []int{128, 344}},
				{"model.layers.1.mlp.gate_proj.weight", []int{344, 128}},
				{"model.embed_tokens.weight", []int{16, 128}},
				{"model.norm.weight", []int{128}},
			}
			for _, c := range cases {
				tt, err := f.Get(c.name)
				if err != nil {
					t.Fatal(err)
				}
				if tt.DType != "BF16" || !slices.Equal(tt.Shape, c.shape) {
					t.Errorf("%s: got %s %v, want BF16 %v", c.name, tt.DType, tt.Shape, c.shape)
				}
				v, err := tt.Float32()
				if err != nil {
					t.Fatal(err)
				}
				nonzero := 0
				for _, x := range v {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						t.Fatalf("%s: non-finite value %v", c.name, x)
					}
					if x != 0 {
						nonzero++
					}
				}
				if nonzero == 0 {
					t.Errorf("%s: all %d values are zero", c.name, len(v))
				}
			}
		})
	}
}

// Rewriting the real file must reproduce it byte for byte: same key order,
// compact JSON, space padding and data layout as the reference writer.
func TestRewriteRealCheckpointIsIdentical(t *testing.T) {
	path := tinyLlama(t)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "copy.safetensors")
	if err := Write(out, f.Tensors(), f.Metadata()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, orig) {
		n := 0
		for n < len(got) && n < len(orig) && got[n] == orig[n] {
			n++
		}
		t.Fatalf("rewritten file differs from original at byte %d (sizes %d vs %d)", n, len(got), len(orig))
	}
}

func TestOpenBadInput(t *testing.T) {
	eight := make([]byte, 8)
	cases := []struct {
		name    string
		content []byte
		want    []string // substrings the error must contain (besides the path)
	}{
		{"empty", nil, []string{"0 bytes", "shorter than the 8-byte"}},
		{"seven bytes", []byte{1, 0, 0, 0, 0, 0, 0}, []string{"7 bytes"}},
		{"zero header length", eight, []string{"header length is 0"}},
		{"header beyond file", append([]byte{100, 0, 0, 0, 0, 0, 0, 0}, "{}"...), []string{"header length 100", "beyond the 2 bytes", "truncated"}},
		{"huge header length", []byte{0, 0, 0, 0, 0, 0, 0, 0x10}, []string{"exceeds"}},
		{"not an object", rawFile(`[1,2]   `, nil), []string{"does not start with '{'"}},
		{"malformed json", rawFile(`{"a":{"dtype":"F32",`, nil), []string{"malformed JSON header"}},
		{"metadata not strings", rawFile(`{"__metadata__":{"step":3}}`, nil), []string{"__metadata__", "string"}},
		{"missing dtype", rawFile(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, `missing "dtype"`}},
		{"missing shape", rawFile(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, `missing "shape"`}},
		{"missing offsets", rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), []string{`"w"`, `missing "data_offsets"`}},
		{"three offsets", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 4)), []string{`"w"`, "3 values"}},
		{"entry not object", rawFile(`{"w":7}`, nil), []string{`"w"`, "malformed entry"}},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, `unknown dtype "F7"`}},
		{"negative dim", rawFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, "dimension 0"}},
		{"overflowing shape", rawFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, "overflows"}},
		{"negative offset", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, make([]byte, 4)), []string{`"w"`, "not a valid range"}},
		{"reversed offsets", rawFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), []string{`"w"`, "not a valid range"}},
		{"offsets out of range", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), []string{`"w"`, "[0, 8]", "4-byte data region"}},
		{"size mismatch", rawFile(`{"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`"w"`, "span 4 bytes", "needs 6"}},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), []string{`"b"`, `overlap tensor "a"`}},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), []string{`"b"`, "gap after byte 4"}},
		{"trailing bytes", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 6)), []string{"cover 4 bytes", "has 6", "trailing"}},
		{"sub-byte misaligned", rawFile(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, make([]byte, 2)), []string{`"a"`, "whole number of bytes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeTemp(t, "bad.safetensors", c.content)
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded, want an error")
			}
			for _, w := range append([]string{p}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.safetensors")
	_, err := Open(p)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("got %v, want a not-exist error naming %s", err, p)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("opening a directory: got %v, want 'not a regular file'", err)
	}
}

func TestOpenTruncatedRealFile(t *testing.T) {
	orig, err := os.ReadFile(tinyLlama(t))
	if err != nil {
		t.Fatal(err)
	}
	p := writeTemp(t, "cut.safetensors", orig[:len(orig)-100])
	_, err = Open(p)
	if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "tensor \"") {
		t.Fatalf("got %v, want a truncation error naming a tensor", err)
	}
}

func TestAcceptsEdgeCases(t *testing.T) {
	cases := []struct {
		name    string
		content []byte
		tensors int
	}{
		{"no tensors", rawFile(`{}      `, nil), 0},
		{"only metadata", rawFile(`{"__metadata__":{"a":"b"}}`, nil), 0},
		{"scalar", rawFile(`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)), 1},
		{"empty tensors share an offset", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},"c":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 2)), 3},
		{"unknown fields ignored", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}`, make([]byte, 1)), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Open(writeTemp(t, "ok.safetensors", c.content))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if len(f.Tensors()) != c.tensors {
				t.Errorf("got %d tensors, want %d", len(f.Tensors()), c.tensors)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	f, err := Open(writeTemp(t, "a.safetensors", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7})))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if tt, _ := f.Tensor("a"); tt.Data != nil {
		t.Error("tensor data still reachable after Close")
	}
}
