package grpo

import (
	"context"
	"fmt"
	"sort"

	"github.com/r1go/r1/data"
	"github.com/r1go/r1/reward"
)

// router scores each sample with the rewards of its row's kind
// (Config.Routing): one Scorer per kind, built from the rewards the kind
// lists with the kind's weights.
type router struct {
	labels  []string // every reward's label: the columns of a Result
	weights []float64
	kinds   map[string]*kindScorer
}

type kindScorer struct {
	scorer *reward.Scorer
	cols   []int // column of each of scorer's rewards
}

func newRouter(c Config) (*router, error) {
	r := &router{kinds: map[string]*kindScorer{}}
	col := map[string]int{}
	for j, sp := range c.Rewards.Rewards {
		r.labels = append(r.labels, sp.L())
		r.weights = append(r.weights, sp.W())
		col[sp.L()] = j
	}
	for kind, ws := range c.Routing {
		ks := &kindScorer{}
		sub := reward.Config{Workers: c.Rewards.Workers, Timeout: c.Rewards.Timeout}
		for _, sp := range c.Rewards.Rewards { // config order, for stable columns
			w, ok := ws[sp.L()]
			if !ok {
				continue
			}
			sp.Weight = &w
			sub.Rewards = append(sub.Rewards, sp)
			ks.cols = append(ks.cols, col[sp.L()])
		}
		var err error
		if ks.scorer, err = reward.NewScorer(sub); err != nil {
			return nil, fmt.Errorf("reward_routing.%s: %w", kind, err)
		}
		r.kinds[kind] = ks
	}
	return r, nil
}

// check fails when a row's kind has no route.
func (r *router) check(rows []data.Example) error {
	for i, ex := range rows {
		if r.kinds[ex.Kind()] == nil {
			return fmt.Errorf("data row %d is of kind %s, which reward_routing does not route (routed: %v)", i+1, ex.Kind(), r.kindNames())
		}
	}
	return nil
}

func (r *router) kindNames() []string {
	var ks []string
	for k := range r.kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// applies reports whether the reward in column j scores rows of kind.
func (r *router) applies(kind string, j int) bool {
	ks := r.kinds[kind]
	if ks == nil {
		return false
	}
	for _, c := range ks.cols {
		if c == j {
			return true
		}
	}
	return false
}

// score scores samples[i] (a row of kinds[i]) with its kind's rewards.
// The Result has every reward's column; a reward that does not score a
// kind leaves a zero Score there.
func (r *router) score(ctx context.Context, samples []reward.Sample, kinds []string) reward.Result {
	res := reward.Result{Labels: append([]string(nil), r.labels...), Weights: append([]float64(nil), r.weights...),
		Scores: make([][]reward.Score, len(samples)), Total: make([]float64, len(samples))}
	for i := range res.Scores {
		res.Scores[i] = make([]reward.Score, len(r.labels))
	}
	byKind := map[string][]int{}
	for i, k := range kinds {
		byKind[k] = append(byKind[k], i)
	}
	for _, kind := range r.kindNames() {
		idx := byKind[kind]
		if len(idx) == 0 {
			continue
		}
		ks := r.kinds[kind]
		sub := make([]reward.Sample, len(idx))
		for k, i := range idx {
			sub[k] = samples[i]
		}
		part := ks.scorer.Score(ctx, sub)
		for k, i := range idx {
			for c, j := range ks.cols {
				res.Scores[i][j] = part.Scores[k][c]
			}
			res.Total[i] = part.Total[k]
		}
	}
	return res
}

// kindsOf returns the kind of each sample's row.
func kindsOf(rows []data.Example, reqOf []int) []string {
	ks := make([]string, len(reqOf))
	for i, r := range reqOf {
		ks[i] = rows[r].Kind()
	}
	return ks
}

// kindMetrics adds, per row kind present, the mean total reward and each
// of the kind's rewards' means: reward/KIND/mean, reward/KIND/LABEL/mean.
func (t *Trainer) kindMetrics(ro *rollout, kinds []string, m map[string]float64) {
	for _, kind := range t.routes.kindNames() {
		var n, total float64
		sums := make([]float64, len(ro.scores.Labels))
		for i, k := range kinds {
			if k != kind {
				continue
			}
			n++
			total += ro.total[i]
			for j := range sums {
				sums[j] += ro.scores.Scores[i][j].Value
			}
		}
		if n == 0 {
			continue
		}
		m["reward/"+kind+"/mean"] = total / n
		m["reward/"+kind+"/fraction"] = n / float64(len(kinds))
		for j, l := range ro.scores.Labels {
			if t.routes.applies(kind, j) {
				m["reward/"+kind+"/"+l+"/mean"] = sums[j] / n
			}
		}
	}
}
