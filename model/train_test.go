package model

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/optim"
)

func tinyConfig(t testing.TB, modelType string) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(`{"model_type": "` + modelType + `", "vocab_size": 64, "hidden_size": 32,
		"intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"tie_word_embeddings": true, "initializer_range": 0.02}`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A tiny model must be able to memorise one batch: the loss falls by more
// than 90% in 200 AdamW steps. This exercises every op's backward pass end
// to end (a wrong gradient stalls the loss).
func TestOverfitOneBatch(t *testing.T) {
	for _, mt := range []string{"llama", "qwen2", "qwen3"} {
		t.Run(mt, func(t *testing.T) {
			m := New(tinyConfig(t, mt), dev, 1)
			rng := rand.New(rand.NewPCG(3, 4))
			rows := make([][]int32, 4)
			for i := range rows {
				rows[i] = make([]int32, 16-2*i) // ragged: left padding
				for j := range rows[i] {
					rows[i][j] = int32(rng.IntN(64))
				}
			}
			b := NewBatch(rows, 0)
			target := NextTokenTargets(b)
			cfg := optim.DefaultAdamW()
			cfg.LR = 3e-3
			cfg.WeightDecay = 0
			o, err := optim.NewAdamW(cfg, m.Params())
			if err != nil {
				t.Fatal(err)
			}
			tp := autograd.NewTape(dev)
			var first, last float64
			for step := 0; step < 200; step++ {
				loss, _, err := m.LMLoss(tp, b, target, 1)
				if err != nil {
					t.Fatal(err)
				}
				tp.Backward()
				if _, err := o.Step(cfg.LR, 1); err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					first = loss
				}
				last = loss
			}
			t.Logf("loss %.4f → %.4f", first, last)
			if last > 0.1*first {
				t.Fatalf("loss fell from %.4f to %.4f: less than 90%%", first, last)
			}
		})
	}
}

// Gradient accumulation: two micro-batches with scale ½ give the same
// gradients as both rows of one batch of equal-length rows.
func TestGradientAccumulation(t *testing.T) {
	m := New(tinyConfig(t, "qwen2"), dev, 2)
	rows := [][]int32{{1, 2, 3, 4, 5}, {9, 8, 7, 6, 5}}
	grads := func(batches ...Batch) [][]float32 {
		for _, p := range m.Params() {
			p.Var.ZeroGrad()
		}
		tp := autograd.NewTape(dev)
		for _, b := range batches {
			if _, _, err := m.LMLoss(tp, b, NextTokenTargets(b), 1/float64(len(batches))); err != nil {
				t.Fatal(err)
			}
			tp.Backward()
		}
		var out [][]float32
		for _, p := range m.Params() {
			out = append(out, dev.Download(p.Var.Grad))
		}
		return out
	}
	whole := grads(NewBatch(rows, 0))
	split := grads(NewBatch(rows[:1], 0), NewBatch(rows[1:], 0))
	for i := range whole {
		for j := range whole[i] {
			if d := whole[i][j] - split[i][j]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s[%d]: whole batch %v, accumulated %v", m.Params()[i].Name, j, whole[i][j], split[i][j])
			}
		}
	}
}

// BenchmarkTrainTiny10M measures CPU training throughput (forward +
// backward + AdamW) of the ~10M-parameter Llama config that
// bench/torch/train_tiny.py runs in PyTorch, at the same B=8, T=256.
func BenchmarkTrainTiny10M(b *testing.B) {
	data, err := os.ReadFile("../bench/torch/tiny10m_config.json")
	if err != nil {
		b.Skip(err)
	}
	benchTrain(b, data)
}

// BenchmarkTrainLlama112M is BenchmarkTrainTiny10M at the 100M class the
// CPU comparison in DESIGN.md uses (r1 bench --shape llama-112m); profile a
// step with
//
//	go test ./model -run XXX -bench TrainLlama112M -benchtime 1x -cpuprofile /tmp/cpu.out
func BenchmarkTrainLlama112M(b *testing.B) {
	benchTrain(b, []byte(`{"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 10, "num_attention_heads": 12, "num_key_value_heads": 4, "max_position_embeddings": 2048}`))
}

// benchTrain times training steps of the config at B=8, T=256.
func benchTrain(b *testing.B, config []byte) {
	cfg, err := ParseConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	m := New(cfg, dev, 1)
	const B, T = 8, 256
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]int32, B)
	for i := range rows {
		rows[i] = make([]int32, T)
		for j := range rows[i] {
			rows[i][j] = int32(rng.IntN(cfg.VocabSize))
		}
	}
	batch := NewBatch(rows, 0)
	batch.Mask = nil
	target := NextTokenTargets(batch)
	o, _ := optim.NewAdamW(optim.DefaultAdamW(), m.Params())
	tp := autograd.NewTape(dev)
	step := func() {
		if _, _, err := m.LMLoss(tp, batch, target, 1); err != nil {
			b.Fatal(err)
		}
		tp.Backward()
		tp.Reset() // frees the step's activations (the tape's lifetime rule)
		if _, err := o.Step(1e-4, 1); err != nil {
			b.Fatal(err)
		}
	}
	step() // warm up
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(B*T*b.N)/b.Elapsed().Seconds(), "tok/s")
}
