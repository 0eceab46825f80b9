package rm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
)

// BenchmarkScore measures reward-model scoring throughput (responses/s)
// on the CPU: 64 responses of 160 tokens (an R1-Zero prompt of ~90 tokens
// and its completion), 16 per forward pass, for the tiny model's shape and
// a ~112M Llama (DESIGN.md's llama-112m) with random weights.
func BenchmarkScore(b *testing.B) {
	for _, c := range []struct{ name, cfg string }{
		{"tiny", `{"model_type": "qwen2", "vocab_size": 641, "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 6,
			"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "tie_word_embeddings": true}`},
		{"llama-112m", `{"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 10,
			"num_attention_heads": 12, "num_key_value_heads": 4, "tie_word_embeddings": false}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg, err := model.ParseConfig([]byte(c.cfg))
			if err != nil {
				b.Fatal(err)
			}
			m := model.New(cfg, cpu.New(), 1, model.WithScoreHead(1))
			rng := rand.New(rand.NewPCG(1, 2))
			rows := make([][]int32, 64)
			for i := range rows {
				rows[i] = make([]int32, 150+rng.IntN(21))
				for j := range rows[i] {
					rows[i][j] = int32(rng.IntN(cfg.VocabSize))
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := ScoreIDs(m, rows, 0, 16); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "responses/s")
			b.Log(fmt.Sprintf("%d parameters", cfg.NumParams()))
		})
	}
}
