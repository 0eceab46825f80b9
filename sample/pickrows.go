package sample

import (
	"math/rand/v2"
	"runtime"

	"github.com/r1go/r1/internal/par"
)

// minParallelPick is the number of logits (rows × vocabulary) below which
// picking on one goroutine is cheaper than waking another: Pick costs some
// 10 ns per logit (float64 exp), so 64k logits are ~0.6 ms of work.
const minParallelPick = 1 << 16

// pickRows picks a token and its log-prob from each row of logits (rows of
// v), row i with params ps[i] and generator rngs[i], on up to GOMAXPROCS goroutines. Each row is picked
// whole by one goroutine with its own generator and scratch, so the result
// is the same however the rows are split. scratch holds one V-long buffer
// per goroutine and grows as needed.
func pickRows(logits []float32, v int, ps []*Params, rngs []*rand.Rand, scratch *[][]float64, toks []int32, lps []float32) {
	n := len(rngs)
	workers := 1
	if n*v >= minParallelPick {
		workers = min(runtime.GOMAXPROCS(0), n)
	}
	for len(*scratch) < workers {
		*scratch = append(*scratch, make([]float64, v))
	}
	work := func(w int) {
		probs := (*scratch)[w]
		for i := n * w / workers; i < n*(w+1)/workers; i++ {
			toks[i], lps[i] = Pick(logits[i*v:(i+1)*v], ps[i], rngs[i], probs)
		}
	}
	par.Do(workers, work) // part w uses scratch w, whoever runs it
}
