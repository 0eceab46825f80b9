package sample

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/internal/memcheck"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/tensor"
)

func tinyModelOn(t *testing.T, dev tensor.Backend) *model.Model {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(`{"model_type": "qwen2", "vocab_size": 50, "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"initializer_range": 0.5, "max_position_embeddings": 256}`))
	if err != nil {
		t.Fatal(err)
	}
	return model.New(cfg, dev, 42)
}

// Generate frees everything it allocated (cache, per-step uploads, logits,
// copy-on-write slot lists) before it returns, on success and on
// cancellation, and the samples are those of an unchecked run: a tensor
// freed while in use would have been poisoned to NaN.
func TestGenerateFreesEverything(t *testing.T) {
	reqs := []Request{{Prompt: []int32{1, 2, 3, 4, 5}, N: 3}, {Prompt: []int32{6, 7}, N: 2}, {Prompt: []int32{8, 9, 10, 11, 12, 13, 14, 15, 16}, N: 2}}
	p := Params{Temperature: 1, TopP: 1, MaxNewTokens: 9, Seed: 4, StopIDs: []int32{0}}
	want, err := (&Engine{Model: tinyModelOn(t, cpu.New()), BlockSize: 4, MaxBatch: 4}).Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}

	mc := memcheck.Wrap(cpu.New())
	e := &Engine{Model: tinyModelOn(t, mc), BlockSize: 4, MaxBatch: 4} // MaxBatch 4 < 7 samples: continuous batching
	// The first call grows the model's RoPE tables, which the model keeps;
	// measure from after it.
	if _, err := e.Generate(context.Background(), reqs, p); err != nil {
		t.Fatal(err)
	}
	base := mc.Stats()
	mark := mc.Mark()
	for call := 0; call < 2; call++ {
		mc.ResetPeak()
		got, err := e.Generate(context.Background(), reqs, p)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("call %d: samples differ from an unchecked run:\n%v\n%v", call, got, want)
		}
		st := mc.Stats()
		if st.PeakBytes <= base.LiveBytes {
			t.Fatalf("call %d: peak %d B never rose above the baseline: nothing was counted", call, st.PeakBytes)
		}
		if st.LiveBytes != base.LiveBytes || st.Live != base.Live {
			t.Fatalf("call %d: %d tensors / %d B live after Generate, baseline %d / %d; leaked:\n%q",
				call, st.Live, st.LiveBytes, base.Live, base.LiveBytes, mc.Since(mark))
		}
	}

	// Cancelled in the middle of decoding: still nothing left behind.
	ctx, cancel := context.WithCancel(context.Background())
	e.OnToken = func(request, index int, token int32) { cancel() }
	if _, err := e.Generate(ctx, reqs, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Generate returned %v", err)
	}
	if leaks := mc.Since(mark); len(leaks) > 0 {
		t.Fatalf("cancelled Generate leaked: %q", leaks)
	}
	if errs := mc.Errors(); len(errs) > 0 {
		t.Fatalf("misuse recorded: %q", errs)
	}
}
