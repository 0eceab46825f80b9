// Package eval measures reasoning models the way the DeepSeek-R1 paper
// reports them: k samples per problem at temperature 0.6 / top-p 0.95,
// pass@1 as the mean correctness of those samples, the unbiased pass@k
// estimator of Chen et al. (2021), and cons@k, the correctness of the
// majority answer when equivalent answers (by mathverify, not string
// equality) vote together. It evaluates datasets from package data's
// registry (GSM8K, MATH-500, AIME 2024, AMC 2023, Countdown, HumanEval,
// MBPP, the synthetic tasks, a user's JSONL file), runs generation through
// a Generator, judges the samples with each dataset's judge (data.Judge,
// the correctness training reports too), caches per-problem results for
// resuming, and writes results.json, samples.jsonl and a markdown report.
package eval

import "fmt"

// PassAtK is the unbiased pass@k estimator of Chen et al. 2021 for a
// problem with n samples of which c are correct: 1 - C(n-c, k) / C(n, k).
// The ratio of binomials is computed as the product prod_{i=n-c+1}^{n}
// (1 - k/i), which never forms the huge binomials themselves and so stays
// exact enough in float64 for any n.
func PassAtK(n, c, k int) (float64, error) {
	switch {
	case n <= 0:
		return 0, fmt.Errorf("pass@k: n = %d samples, expected at least 1", n)
	case k <= 0 || k > n:
		return 0, fmt.Errorf("pass@k: k = %d, expected 1 ≤ k ≤ n = %d", k, n)
	case c < 0 || c > n:
		return 0, fmt.Errorf("pass@k: c = %d correct, expected 0 ≤ c ≤ n = %d", c, n)
	}
	if n-c < k {
		// Every draw of k samples contains a correct one.
		return 1, nil
	}
	miss := 1.0
	for i := n - c + 1; i <= n; i++ {
		miss *= 1 - float64(k)/float64(i)
	}
	return 1 - miss, nil
}

// Voter decides which extracted answers count as the same vote.
type Voter struct {
	// Key maps an answer to a grouping key; answers with equal keys are the
	// same. nil means the answer itself.
	Key func(answer string) string
	// Equal, when set, also merges groups whose keys differ but whose
	// representatives are equivalent (mathverify's Key is not complete:
	// sin^2 x + cos^2 x and 1 get different keys but are Equal).
	Equal func(a, b string) bool
}

// Cluster is one group of equivalent answers.
type Cluster struct {
	// Members are sample indices in increasing order; Members[0] is the
	// representative.
	Members []int
}

// Vote clusters the non-empty answers (empty means "no answer extracted",
// which casts no vote) and returns the representative sample of the
// largest cluster, or -1 when no sample has an answer. Ties go to the
// cluster whose first member came first, so the result does not depend on
// map order and is reproducible.
//
// Clustering: answers are first grouped by Key; then, in order of first
// occurrence, each group joins the earliest cluster whose representative
// is Equal to its own, else it starts a cluster.
func (v Voter) Vote(answers []string) (winner int, clusters []Cluster) {
	key := v.Key
	if key == nil {
		key = func(s string) string { return s }
	}
	byKey := map[string]int{} // key → index into groups
	var groups []Cluster
	for i, a := range answers {
		if a == "" {
			continue
		}
		k := key(a)
		g, ok := byKey[k]
		if !ok {
			g = len(groups)
			byKey[k] = g
			groups = append(groups, Cluster{})
		}
		groups[g].Members = append(groups[g].Members, i)
	}
	for _, g := range groups {
		joined := false
		if v.Equal != nil {
			for c := range clusters {
				if v.Equal(answers[clusters[c].Members[0]], answers[g.Members[0]]) {
					clusters[c].Members = mergeSorted(clusters[c].Members, g.Members)
					joined = true
					break
				}
			}
		}
		if !joined {
			clusters = append(clusters, g)
		}
	}
	winner = -1
	best := 0
	for _, c := range clusters {
		// Clusters are in order of first occurrence only before merging;
		// compare first members explicitly for the tie rule.
		if len(c.Members) > best || (len(c.Members) == best && c.Members[0] < winner) {
			best, winner = len(c.Members), c.Members[0]
		}
	}
	return winner, clusters
}

func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// ProblemMetrics are one problem's numbers.
type ProblemMetrics struct {
	N       int     `json:"n"`       // samples
	Correct int     `json:"correct"` // correct samples
	PassAt1 float64 `json:"pass@1"`
	PassAtK float64 `json:"pass@k"`
	ConsAtK float64 `json:"cons@k"`
	// Voted is the index of the sample whose answer won the vote, -1 when
	// no sample had an answer.
	Voted int `json:"voted"`
}

// Score computes a problem's metrics from its samples' correctness and
// extracted answers (same length). pass@1 averages all n samples; pass@k
// is the unbiased estimate from all n; cons@k votes over the first k
// answers and is 1 when the winning answer is correct.
func Score(correct []bool, answers []string, k int, v Voter) (ProblemMetrics, error) {
	n := len(correct)
	if len(answers) != n {
		return ProblemMetrics{}, fmt.Errorf("score: %d correctness flags but %d answers", n, len(answers))
	}
	c := 0
	for _, ok := range correct {
		if ok {
			c++
		}
	}
	pk, err := PassAtK(n, c, k)
	if err != nil {
		return ProblemMetrics{}, err
	}
	m := ProblemMetrics{N: n, Correct: c, PassAt1: float64(c) / float64(n), PassAtK: pk}
	m.Voted, _ = v.Vote(answers[:k])
	if m.Voted >= 0 && correct[m.Voted] {
		m.ConsAtK = 1
	}
	return m, nil
}
