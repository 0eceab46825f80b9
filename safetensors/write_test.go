package safetensors

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/r1go/r1/tensor"
)

// randomTensor makes a tensor of any dtype with random bytes.
func randomTensor(t *testing.T, rng *rand.Rand, name, dtype string, shape []int) Tensor {
	t.Helper()
	n, err := byteSize(dtype, shape)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return Tensor{Name: name, DType: dtype, Shape: shape, Data: data}
}

func TestRoundTripEveryDType(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dtypes := make([]string, 0, len(dtypeBits))
	for d := range dtypeBits {
		dtypes = append(dtypes, d)
	}
	sort.Strings(dtypes)
	for _, d := range dtypes {
		t.Run(d, func(t *testing.T) {
			// Element counts divisible by 4 keep the 4- and 6-bit types whole.
			in := []Tensor{
				randomTensor(t, rng, "b.matrix", d, []int{3, 4}),
				randomTensor(t, rng, "a.vector", d, []int{8}),
				randomTensor(t, rng, "c.empty", d, []int{0, 2}),
				randomTensor(t, rng, "d.cube", d, []int{2, 2, 2}),
			}
			md := map[string]string{"format": "pt", "dtype": d, "quote\"<&>": "ü"}
			p := filepath.Join(t.TempDir(), "rt.safetensors")
			if err := Write(p, in, md); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if hl := int(raw[0]) | int(raw[1])<<8; (8+hl)%8 != 0 {
				t.Errorf("header length %d leaves the data region unaligned", hl)
			}
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := f.Names(); strings.Join(got, ",") != "a.vector,b.matrix,c.empty,d.cube" {
				t.Errorf("names = %v, want sorted", got)
			}
			for k, v := range md {
				if f.Metadata()[k] != v {
					t.Errorf("metadata[%q] = %q, want %q", k, f.Metadata()[k], v)
				}
			}
			for _, w := range in {
				g, err := f.Get(w.Name)
				if err != nil {
					t.Fatal(err)
				}
				if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
					t.Errorf("%s: got %s %v (%d bytes), want %s %v (%d bytes)", w.Name, g.DType, g.Shape, len(g.Data), w.DType, w.Shape, len(w.Data))
				}
			}
		})
	}
}

func TestFloat32Conversion(t *testing.T) {
	// Values exactly representable in every float type, so a round trip
	// through each dtype must give them back unchanged.
	vals := []float32{0, 1, -2, 0.5, -0.25, 3, 1024, -96}
	for _, d := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
		t.Run(d.String(), func(t *testing.T) {
			tt, err := FromFloat32("w", d, []int{2, 4}, vals)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.Data) != len(vals)*d.Size() {
				t.Fatalf("%d data bytes, want %d", len(tt.Data), len(vals)*d.Size())
			}
			p := filepath.Join(t.TempDir(), "f.safetensors")
			if err := Write(p, []Tensor{tt}, nil); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Metadata() != nil {
				t.Errorf("metadata = %v, want none", f.Metadata())
			}
			g, _ := f.Tensor("w")
			got, err := g.Float32()
			if err != nil {
				t.Fatal(err)
			}
			for i := range vals {
				if got[i] != vals[i] {
					t.Errorf("element %d: got %v, want %v", i, got[i], vals[i])
				}
			}
		})
	}
	// Rounding: 1+2^-10 is between two bf16 values and rounds to even (1).
	tt, _ := FromFloat32("r", tensor.BF16, []int{1}, []float32{1 + 1.0/1024})
	if got, _ := tt.Float32(); got[0] != 1 {
		t.Errorf("bf16 rounding: got %v, want 1", got[0])
	}
	tt, _ = FromFloat32("inf", tensor.F16, []int{1}, []float32{float32(math.Inf(1))})
	if got, _ := tt.Float32(); !math.IsInf(float64(got[0]), 1) {
		t.Errorf("f16 +Inf: got %v", got[0])
	}
}

func TestFloat32Errors(t *testing.T) {
	cases := []struct {
		name string
		t    Tensor
		want string
	}{
		{"int64", Tensor{Name: "ids", DType: "I64", Shape: []int{1}, Data: make([]byte, 8)}, `tensor "ids": cannot convert dtype "I64"`},
		{"float64", Tensor{Name: "x", DType: "F64", Shape: []int{1}, Data: make([]byte, 8)}, `cannot convert dtype "F64"`},
		{"hf config spelling is not a dtype", Tensor{Name: "x", DType: "float32", Shape: []int{1}, Data: make([]byte, 4)}, `cannot convert dtype "float32"`},
		{"short data", Tensor{Name: "x", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}, `tensor "x"`},
		{"negative shape", Tensor{Name: "x", DType: "F32", Shape: []int{-2}}, "negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.t.Float32()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
	tt := Tensor{Name: "x", DType: "F32", Shape: []int{2}, Data: make([]byte, 8)}
	if err := tt.Float32Into(make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "destination has 3") {
		t.Errorf("Float32Into with a wrong-size buffer: got %v", err)
	}
	if _, err := FromFloat32("x", tensor.F32, []int{2, 2}, []float32{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "4 elements, got 3") {
		t.Errorf("FromFloat32 with a wrong count: got %v", err)
	}
}

func TestWriteRejectsBadTensors(t *testing.T) {
	ok := Tensor{Name: "ok", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}
	cases := []struct {
		name    string
		tensors []Tensor
		md      map[string]string
		want    string
	}{
		{"empty name", []Tensor{{DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}}, nil, "empty name"},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}}, nil, "reserved"},
		{"duplicate", []Tensor{ok, ok}, nil, `"ok" appears twice`},
		{"unknown dtype", []Tensor{{Name: "x", DType: "Q4", Shape: []int{1}, Data: make([]byte, 1)}}, nil, `tensor "x": unknown dtype "Q4"`},
		{"size mismatch", []Tensor{{Name: "x", DType: "BF16", Shape: []int{2, 2}, Data: make([]byte, 4)}}, nil, `tensor "x": has 4 data bytes, BF16 [2 2] needs 8`},
		{"bad utf8 name", []Tensor{{Name: "\xff", DType: "U8", Shape: []int{1}, Data: make([]byte, 1)}}, nil, "UTF-8"},
		{"bad utf8 metadata", []Tensor{ok}, map[string]string{"k": "\xfe"}, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out.safetensors")
			err := Write(p, c.tensors, c.md)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want an error naming %s and containing %q", err, p, c.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("failed write left %d files behind", len(ents))
			}
		})
	}
}

func TestWriteDoesNotReorderCallerSlice(t *testing.T) {
	in := []Tensor{
		{Name: "z", DType: "U8", Shape: []int{1}, Data: []byte{1}},
		{Name: "a", DType: "U8", Shape: []int{1}, Data: []byte{2}},
	}
	if err := Write(filepath.Join(t.TempDir(), "x.safetensors"), in, nil); err != nil {
		t.Fatal(err)
	}
	if in[0].Name != "z" {
		t.Error("Write sorted the caller's slice in place")
	}
}

// Rewriting a file from its own open mapping must work: the temp file and
// rename leave the mapped old inode intact until Close.
func TestRewriteInPlaceFromMapping(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := filepath.Join(t.TempDir(), "m.safetensors")
	in := []Tensor{randomTensor(t, rng, "w", "BF16", []int{64, 64})}
	if err := Write(p, in, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(p, f.Tensors(), map[string]string{"step": "2"}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	g, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w, _ := g.Tensor("w")
	if g.Metadata()["step"] != "2" || !bytes.Equal(w.Data, in[0].Data) {
		t.Error("rewritten file lost data or metadata")
	}
}
