package sample

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/r1go/r1/backend/cpu"
)

// Params choose how tokens are drawn. The order of the filters is Hugging
// Face's (temperature, then top-k, top-p, min-p on the renormalised
// distribution), so results are comparable with transformers and vLLM.
type Params struct {
	// Temperature divides the logits; 0 means greedy (argmax).
	Temperature float64 `yaml:"temperature"`
	// TopK keeps the k most likely tokens (0 = off).
	TopK int `yaml:"top_k"`
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches p (Holtzman et al. 2020, nucleus sampling; 1 = off).
	TopP float64 `yaml:"top_p"`
	// MinP keeps tokens whose probability is at least min_p times the most
	// likely one's (Nguyen et al. 2024; 0 = off).
	MinP float64 `yaml:"min_p"`
	// MaxNewTokens ends a sample with finish reason "length".
	MaxNewTokens int `yaml:"max_new_tokens"`
	// StopIDs end a sample with finish reason "stop" (EOS ids from
	// generation_config.json / the tokenizer). The stop token is kept in
	// Tokens (the policy must learn to emit it) but not in Text.
	StopIDs []int32 `yaml:"stop_ids"`
	// StopStrings end a sample when its text contains one of them; Text is
	// cut before it unless IncludeStopString.
	StopStrings       []string `yaml:"stop_strings"`
	IncludeStopString bool     `yaml:"include_stop_string"`
	// Seed makes sampling reproducible: each sample draws from its own
	// generator seeded by (Seed, prompt, sample index), so a sample does not
	// depend on what else is in the batch.
	Seed uint64 `yaml:"seed"`
}

// Validate checks ranges.
func (p Params) Validate() error {
	switch {
	case p.Temperature < 0 || math.IsNaN(p.Temperature):
		return fmt.Errorf("temperature must be ≥ 0, got %g", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("top_k must be ≥ 0, got %d", p.TopK)
	case p.TopP <= 0 || p.TopP > 1:
		return fmt.Errorf("top_p must be in (0,1], got %g", p.TopP)
	case p.MinP < 0 || p.MinP >= 1:
		return fmt.Errorf("min_p must be in [0,1), got %g", p.MinP)
	case p.MaxNewTokens <= 0:
		return fmt.Errorf("max_new_tokens must be > 0, got %d", p.MaxNewTokens)
	}
	return nil
}

// DefaultParams are the R1 paper's evaluation settings (T=0.6, top-p 0.95).
func DefaultParams() Params {
	return Params{Temperature: 0.6, TopP: 0.95, MaxNewTokens: 512, Seed: 1}
}

// candidate is a token with its (temperature-scaled) probability.
type candidate struct {
	id int32
	p  float64
}

// minHeap keeps the k largest probabilities.
type minHeap []candidate

func (h minHeap) Len() int { return len(h) }
func (h minHeap) Less(i, j int) bool {
	return h[i].p < h[j].p || (h[i].p == h[j].p && h[i].id > h[j].id)
}
func (h minHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *minHeap) Pop() any     { old := *h; x := old[len(old)-1]; *h = old[:len(old)-1]; return x }

// topK returns the k most probable tokens, most probable first (ties by id).
func topK(probs []float64, k int) []candidate {
	h := make(minHeap, 0, k+1)
	for i, p := range probs {
		if len(h) < k {
			heap.Push(&h, candidate{int32(i), p})
		} else if p > h[0].p {
			h[0] = candidate{int32(i), p}
			heap.Fix(&h, 0)
		}
	}
	sort.Slice(h, func(i, j int) bool { return h[i].p > h[j].p || (h[i].p == h[j].p && h[i].id < h[j].id) })
	return h
}

// Pick draws one token from a row of logits and returns it with its
// log-probability under softmax(logits / T) — the sampling policy's
// log-prob over the whole vocabulary, before truncation, which is what
// GRPO's importance ratio compares against. Greedy (T=0) reports the log-prob
// at T=1. probs is scratch of len(logits).
func Pick(logits []float32, p *Params, rng *rand.Rand, probs []float64) (int32, float32) {
	t := p.Temperature
	if t == 0 {
		t = 1
	}
	// The largest logit over T, e^(x/T − max) and their sum in float64: the
	// vector kernels give bit for bit the scalar loops' values (x/T is
	// monotone in x, so max(x)/T is the largest x/T).
	mx := float64(cpu.MaxF32(logits)) / t
	sum := cpu.ExpSum64(probs, logits, t, mx)
	logZ := mx + math.Log(sum)
	logprob := func(id int32) float32 { return float32(float64(logits[id])/t - logZ) }
	if p.Temperature == 0 {
		best := int32(0)
		for i, x := range logits {
			if x > logits[best] {
				best = int32(i)
			}
		}
		return best, logprob(best)
	}
	cpu.Div64(probs, sum)
	// Candidates, most probable first: grow a top-k heap until it covers
	// top_p (or take exactly TopK), so the 150k-entry row is never sorted.
	var cand []candidate
	k := len(probs)
	if p.TopK > 0 && p.TopK < k {
		k = p.TopK
	}
	if k == len(probs) && p.TopP >= 1 && p.MinP == 0 {
		// No truncation: sample from the full distribution directly.
		u := rng.Float64()
		var acc float64
		for i, q := range probs {
			acc += q
			if u < acc {
				return int32(i), logprob(int32(i))
			}
		}
		return int32(len(probs) - 1), logprob(int32(len(probs) - 1))
	}
	if k < len(probs) {
		cand = topK(probs, k)
	} else {
		for try := 64; ; try *= 4 {
			if try >= len(probs) {
				cand = topK(probs, len(probs))
				break
			}
			cand = topK(probs, try)
			if p.TopP < 1 {
				var mass float64
				for _, c := range cand {
					mass += c.p
				}
				if mass >= p.TopP {
					break // the nucleus is a prefix of cand
				}
			} else if cand[len(cand)-1].p < p.MinP*cand[0].p {
				break // every token above the min-p cut is in cand
			}
		}
	}
	// Renormalise over the top-k set, then cut the nucleus. Without top-k
	// the set is the whole vocabulary (mass 1), even when cand holds only
	// the prefix that covers the nucleus.
	mass := 1.0
	if k < len(probs) {
		mass = 0
		for _, c := range cand {
			mass += c.p
		}
	}
	if p.TopP < 1 {
		var acc float64
		for i, c := range cand {
			acc += c.p / mass
			if acc >= p.TopP {
				cand = cand[:i+1]
				break
			}
		}
	}
	if p.MinP > 0 {
		cut := p.MinP * cand[0].p
		n := 0
		for n < len(cand) && cand[n].p >= cut {
			n++
		}
		cand = cand[:max(n, 1)]
	}
	mass = 0
	for _, c := range cand {
		mass += c.p
	}
	u := rng.Float64() * mass
	var acc float64
	for _, c := range cand {
		acc += c.p
		if u < acc {
			return c.id, logprob(c.id)
		}
	}
	last := cand[len(cand)-1].id
	return last, logprob(last)
}
