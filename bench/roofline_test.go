package bench

import (
	"math"
	"testing"

	"github.com/r1go/r1/model"
)

func TestRooflineCosts(t *testing.T) {
	// llama-112m: 10 layers of 6.29M multiplied weights, a 24.6M LM head
	// and an untied 24.6M input embedding that decoding only looks up.
	c, err := model.ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 10, "num_attention_heads": 12, "num_key_value_heads": 4}`))
	if err != nil {
		t.Fatal(err)
	}
	layer := 768.0*768*2 + 768*256*2 + 3*768*2048 + 2*768
	mm := 10*layer + 768 + 32000*768 // layers, final norm, LM head
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %.6g, want %.6g", what, got, want)
		}
	}
	near("train FLOPs/token", TrainFLOPsPerToken(c, 256), 6*mm+12*10*256*768)
	flops, bytes := DecodeStep(c, 2, 100, 4)
	near("decode FLOPs", flops, 2*(2*mm+4*10*768*100))
	near("decode bytes", bytes, 4*mm+2*100*10*2*256*4)
	// Batch 1 at 20 GB/s and a large peak: bytes bound, ~57 tok/s.
	near("b=1 roofline", RooflineTokPerS(c, 1, 100, 4, 1e6, 20), 20e9/(4*mm+100*10*2*256*4))
	// Batch 256 at 100 GFLOP/s and a large bandwidth: FLOPs bound.
	near("b=256 roofline", RooflineTokPerS(c, 256, 100, 4, 100, 1e6), 100e9/(2*mm+4*10*768*100))

	// Tied embeddings: the LM head multiplies by the embedding matrix.
	c.TieEmbeddings = true
	near("tied train FLOPs/token", TrainFLOPsPerToken(c, 256), 6*mm+12*10*256*768)
}
