package sft

import (
	"math"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
)

// A sample packed into a row with others has the loss and the gradients it
// has alone: attention stays within its segment and its positions restart
// at 0. Checked per sample, for every weight, on a random Qwen2-shape model
// (q/k/v biases) in float32.
func TestPackedEqualsUnpacked(t *testing.T) {
	dev := cpu.New()
	cfg, err := model.ParseConfig([]byte(`{"model_type": "qwen2", "vocab_size": 50, "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"tie_word_embeddings": false, "initializer_range": 0.2, "max_position_embeddings": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(cfg, dev, 4)
	samples := []Sample{
		{IDs: []int32{3, 9, 14, 2, 7}, Loss: []bool{false, false, true, true, true}},
		{IDs: []int32{5, 1, 22, 40, 8, 8, 13, 30, 2}, Loss: []bool{false, false, false, true, true, true, true, true, true}},
		{IDs: []int32{11, 17, 6}, Loss: []bool{true, true, true}},
	}
	// lossAndGrads runs rows keeping only the targets of segment keep (0:
	// all) and returns the summed loss and every weight's gradient.
	lossAndGrads := func(rows []Row, keep int32) (float64, [][]float32) {
		b, target := Batch(rows, 0)
		for i := range target {
			if keep != 0 && b.Mask[i] != keep {
				target[i] = -1
			}
		}
		tp := autograd.NewTape(dev)
		loss, n, err := m.LMLoss(tp, b, target, 1)
		if err != nil {
			t.Fatal(err)
		}
		tp.Backward()
		tp.Reset()
		var grads [][]float32
		for _, p := range m.Params() {
			grads = append(grads, dev.Download(p.Var.Grad))
			dev.Scale(p.Var.Grad, 0)
		}
		return loss * float64(n), grads
	}
	packed := Pack(samples, 64)
	if len(packed) != 1 || len(packed[0].IDs) != 17 || packed[0].Positions[5] != 0 || packed[0].Segment[16] != 3 {
		t.Fatalf("packing: %+v", packed)
	}
	for s := range samples {
		alone, ga := lossAndGrads(Pack(samples[s:s+1], 64), 0)
		inRow, gp := lossAndGrads(packed, int32(s+1))
		if math.Abs(alone-inRow) > 1e-5*math.Abs(alone) {
			t.Errorf("sample %d: loss %.7g alone, %.7g packed", s, alone, inRow)
		}
		var worst, scale float64
		for i := range ga {
			for j := range ga[i] {
				worst = math.Max(worst, math.Abs(float64(ga[i][j]-gp[i][j])))
				scale = math.Max(scale, math.Abs(float64(ga[i][j])))
			}
		}
		if scale == 0 || worst > 2e-5*scale {
			t.Errorf("sample %d: gradients differ by %.3g (max |g| %.3g)", s, worst, scale)
		}
	}
	// Without segment ids (one segment for the row) the samples would see
	// each other: the check above must be able to fail.
	b, target := Batch(packed, 0)
	for i := range b.Mask {
		if b.Mask[i] != 0 {
			b.Mask[i] = 1
		}
		if b.Mask[i] == 0 || i < 14 {
			target[i] = -1
		}
	}
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	leaky, n, err := m.LMLoss(tp, b, target, 1)
	tp.Reset()
	if err != nil {
		t.Fatal(err)
	}
	alone, _ := lossAndGrads(Pack(samples[2:3], 64), 0)
	for _, p := range m.Params() {
		dev.Scale(p.Var.Grad, 0)
	}
	if math.Abs(leaky*float64(n)-alone) < 1e-4 {
		t.Fatalf("a row without segment ids gives the same loss (%v) as the sample alone: the test cannot see leaks", leaky)
	}
}
