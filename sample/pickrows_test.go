package sample

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// pickRows gives every row what Pick gives it alone, in order, with the
// same draws from the row's generator, whether the rows run on one
// goroutine (few logits) or are split between several.
func TestPickRowsMatchesPick(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, c := range []struct {
		name    string
		rows, v int
		p       Params
	}{
		{"greedy/parallel", 7, 1 << 14, Params{Temperature: 0, TopP: 1}},
		{"T=1/parallel", 9, 1 << 14, Params{Temperature: 1, TopP: 1}},
		{"top-p/parallel", 5, 1 << 15, Params{Temperature: 0.7, TopP: 0.9}},
		{"top-k,min-p/parallel", 3, 1 << 15, Params{Temperature: 1.3, TopK: 40, TopP: 1, MinP: 0.05}},
		{"T=1/serial", 3, 100, Params{Temperature: 1, TopP: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			logits := make([]float32, c.rows*c.v)
			for i := range logits {
				logits[i] = float32(r.NormFloat64() * 3)
			}
			rngs, ref := make([]*rand.Rand, c.rows), make([]*rand.Rand, c.rows)
			for i := range rngs {
				rngs[i], ref[i] = rand.New(rand.NewPCG(uint64(i), 9)), rand.New(rand.NewPCG(uint64(i), 9))
			}
			// Odd rows sample with other settings: each row has its own
			// request's parameters in a continuous batch.
			alt := Params{Temperature: 0.5, TopP: 0.8}
			ps := make([]*Params, c.rows)
			for i := range ps {
				ps[i] = &c.p
				if i%2 == 1 {
					ps[i] = &alt
				}
			}
			var scratch [][]float64
			toks, lps := make([]int32, c.rows), make([]float32, c.rows)
			for step := 0; step < 3; step++ { // reused scratch, advanced generators
				pickRows(logits, c.v, ps, rngs, &scratch, toks, lps)
				probs := make([]float64, c.v)
				for i := range rngs {
					tok, lp := Pick(logits[i*c.v:(i+1)*c.v], ps[i], ref[i], probs)
					if tok != toks[i] || lp != lps[i] {
						t.Fatalf("step %d row %d: pickRows (%d, %v), Pick (%d, %v)", step, i, toks[i], lps[i], tok, lp)
					}
				}
			}
			wantWorkers := 1
			if c.rows*c.v >= minParallelPick {
				wantWorkers = 2
			}
			if len(scratch) != wantWorkers {
				t.Errorf("%d scratch buffers, want %d (one per goroutine)", len(scratch), wantWorkers)
			}
		})
	}
}
