package optim

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/safetensors"
	"github.com/r1go/r1/tensor"
)

// A BF16 weight's state (moments, fp32 master, step count) saved after two
// steps and loaded into a fresh optimizer continues exactly like the
// uninterrupted one; a file lacking a tensor or the step count is an error
// naming the file.
func TestStateRoundTrip(t *testing.T) {
	grads := [][]float32{{0.1, -0.2, 0.3, 0}, {1, 1, -1, 0.5}, {-0.3, 0, 0.2, 2}, {0.7, -0.1, 0, 1}}
	build := func() (*autograd.Var, *AdamW) {
		p := autograd.Trainable(dev.Upload([]float32{0.5, -1, 2, 0}, tensor.BF16, 4))
		o, err := NewAdamW(AdamWConfig{LR: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}, []autograd.Param{{Name: "w", Var: p}})
		if err != nil {
			t.Fatal(err)
		}
		return p, o
	}
	step := func(p *autograd.Var, o *AdamW, g []float32) {
		p.Grad = dev.Upload(g, tensor.F32, 4)
		if _, err := o.Step(0.1, 1); err != nil {
			t.Fatal(err)
		}
	}
	p1, o1 := build()
	for _, g := range grads {
		step(p1, o1, g)
	}

	p2, o2 := build()
	step(p2, o2, grads[0])
	step(p2, o2, grads[1])
	path := filepath.Join(t.TempDir(), "optimizer.safetensors")
	if err := o2.SaveState(path); err != nil {
		t.Fatal(err)
	}
	p3, o3 := build()
	dev.Copy(p3.Val, p2.Val) // the weights come from the model checkpoint
	if err := o3.LoadState(path); err != nil {
		t.Fatal(err)
	}
	if o3.Steps != 2 {
		t.Fatalf("loaded Steps %d, want 2", o3.Steps)
	}
	for _, g := range grads[2:] {
		step(p3, o3, g)
	}
	_, _, m1 := o1.State(0)
	_, _, m3 := o3.State(0)
	if a, b := dev.Download(m1), dev.Download(m3); !slices.Equal(a, b) {
		t.Fatalf("master after resume %v, uninterrupted %v", b, a)
	}

	// Bad files: no step count, a missing tensor.
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	ten, _ := safetensors.FromFloat32("m.w", tensor.F32, []int{4}, make([]float32, 4))
	if err := safetensors.Write(bad, []safetensors.Tensor{ten}, nil); err != nil {
		t.Fatal(err)
	}
	if err := o3.LoadState(bad); err == nil || !strings.Contains(err.Error(), "adam_steps") || !strings.Contains(err.Error(), bad) {
		t.Errorf("no step count: %v", err)
	}
	if err := safetensors.Write(bad, []safetensors.Tensor{ten}, map[string]string{"adam_steps": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := o3.LoadState(bad); err == nil || !strings.Contains(err.Error(), `"v.w" is missing`) {
		t.Errorf("missing tensor: %v", err)
	}
	os.Remove(bad)
}
