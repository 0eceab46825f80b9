package safetensors

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/r1go/r1/tensor"
)

// benchFile writes a ~100 MB bf16 checkpoint (50 tensors of 1M elements).
func benchFile(b *testing.B) (string, []Tensor) {
	b.Helper()
	vals := make([]float32, 1<<20)
	for i := range vals {
		vals[i] = float32(i%1000) * 0.001
	}
	ts := make([]Tensor, 50)
	for i := range ts {
		t, err := FromFloat32(fmt.Sprintf("model.layers.%d.weight", i), tensor.BF16, []int{1024, 1024}, vals)
		if err != nil {
			b.Fatal(err)
		}
		ts[i] = t
	}
	p := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := Write(p, ts, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	return p, ts
}

// BenchmarkOpenConvertBF16 opens a 100 MB bf16 file and decodes every
// tensor to float32: the cost of loading a checkpoint onto the CPU backend.
func BenchmarkOpenConvertBF16(b *testing.B) {
	p, ts := benchFile(b)
	dst := make([]float32, 1<<20)
	b.SetBytes(int64(len(ts)) * int64(len(ts[0].Data)))
	b.ResetTimer()
	for b.Loop() {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		for i := range f.Tensors() {
			if err := f.Tensors()[i].Float32Into(dst); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}

// BenchmarkOpenHeader measures Open alone (mmap + header validation).
func BenchmarkOpenHeader(b *testing.B) {
	p, _ := benchFile(b)
	b.ResetTimer()
	for b.Loop() {
		f, err := Open(p)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkWrite100MB writes the same file atomically, fsync included.
func BenchmarkWrite100MB(b *testing.B) {
	_, ts := benchFile(b)
	p := filepath.Join(b.TempDir(), "out.safetensors")
	b.SetBytes(int64(len(ts)) * int64(len(ts[0].Data)))
	b.ResetTimer()
	for b.Loop() {
		if err := Write(p, ts, nil); err != nil {
			b.Fatal(err)
		}
	}
}
