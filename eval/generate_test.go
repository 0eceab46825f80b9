package eval

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/data"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sample"
	"github.com/r1go/r1/tokenizer"
)

// tinyGen is a random-init model with a small trained tokenizer.
func tinyGen(tb testing.TB, maxPos, maxNew int) *ModelGenerator {
	tb.Helper()
	corpus := []string{
		"A conversation between User and Assistant. The user asks a question, and the Assistant solves it.",
		"What is 12 plus 30? The answer is 42. Please reason step by step, and put your final answer within \\boxed{}.",
	}
	tok, err := tokenizer.Train(slices.Values(corpus), 300, []string{"<|endoftext|>"})
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := model.ParseConfig([]byte(`{"model_type": "llama", "vocab_size": 300, "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"initializer_range": 0.5, "max_position_embeddings": ` + strconv.Itoa(maxPos) + `}`))
	if err != nil {
		tb.Fatal(err)
	}
	return &ModelGenerator{
		Engine:    &sample.Engine{Model: model.New(cfg, cpu.New(), 3)},
		Tokenizer: tok,
		Params:    sample.Params{Temperature: 0.6, TopP: 0.95, MaxNewTokens: maxNew, Seed: 1},
	}
}

func TestModelGenerator(t *testing.T) {
	g := tinyGen(t, 256, 6)
	prompts := []string{"What is 12 plus 30?", "The answer is"}
	calls := 0
	out, err := g.Generate(context.Background(), prompts, 3, func() { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || len(out[0]) != 3 || len(out[1]) != 3 || calls != 6 {
		t.Fatalf("got %d prompts × %d samples, %d progress calls; want 2 × 3, 6", len(out), len(out[0]), calls)
	}
	for _, row := range out {
		for _, c := range row {
			if c.Tokens < 1 || c.Tokens > 6 || (c.FinishReason != "stop" && c.FinishReason != "length") {
				t.Fatalf("completion %+v", c)
			}
		}
	}
	// The same seed gives the same samples (resumed runs depend on it).
	again, err := g.Generate(context.Background(), prompts, 3, nil)
	if err != nil || !reflect.DeepEqual(again, out) {
		t.Fatalf("second run differs: %v\n%v\n%v", err, again, out)
	}

	// A prompt that fills the context is an error, not a panic.
	small := tinyGen(t, 8, 6)
	if _, err := small.Generate(context.Background(), []string{strings.Repeat("answer ", 20)}, 1, nil); err == nil ||
		!strings.Contains(err.Error(), "max_position_embeddings") {
		t.Fatalf("overlong prompt: %v", err)
	}
	// max_new_tokens is capped by the context instead of failing.
	capped := tinyGen(t, 32, 1000)
	if _, err := capped.Generate(context.Background(), []string{"The answer is"}, 1, nil); err != nil {
		t.Fatalf("capped generation: %v", err)
	}
}

// End to end on a random-init model: accuracy near zero, no errors.
func TestRunRandomModel(t *testing.T) {
	g := tinyGen(t, 512, 8)
	b := fixtureBench(t)
	cfg := fixtureConfig(filepath.Join(t.TempDir(), "out"))
	cfg.Settings.Samples, cfg.Settings.K = 2, 2
	res, err := Run(context.Background(), cfg, g, []*data.Dataset{b})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Benchmarks["tiny"]
	if r.N != 2 || r.Unscored != 0 || r.PassAt1 > 0.5 {
		t.Fatalf("random model: %+v", r)
	}
}

// Samples depend on the seed and the prompt, not on how problems are
// chunked, so an interrupted and resumed run equals an uninterrupted one.
func TestRunChunkingInvariant(t *testing.T) {
	g := tinyGen(t, 512, 8)
	b := fixtureBench(t)
	var texts [2][]string
	for i, chunk := range []int{1, 0} {
		cfg := fixtureConfig(filepath.Join(t.TempDir(), "out"))
		cfg.Chunk = chunk
		if _, err := Run(context.Background(), cfg, g, []*data.Dataset{b}); err != nil {
			t.Fatal(err)
		}
		recs, err := ReadRecords(filepath.Join(cfg.Out, SamplesFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			for _, s := range r.Samples {
				texts[i] = append(texts[i], s.Completion)
			}
		}
	}
	if len(texts[0]) != 8 || !slices.Equal(texts[0], texts[1]) {
		t.Fatalf("chunk 1 gave %q,\nchunk 0 gave %q", texts[0], texts[1])
	}
}
