package sample

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

// stepCounter counts forward steps (one KVWrite per layer per step) on the
// CPU backend, packing weights through it or not.
type stepCounter struct {
	tensor.Backend
	writes int
}

func (c *stepCounter) KVWrite(k, v, kNew, vNew, slots *tensor.Tensor) {
	c.writes++
	c.Backend.KVWrite(k, v, kNew, vNew, slots)
}

// packingCounter is a stepCounter whose backend packs weights.
type packingCounter struct{ stepCounter }

func (c *packingCounter) PackWeight(w *tensor.Tensor) bool {
	return c.Backend.(tensor.WeightPacker).PackWeight(w)
}

func (c *packingCounter) UnpackWeight(w *tensor.Tensor) {
	c.Backend.(tensor.WeightPacker).UnpackWeight(w)
}

// With packed weights the prompts of a Generate call share one prefill
// step (rows are independent, so each prompt's samples are those it gets
// alone); without, each prompt is prefilled on its own. Both give the same
// tokens, and log-probs within float32 rounding of products summed in
// another order (1e-5).
func TestPromptsSharePrefill(t *testing.T) {
	reqs := []Request{{Prompt: []int32{1, 2, 3}, N: 2}, {Prompt: []int32{4, 5, 6, 7, 8, 9, 10}, N: 1}, {Prompt: []int32{11}, N: 2}}
	p := Params{Temperature: 1, TopP: 1, MaxNewTokens: 3, Seed: 5, StopIDs: []int32{-1}}
	const layers, decodeSteps = 2, 2 // the prefill picks the first of 3 tokens
	var outs [][]Sample
	for _, c := range []struct {
		name  string
		dev   interface{ count() int }
		steps int
	}{
		{"packed", &packingCounter{stepCounter{Backend: cpu.New()}}, 1 + decodeSteps},
		{"unpacked", &stepCounter{Backend: cpu.New()}, len(reqs) + decodeSteps},
	} {
		m := tinyModelOn(t, c.dev.(tensor.Backend))
		out, err := (&Engine{Model: m, BlockSize: 4}).Generate(context.Background(), reqs, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.dev.count(); got != layers*c.steps {
			t.Errorf("%s: %d forward steps, want %d", c.name, got/layers, c.steps)
		}
		outs = append(outs, out)
	}
	for i, a := range outs[0] {
		b := outs[1][i]
		if fmt.Sprint(a.Tokens) != fmt.Sprint(b.Tokens) {
			t.Fatalf("sample %d: tokens %v with a shared prefill, %v without", i, a.Tokens, b.Tokens)
		}
		for k := range a.LogProbs {
			if d := math.Abs(float64(a.LogProbs[k] - b.LogProbs[k])); d > 1e-5 {
				t.Fatalf("sample %d token %d: log-prob %v with a shared prefill, %v without", i, k, a.LogProbs[k], b.LogProbs[k])
			}
		}
	}
}

func (c *stepCounter) count() int { return c.writes }

// A model whose weights exceed model.MaxPackBytes is not packed: its
// prompts are prefilled one per step, as on a backend that cannot pack.
func TestLargeModelNotPacked(t *testing.T) {
	defer func(v int64) { model.MaxPackBytes = v }(model.MaxPackBytes)
	model.MaxPackBytes = 1000 // below the tiny model's weights
	dev := &packingCounter{stepCounter{Backend: cpu.New()}}
	m := tinyModelOn(t, dev)
	reqs := []Request{{Prompt: []int32{1, 2, 3}, N: 1}, {Prompt: []int32{4, 5}, N: 1}}
	if _, err := (&Engine{Model: m, BlockSize: 4}).Generate(context.Background(), reqs, Params{Temperature: 0, TopP: 1, MaxNewTokens: 1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if got := dev.count() / 2; got != len(reqs) {
		t.Fatalf("%d prefill steps, want %d (one per prompt: weights not packed)", got, len(reqs))
	}
	if m.WeightsPacked() {
		t.Fatal("WeightsPacked after Generate returned")
	}
}
