package reward

import (
	"math"
	"sort"
	"strings"
)

// Stats summarises one reward over many samples.
type Stats struct {
	Label  string  `json:"label"`
	Weight float64 `json:"weight"`
	// N counts all samples, failed ones included (they count as 0).
	N        int     `json:"n"`
	Mean     float64 `json:"mean"`
	Std      float64 `json:"std"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	Errors   int     `json:"errors"`
	Timeouts int     `json:"timeouts"`
	// Parts holds the mean of each part over the samples that reported it.
	Parts map[string]float64 `json:"parts,omitempty"`
}

type acc struct {
	n, errors, timeouts int
	sum, sumsq          float64
	min, max            float64
	partSum             map[string]float64
	partN               map[string]int
}

func (a *acc) add(sc Score) {
	v := sc.Value
	if a.n == 0 || v < a.min {
		a.min = v
	}
	if a.n == 0 || v > a.max {
		a.max = v
	}
	a.n++
	a.sum += v
	a.sumsq += v * v
	if sc.Err != "" {
		a.errors++
		if strings.HasPrefix(sc.Err, TimeoutPrefix) {
			a.timeouts++
		}
	}
	for k, p := range sc.Parts {
		if a.partSum == nil {
			a.partSum, a.partN = map[string]float64{}, map[string]int{}
		}
		a.partSum[k] += p
		a.partN[k]++
	}
}

func (a *acc) stats(label string, w float64) Stats {
	st := Stats{Label: label, Weight: w, N: a.n, Errors: a.errors, Timeouts: a.timeouts, Min: a.min, Max: a.max}
	if a.n > 0 {
		st.Mean = a.sum / float64(a.n)
		// Population std, as GRPO logs it; clamp rounding below zero.
		st.Std = math.Sqrt(math.Max(0, a.sumsq/float64(a.n)-st.Mean*st.Mean))
	}
	if len(a.partSum) > 0 {
		st.Parts = map[string]float64{}
		for k, s := range a.partSum {
			st.Parts[k] = s / float64(a.partN[k])
		}
	}
	return st
}

// Summary accumulates Results (e.g. the chunks of a large file, or the
// batches of one logging interval) into per-reward statistics.
type Summary struct {
	labels  []string
	weights []float64
	accs    []acc
	total   acc
}

// Add folds r into the summary. The first Result fixes the labels; later
// ones must come from the same Scorer.
func (s *Summary) Add(r Result) {
	if s.accs == nil {
		s.labels = append([]string(nil), r.Labels...)
		s.weights = append([]float64(nil), r.Weights...)
		s.accs = make([]acc, len(r.Labels))
	}
	for i, row := range r.Scores {
		for j, sc := range row {
			if j < len(s.accs) {
				s.accs[j].add(sc)
			}
		}
		s.total.add(Score{Value: r.Total[i]})
	}
}

// Stats returns one entry per reward in config order.
func (s *Summary) Stats() []Stats {
	out := make([]Stats, len(s.accs))
	for j := range s.accs {
		out[j] = s.accs[j].stats(s.labels[j], s.weights[j])
	}
	return out
}

// Total summarises the weighted total reward.
func (s *Summary) Total() Stats { return s.total.stats("total", 1) }

// Metrics flattens the summary into "reward/<label>/<stat>" keys (and
// "reward/<label>/part/<part>" for parts, "reward/total/…" for the sum)
// for metrics.jsonl and TensorBoard.
func (s *Summary) Metrics() map[string]float64 {
	m := map[string]float64{}
	put := func(st Stats) {
		p := "reward/" + st.Label + "/"
		m[p+"mean"] = st.Mean
		m[p+"std"] = st.Std
		m[p+"min"] = st.Min
		m[p+"max"] = st.Max
		if st.Label != "total" {
			m[p+"errors"] = float64(st.Errors)
			m[p+"timeouts"] = float64(st.Timeouts)
		}
		keys := make([]string, 0, len(st.Parts))
		for k := range st.Parts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m[p+"part/"+k] = st.Parts[k]
		}
	}
	for _, st := range s.Stats() {
		put(st)
	}
	put(s.Total())
	return m
}

// Summarize returns the statistics of one Result.
func (r Result) Summarize() *Summary {
	s := &Summary{}
	s.Add(r)
	return s
}
