package grpo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/r1go/r1/train"
)

// CurriculumConfig schedules the prompts of an RL run (GRPO and PPO share
// it through Source). Off by default: the seeded order, every prompt once
// per epoch.
type CurriculumConfig struct {
	// Kind is "" (off), "easy_to_hard" or "pass_rate".
	//
	// easy_to_hard is competence-based (Platanios et al. 2019): the rows
	// are ranked by the data's difficulty (synthetic difficulty, MATH
	// level, a difficulty/level field), and only the easiest share c of
	// them is drawn from, in the seeded order; c grows from
	// start_competence as √ of the prompts drawn and reaches 1 (every
	// row) after full_after prompts.
	//
	// pass_rate estimates each prompt's difficulty online as the pass
	// rate of its last group (the dataset's correctness check over its
	// samples) and skips a prompt whose last pass rate was ≤
	// min_pass_rate (never solved) or ≥ max_pass_rate (always solved):
	// in GRPO such a group has equal rewards and no gradient. A skipped
	// prompt is tried again after retry_after skips, since the policy
	// changes.
	Kind string `yaml:"kind"`
	// StartCompetence and FullAfter shape easy_to_hard's schedule;
	// full_after 0 means half the run's prompts (steps × prompts_per_step
	// / 2: a run resumed with more steps then follows a stretched
	// schedule; set it to keep one).
	StartCompetence float64 `yaml:"start_competence"`
	FullAfter       int     `yaml:"full_after"`
	// MinPassRate, MaxPassRate and RetryAfter are pass_rate's skip rule.
	MinPassRate float64 `yaml:"min_pass_rate"`
	MaxPassRate float64 `yaml:"max_pass_rate"`
	RetryAfter  int     `yaml:"retry_after"`
}

// DefaultCurriculum is off, with the other keys at their defaults for
// when a kind is chosen.
func DefaultCurriculum() CurriculumConfig {
	return CurriculumConfig{StartCompetence: 0.2, MinPassRate: 0, MaxPassRate: 1, RetryAfter: 3}
}

// Validate checks the keys of the chosen kind.
func (c CurriculumConfig) Validate() error {
	switch c.Kind {
	case "":
	case "easy_to_hard":
		if !(c.StartCompetence > 0 && c.StartCompetence <= 1) {
			return fmt.Errorf("curriculum.start_competence: must be in (0, 1], got %g", c.StartCompetence)
		}
		if c.FullAfter < 0 {
			return fmt.Errorf("curriculum.full_after: must be ≥ 0 prompts (0 = half the run's), got %d", c.FullAfter)
		}
	case "pass_rate":
		if !(c.MinPassRate >= 0 && c.MinPassRate < c.MaxPassRate && c.MaxPassRate <= 1) {
			return fmt.Errorf("curriculum.min_pass_rate, max_pass_rate: want 0 ≤ min < max ≤ 1, got %g and %g", c.MinPassRate, c.MaxPassRate)
		}
		if c.RetryAfter < 1 {
			return fmt.Errorf("curriculum.retry_after: must be ≥ 1 (a skipped prompt comes back after that many skips), got %d", c.RetryAfter)
		}
	default:
		return fmt.Errorf("curriculum.kind: want easy_to_hard, pass_rate or empty (off), got %q", c.Kind)
	}
	return nil
}

// curriculum picks a run's prompts under a CurriculumConfig. Everything a
// resumed run needs is curriculumState: the pick is a function of it and
// of (seed, dataset).
type curriculum struct {
	cfg   CurriculumConfig
	order *train.Order
	// rank is each row's position in the easy→hard ranking (easy_to_hard).
	rank []int
	diff []float64
	// full is the prompts after which easy_to_hard opens every row.
	full int

	scan  int // positions of the order examined
	taken int // prompts handed out
	stats map[int]*rowStat

	// this step's figures, for the metrics
	skipped  int
	diffSum  float64
	diffSeen int
}

// rowStat is what pass_rate knows of a row: its last group's correct
// samples out of n, and how often it has been skipped since it was last
// taken.
type rowStat struct {
	Correct, N, Skips int
}

// newCurriculum builds the curriculum of a run of total prompts on rows of
// the given difficulties.
func newCurriculum(cfg CurriculumConfig, seed uint64, diff []float64, total int) (*curriculum, error) {
	c := &curriculum{cfg: cfg, order: &train.Order{Seed: seed, N: len(diff)}, diff: diff, full: cfg.FullAfter, stats: map[int]*rowStat{}}
	if c.full == 0 {
		c.full = max(1, total/2)
	}
	if cfg.Kind == "easy_to_hard" {
		known := false
		for _, d := range diff {
			known = known || d != 0
		}
		if !known {
			return nil, fmt.Errorf("curriculum.kind easy_to_hard: the dataset gives no difficulty (synthetic difficulty, MATH level, or a \"difficulty\"/\"level\" field); use pass_rate, which measures it")
		}
		// Rank by difficulty; ties in a seeded random order, so that the
		// open share of a level is a random subset of it.
		tie := rand.New(rand.NewPCG(seed, 0xc0ffee)).Perm(len(diff))
		idx := make([]int, len(diff))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool {
			if diff[idx[a]] != diff[idx[b]] {
				return diff[idx[a]] < diff[idx[b]]
			}
			return tie[idx[a]] < tie[idx[b]]
		})
		c.rank = make([]int, len(diff))
		for r, i := range idx {
			c.rank[i] = r
		}
	}
	return c, nil
}

// competence is the share of the rows (easiest first) open after taken
// prompts: √(p·(1 − c0²) + c0²) with p = taken/full_after, at most 1.
func (c *curriculum) competence() float64 {
	c0 := c.cfg.StartCompetence
	p := float64(c.taken) / float64(c.full)
	return math.Min(1, math.Sqrt(p*(1-c0*c0)+c0*c0))
}

// next is the next prompt's row.
func (c *curriculum) next() int {
	n := c.order.N
	for {
		r := c.order.At(c.scan)
		c.scan++
		switch c.cfg.Kind {
		case "easy_to_hard":
			if open := max(1, int(math.Ceil(c.competence()*float64(n)))); c.rank[r] >= open {
				continue
			}
		case "pass_rate":
			if st := c.stats[r]; st != nil && st.N > 0 {
				rate := float64(st.Correct) / float64(st.N)
				if (rate <= c.cfg.MinPassRate || rate >= c.cfg.MaxPassRate) && st.Skips < c.cfg.RetryAfter {
					st.Skips++
					c.skipped++
					continue
				}
				st.Skips = 0
			}
		}
		c.taken++
		if d := c.diff[r]; d != 0 {
			c.diffSum += d
			c.diffSeen++
		}
		return r
	}
}

// observe records a group's pass rate: correct of n samples of row r.
func (c *curriculum) observe(r, correct, n int) {
	st := c.stats[r]
	if st == nil {
		st = &rowStat{}
		c.stats[r] = st
	}
	st.Correct, st.N = correct, n
}

// metrics adds the step's curriculum figures to m and starts the next
// step's.
func (c *curriculum) metrics(m map[string]float64) {
	m["curriculum/skipped"] = float64(c.skipped)
	if c.diffSeen > 0 {
		m["curriculum/difficulty_mean"] = c.diffSum / float64(c.diffSeen)
	}
	switch c.cfg.Kind {
	case "easy_to_hard":
		m["curriculum/competence"] = c.competence()
	case "pass_rate":
		var solved, unsolved float64
		for _, st := range c.stats {
			rate := float64(st.Correct) / float64(st.N)
			if rate >= c.cfg.MaxPassRate {
				solved++
			}
			if rate <= c.cfg.MinPassRate {
				unsolved++
			}
		}
		m["curriculum/tracked_rows"] = float64(len(c.stats))
		m["curriculum/solved_rows"] = solved
		m["curriculum/unsolved_rows"] = unsolved
	}
	c.skipped, c.diffSum, c.diffSeen = 0, 0, 0
}

// curriculumState is the curriculum's part of a checkpoint: the order's
// position, the prompts taken, and pass_rate's rows as [row, correct, n,
// skips], ascending by row (integers, so a resume is exact).
type curriculumState struct {
	Scan  int      `json:"scan"`
	Taken int      `json:"taken"`
	Rows  [][4]int `json:"rows,omitempty"`
}

func (c *curriculum) state() *curriculumState {
	st := &curriculumState{Scan: c.scan, Taken: c.taken}
	for r, s := range c.stats {
		st.Rows = append(st.Rows, [4]int{r, s.Correct, s.N, s.Skips})
	}
	sort.Slice(st.Rows, func(a, b int) bool { return st.Rows[a][0] < st.Rows[b][0] })
	return st
}

func (c *curriculum) restore(st *curriculumState) error {
	c.scan, c.taken = st.Scan, st.Taken
	c.stats = map[int]*rowStat{}
	for _, r := range st.Rows {
		if r[0] < 0 || r[0] >= c.order.N || r[2] <= 0 {
			return fmt.Errorf("curriculum: row %v does not fit this dataset of %d rows", r, c.order.N)
		}
		c.stats[r[0]] = &rowStat{Correct: r[1], N: r[2], Skips: r[3]}
	}
	return nil
}
