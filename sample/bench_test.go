package sample

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/r1go/r1/model"
)

// Benchmark configurations: ~10M and ~100M-parameter Llama shapes.
var benchShapes = map[string]string{
	"10M":  `{"model_type": "llama", "vocab_size": 8192, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 6, "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 1024}`,
	"100M": `{"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 10, "num_attention_heads": 12, "num_key_value_heads": 4, "max_position_embeddings": 1024}`,
}

// BenchmarkDecode measures generated tokens/s with 512 new tokens from a
// 16-token prompt, at batch 1 and 32, and reports the floor set by memory
// bandwidth: every decode step reads all weights once, so a batch-1 decoder
// cannot beat bandwidth/weight-bytes tokens/s. Measure the bandwidth with
// BenchmarkMemoryBandwidth on the same machine.
//
//	go test ./sample -run XXX -bench 'Decode|MemoryBandwidth' -benchtime 1x
func BenchmarkDecode(b *testing.B) {
	for _, shape := range []string{"10M", "100M"} {
		cfg, err := model.ParseConfig([]byte(benchShapes[shape]))
		if err != nil {
			b.Fatal(err)
		}
		m := model.New(cfg, dev, 1)
		for _, batch := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/batch=%d", shape, batch), func(b *testing.B) {
				reqs := make([]Request, batch)
				for i := range reqs {
					reqs[i].Prompt = make([]int32, 16)
					for j := range reqs[i].Prompt {
						reqs[i].Prompt[j] = int32((i*31 + j*7) % cfg.VocabSize)
					}
				}
				e := &Engine{Model: m, MaxBatch: batch}
				p := Params{Temperature: 1, TopP: 1, MaxNewTokens: 512, Seed: 1}
				var toks int
				start := time.Now()
				for i := 0; i < b.N; i++ {
					out, err := e.Generate(context.Background(), reqs, p)
					if err != nil {
						b.Fatal(err)
					}
					for _, s := range out {
						toks += len(s.Tokens)
					}
				}
				sec := time.Since(start).Seconds()
				b.ReportMetric(float64(toks)/sec, "tok/s")
				b.ReportMetric(float64(cfg.NumParams())*4/1e6, "weightMB")
			})
		}
	}
}

// BenchmarkMemoryBandwidth streams a 256 MB buffer (larger than any cache)
// and reports GB/s read.
func BenchmarkMemoryBandwidth(b *testing.B) {
	buf := make([]float32, 64<<20)
	for i := range buf {
		buf[i] = float32(i)
	}
	b.SetBytes(int64(len(buf) * 4))
	b.ResetTimer()
	var s float32
	for i := 0; i < b.N; i++ {
		var a0, a1, a2, a3 float32
		for j := 0; j < len(buf); j += 4 {
			a0 += buf[j]
			a1 += buf[j+1]
			a2 += buf[j+2]
			a3 += buf[j+3]
		}
		s += a0 + a1 + a2 + a3
	}
	_ = s
}

// BenchmarkPick measures one token drawn from a 32,000-logit row (a
// 100M-class vocabulary): greedy, full-distribution sampling and the
// paper's T=0.6, top-p 0.95.
//
//	go test ./sample -run XXX -bench Pick
func BenchmarkPick(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 3)
	}
	probs := make([]float64, len(logits))
	for _, c := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{Temperature: 0, TopP: 1, MaxNewTokens: 1}},
		{"T=1", Params{Temperature: 1, TopP: 1, MaxNewTokens: 1}},
		{"T=0.6,top_p=0.95", Params{Temperature: 0.6, TopP: 0.95, MaxNewTokens: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				Pick(logits, &c.p, rng, probs)
			}
		})
	}
}
