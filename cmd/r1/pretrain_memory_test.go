package main

import (
	"math"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/optim"
	"github.com/r1go/r1/tensor"
)

// pretrainSteps runs n trainSteps of a tiny model on dev and returns the
// losses and gradient norms; check runs after each step.
func pretrainSteps(t *testing.T, dev tensor.Backend, n int, check func(step int)) []float64 {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 40, "hidden_size": 16,
		"intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
		"tie_word_embeddings": true, "initializer_range": 0.1, "max_position_embeddings": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(cfg, dev, 9)
	opt, err := optim.NewAdamW(optim.DefaultAdamW(), m.Params())
	if err != nil {
		t.Fatal(err)
	}
	rows := [][]int32{{1, 5, 9, 13, 17, 21, 25, 29}, {2, 4, 8, 16, 32, 3, 6, 12}}
	batch := model.NewBatch(rows, 0)
	batch.Mask = nil
	tp := autograd.NewTape(dev)
	var out []float64
	for i := 0; i < n; i++ {
		loss, norm, err := trainStep(tp, m, opt, batch, 1e-2)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		out = append(out, loss, norm)
		if check != nil {
			check(i + 1)
		}
	}
	return out
}

// r1 pretrain's step frees its activations: after the first step (which
// creates the gradient buffers) device memory stays flat, and losses and
// gradient norms match an unchecked run bit for bit (a buffer freed while
// in use would have been poisoned to NaN).
func TestPretrainStepMemoryIsFlat(t *testing.T) {
	want := pretrainSteps(t, cpu.New(), 3, nil)
	mc := memcheck.Wrap(cpu.New())
	var after1 memcheck.Stats
	var mark memcheck.Mark
	got := pretrainSteps(t, mc, 3, func(step int) {
		if step == 1 {
			after1, mark = mc.Stats(), mc.Mark()
			return
		}
		if st := mc.Stats(); st.Live != after1.Live || st.LiveBytes != after1.LiveBytes {
			t.Fatalf("after step %d: %d tensors / %d B live, after step 1: %d / %d; new:\n%q",
				step, st.Live, st.LiveBytes, after1.Live, after1.LiveBytes, mc.Since(mark))
		}
	})
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("value %d (loss/norm of step %d) = %v through memcheck, %v without", i, i/2+1, got[i], want[i])
		}
	}
	if want[0] == want[4] {
		t.Fatal("the loss did not move: the steps did not train")
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
}
