package sample

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/backend/cpu"
	"github.com/r1go/r1/model"
)

var dev = cpu.New()

func tinyModel(t testing.TB, modelType string) *model.Model {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(`{"model_type": "` + modelType + `", "vocab_size": 50, "hidden_size": 32,
		"intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
		"initializer_range": 0.5, "max_position_embeddings": 256}`))
	if err != nil {
		t.Fatal(err)
	}
	return model.New(cfg, dev, 42)
}

// fullLogProbs recomputes, without any cache, log softmax(logits/T) of the
// whole sequence prompt+completion and returns the values at the completion
// tokens.
func fullLogProbs(t *testing.T, m *model.Model, prompt, completion []int32, temp float64) []float64 {
	ids := append(append([]int32(nil), prompt...), completion...)
	tp := autograd.NewTape(dev)
	tp.NoGrad = true
	lv, err := m.Logits(tp, model.Batch{B: 1, T: len(ids), IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	all := dev.Download(lv.Val)
	v := m.Config.VocabSize
	var out []float64
	for i, tok := range completion {
		row := all[(len(prompt)+i-1)*v : (len(prompt)+i)*v]
		mx := math.Inf(-1)
		for _, x := range row {
			mx = math.Max(mx, float64(x)/temp)
		}
		var s float64
		for _, x := range row {
			s += math.Exp(float64(x)/temp - mx)
		}
		out = append(out, float64(row[tok])/temp-mx-math.Log(s))
	}
	return out
}

// At every step the cached decode must see exactly the logits a full
// recomputation gives: the returned log-probs (log softmax of the
// temperature-scaled cached logits at the chosen tokens) must equal those
// recomputed from scratch. Several samples per prompt share the prefill
// and a partly filled block, so copy-on-write is covered too. With a BF16
// cache the keys and values are rounded to 8 mantissa bits: the log-probs
// then move — by up to 0.17 on this model, whose large weights
// (initializer_range 0.5) give logits in the tens — by less than 0.3, and
// do move (the cache really is BF16).
func TestCachedLogProbsMatchFullRecompute(t *testing.T) {
	for _, kv := range []struct {
		dtype string
		tol   float64
	}{{"auto", 1e-4}, {"bf16", 0.3}} {
		for _, mt := range []string{"llama", "qwen2", "qwen3"} {
			t.Run(mt+"/"+kv.dtype, func(t *testing.T) {
				m := tinyModel(t, mt)
				e := &Engine{Model: m, BlockSize: 4, KVCacheDType: kv.dtype}
				reqs := []Request{{Prompt: []int32{1, 2, 3, 4, 5, 6}, N: 3}, {Prompt: []int32{7, 8, 9}, N: 2}, {Prompt: []int32{10, 11, 12, 13, 14, 15, 16, 17}, N: 1}}
				p := Params{Temperature: 0.7, TopP: 1, MaxNewTokens: 13, Seed: 5}
				out, err := e.Generate(context.Background(), reqs, p)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != 6 {
					t.Fatalf("got %d samples, want 6", len(out))
				}
				var worst float64
				for _, s := range out {
					want := fullLogProbs(t, m, reqs[s.Request].Prompt, s.Tokens, p.Temperature)
					for i := range want {
						d := math.Abs(float64(s.LogProbs[i]) - want[i])
						if d > kv.tol {
							t.Fatalf("request %d sample %d token %d: cached log-prob %v, recomputed %v", s.Request, s.Index, i, s.LogProbs[i], want[i])
						}
						worst = max(worst, d)
					}
					if s.FinishReason != "length" || len(s.Tokens) != 13 {
						t.Fatalf("sample %+v: want 13 tokens ending by length", s)
					}
				}
				t.Logf("largest log-prob difference %.2g", worst)
				if kv.dtype == "bf16" && worst < 1e-4 {
					t.Fatalf("a BF16 cache changed no log-prob by 1e-4 (largest %.2g): is it F32?", worst)
				}
			})
		}
	}
}

// A KV cache dtype the engine cannot keep is an error that names it.
func TestKVCacheDTypeErrors(t *testing.T) {
	m := tinyModel(t, "llama")
	_, err := (&Engine{Model: m, KVCacheDType: "fp8"}).Generate(context.Background(), []Request{{Prompt: []int32{1}}}, Params{TopP: 1, MaxNewTokens: 1})
	if err == nil || !strings.Contains(err.Error(), `"fp8"`) {
		t.Fatalf("kv cache dtype fp8: got %v, want an error naming it", err)
	}
	if _, err := NewScheduler(SchedulerConfig{Model: m, KVCacheDType: "int4"}); err == nil {
		t.Fatal("NewScheduler with kv cache dtype int4: no error")
	}
}

// The same prompt yields the same samples whether it runs alone or in a
// batch with prompts of other lengths, and the samples of one prompt
// differ from each other.
func TestBatchCompositionDoesNotChangeSamples(t *testing.T) {
	m := tinyModel(t, "qwen2")
	prompts := [][]int32{{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10, 11, 12}, {13}, {14, 15, 16, 17, 18}}
	p := Params{Temperature: 1, TopP: 0.9, TopK: 20, MaxNewTokens: 10, Seed: 11, StopIDs: []int32{0}}
	var reqs []Request
	for _, pr := range prompts {
		reqs = append(reqs, Request{Prompt: pr, N: 2})
	}
	e := &Engine{Model: m, BlockSize: 4, MaxBatch: 3} // forces continuous batching
	batched, err := e.Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		alone, err := (&Engine{Model: m, BlockSize: 8}).Generate(context.Background(), []Request{r}, p)
		if err != nil {
			t.Fatal(err)
		}
		for j := range alone {
			got := batched[2*i+j]
			if fmt.Sprint(got.Tokens) != fmt.Sprint(alone[j].Tokens) {
				t.Fatalf("prompt %d sample %d: batched %v, alone %v", i, j, got.Tokens, alone[j].Tokens)
			}
		}
		if fmt.Sprint(batched[2*i].Tokens) == fmt.Sprint(batched[2*i+1].Tokens) {
			t.Errorf("prompt %d: both samples identical %v", i, batched[2*i].Tokens)
		}
	}
}

// A request with more samples than MaxBatch (an evaluation's k above the
// rollout batch) still runs: its samples share one prefill, so the batch
// grows to hold them, and they equal the samples of an unbounded engine.
func TestRequestLargerThanMaxBatch(t *testing.T) {
	m := tinyModel(t, "qwen2")
	p := Params{Temperature: 1, TopP: 1, MaxNewTokens: 6, Seed: 5, StopIDs: []int32{0}}
	reqs := []Request{{Prompt: []int32{1, 2, 3}, N: 5}, {Prompt: []int32{4, 5}, N: 1}}
	small, err := (&Engine{Model: m, BlockSize: 4, MaxBatch: 2}).Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	big, err := (&Engine{Model: m, BlockSize: 4}).Generate(context.Background(), reqs, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(small) != 6 || len(big) != 6 {
		t.Fatalf("%d and %d samples, want 6", len(small), len(big))
	}
	for i := range small {
		if fmt.Sprint(small[i].Tokens) != fmt.Sprint(big[i].Tokens) {
			t.Fatalf("sample %d: MaxBatch 2 gave %v, unbounded %v", i, small[i].Tokens, big[i].Tokens)
		}
	}
}

func TestStopTokensAndStrings(t *testing.T) {
	m := tinyModel(t, "llama")
	// Greedy from a fixed prompt, then stop at the 4th generated token.
	p := Params{Temperature: 0, TopP: 1, MaxNewTokens: 8, Seed: 1}
	ref, err := (&Engine{Model: m}).Generate(context.Background(), []Request{{Prompt: []int32{3, 1, 4}}}, p)
	if err != nil {
		t.Fatal(err)
	}
	toks := ref[0].Tokens
	p.StopIDs = []int32{toks[3]}
	decode := func(ids []int32) string { return fmt.Sprint(ids) }
	out, err := (&Engine{Model: m, Decode: decode}).Generate(context.Background(), []Request{{Prompt: []int32{3, 1, 4}}}, p)
	if err != nil {
		t.Fatal(err)
	}
	first := 0
	for first < len(toks) && toks[first] != toks[3] {
		first++
	}
	if got := out[0]; got.FinishReason != "stop" || len(got.Tokens) != first+1 || got.Text != fmt.Sprint(toks[:first]) {
		t.Fatalf("stop id: got %+v (reference %v)", got, toks)
	}
}

// chiSquare tests that Pick draws from the expected distribution: the
// filtered, renormalised softmax of a fixed logit row.
func TestPickDistribution(t *testing.T) {
	logits := []float32{2.0, 1.5, 1.2, 0.3, 0.1, -0.5, -1, -2, 0.9, 0.0}
	softmax := func(temp float64) []float64 {
		p := make([]float64, len(logits))
		var s float64
		for i, x := range logits {
			p[i] = math.Exp(float64(x) / temp)
			s += p[i]
		}
		for i := range p {
			p[i] /= s
		}
		return p
	}
	keep := func(p []float64, ids ...int) []float64 {
		out := make([]float64, len(p))
		var s float64
		for _, i := range ids {
			out[i] = p[i]
			s += p[i]
		}
		for i := range out {
			out[i] /= s
		}
		return out
	}
	// Sorted by probability: 0, 1, 2, 8, 3, 4, 9, 5, 6, 7.
	p1 := softmax(1)
	cases := []struct {
		name   string
		params Params
		want   []float64
	}{
		{"temperature 1", Params{Temperature: 1, TopP: 1}, p1},
		{"temperature 0.5", Params{Temperature: 0.5, TopP: 1}, softmax(0.5)},
		{"top-k 3", Params{Temperature: 1, TopP: 1, TopK: 3}, keep(p1, 0, 1, 2)},
		// p1 sorted: .333 .202 .149 .111 …; cumulative .333 .534 .684 .795.
		{"top-p 0.6", Params{Temperature: 1, TopP: 0.6}, keep(p1, 0, 1, 2)},
		{"top-p 0.75", Params{Temperature: 1, TopP: 0.75}, keep(p1, 0, 1, 2, 8)},
		{"min-p 0.4", Params{Temperature: 1, TopP: 1, MinP: 0.4}, keep(p1, 0, 1, 2)},
		{"top-k 5 then top-p 0.7", Params{Temperature: 1, TopK: 5, TopP: 0.7}, keep(p1, 0, 1, 2)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 40000
			counts := make([]float64, len(logits))
			probs := make([]float64, len(logits))
			for i := 0; i < n; i++ {
				tok, _ := Pick(logits, &c.params, rng, probs)
				counts[tok]++
			}
			var chi2 float64
			dof := -1
			for i, w := range c.want {
				if w == 0 {
					if counts[i] != 0 {
						t.Fatalf("token %d drawn %v times, should be filtered out", i, counts[i])
					}
					continue
				}
				e := w * n
				chi2 += (counts[i] - e) * (counts[i] - e) / e
				dof++
			}
			// 99.9th percentile of χ² with ≤ 9 degrees of freedom is 27.9.
			if chi2 > 27.9 {
				t.Fatalf("χ² = %.1f with %d dof: counts %v, want proportions %v", chi2, dof, counts, c.want)
			}
		})
	}
}

func TestPickLogProbAndGreedy(t *testing.T) {
	logits := []float32{0.5, 3, -1, 2.9}
	probs := make([]float64, 4)
	rng := rand.New(rand.NewPCG(1, 1))
	tok, lp := Pick(logits, &Params{Temperature: 0, TopP: 1}, rng, probs)
	if tok != 1 {
		t.Fatalf("greedy picked %d", tok)
	}
	for _, temp := range []float64{0.3, 1, 2} {
		p := &Params{Temperature: temp, TopP: 1}
		for i := 0; i < 20; i++ {
			tok, lp = Pick(logits, p, rng, probs)
			var s float64
			for _, x := range logits {
				s += math.Exp(float64(x) / temp)
			}
			want := float64(logits[tok])/temp - math.Log(s)
			if math.Abs(float64(lp)-want) > 1e-6 {
				t.Fatalf("T=%v token %d: log-prob %v, want %v", temp, tok, lp, want)
			}
		}
	}
}

// With a vocabulary larger than the first candidate heap (64), the nucleus
// is cut against the whole distribution's mass, not the mass of the
// candidates found so far: here 60 likely tokens hold 0.9 and 240 others
// 0.1, so top-p 0.8 keeps the first 54 tokens, not the 49 that 80% of the
// top-64 mass would give.
func TestPickTopPLargeVocabulary(t *testing.T) {
	const v = 300
	logits := make([]float32, v)
	probs := make([]float64, v)
	for i := range logits {
		// Slightly decreasing within each group so the order is unique.
		if i < 60 {
			logits[i] = float32(math.Log(0.9/60) - 1e-4*float64(i))
		} else {
			logits[i] = float32(math.Log(0.1/240) - 1e-4*float64(i))
		}
	}
	sm := make([]float64, v)
	var z float64
	for i, x := range logits {
		sm[i] = math.Exp(float64(x))
		z += sm[i]
	}
	want, acc := 0, 0.0
	for want < v && acc < 0.8 {
		acc += sm[want] / z
		want++
	}
	p := Params{Temperature: 1, TopP: 0.8}
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[int32]bool{}
	for i := 0; i < 20000; i++ {
		tok, _ := Pick(logits, &p, rng, probs)
		seen[tok] = true
	}
	for id := range seen {
		if int(id) >= want {
			t.Fatalf("token %d drawn, outside the %d-token nucleus", id, want)
		}
	}
	if len(seen) != want {
		t.Fatalf("%d distinct tokens drawn, want the whole %d-token nucleus", len(seen), want)
	}
}
