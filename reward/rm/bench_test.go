package rm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
)

// BenchmarkScore measures reward-model scoring throughput (responses/s)
// on the CPU: a GRPO step's 64 responses, 16 samples of each of 4 prompts
// of 90 tokens with 60–80 completion tokens, 16 per forward pass, for the
// tiny model's shape and a ~112M Llama (DESIGN.md's llama-112m) with
// random weights; "shared" is ScoreIDs (the prompts stored once on the
// CPU), "padded" one row per response.
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
			var prompt []int32
			for i := range rows {
				if i%16 == 0 {
					prompt = randomIDs(rng, 90, cfg.VocabSize)
				}
				rows[i] = append(slices.Clone(prompt), randomIDs(rng, 60+rng.IntN(21), cfg.VocabSize)...)
			}
			for _, v := range []struct {
				name  string
				score func(*model.Model, [][]int32, int32, int) ([]float64, error)
			}{{"shared", ScoreIDs}, {"padded", paddedScores}} {
				b.Run(v.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := v.score(m, rows, 0, 16); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "responses/s")
					b.Log(fmt.Sprintf("%d parameters", cfg.NumParams()))
				})
			}
		})
	}
}

func randomIDs(rng *rand.Rand, n, vocab int) []int32 {
	ids := make([]int32, n)
	for j := range ids {
		ids[j] = int32(rng.IntN(vocab))
	}
	return ids
}
