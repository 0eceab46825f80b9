package grpo

import (
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/r1go/r1/train"
)

// easy_to_hard draws only from the easiest ⌈c·N⌉ rows of the ranking, c
// growing as √ of the prompts drawn from start_competence to 1 at full_after: on
// 30 rows of difficulty 1, 2 and 3, the first prompts are all of
// difficulty 1, difficulty 3 appears only once c > 2/3, every row is
// drawn once the schedule is full, and the order is the seeded one
// filtered by the open set (checked against a recomputation).
func TestEasyToHardOrder(t *testing.T) {
	diff := make([]float64, 30)
	for i := range diff {
		diff[i] = float64(1 + i%3)
	}
	cfg := DefaultCurriculum()
	cfg.Kind, cfg.StartCompetence = "easy_to_hard", 0.2 // full_after 0: half of the run
	const total = 200
	c, err := newCurriculum(cfg, 7, diff, total)
	if err != nil {
		t.Fatal(err)
	}
	order := &train.Order{Seed: 7, N: 30}
	scan := 0
	seen := map[int]bool{}
	for taken := 0; taken < total; taken++ {
		comp := math.Min(1, math.Sqrt(float64(taken)/(0.5*total)*(1-0.04)+0.04))
		open := int(math.Ceil(comp * 30))
		// The recomputation: the next row of the seeded order whose rank is open.
		var want int
		for {
			want = order.At(scan)
			scan++
			if c.rank[want] < open {
				break
			}
		}
		got := c.next()
		if got != want {
			t.Fatalf("prompt %d: row %d, want %d", taken, got, want)
		}
		if comp <= 1.0/3 && diff[got] != 1 {
			t.Fatalf("prompt %d at competence %.2f has difficulty %g", taken, comp, diff[got])
		}
		if diff[got] == 3 && comp <= 2.0/3 {
			t.Fatalf("prompt %d: difficulty 3 at competence %.2f", taken, comp)
		}
		seen[got] = true
	}
	if len(seen) != 30 {
		t.Errorf("%d of 30 rows drawn", len(seen))
	}
	// The ranking is by difficulty.
	for i := range diff {
		for j := range diff {
			if diff[i] < diff[j] && c.rank[i] > c.rank[j] {
				t.Fatalf("row %d (difficulty %g) ranked after row %d (difficulty %g)", i, diff[i], j, diff[j])
			}
		}
	}
	if _, err := newCurriculum(cfg, 7, make([]float64, 5), 10); err == nil {
		t.Error("easy_to_hard on data without difficulty: no error")
	}
}

// pass_rate skips a row whose last group was all correct or all wrong,
// retry_after times, then takes it again; other rows are never skipped;
// the order is otherwise the seeded one.
func TestPassRateSkipRule(t *testing.T) {
	cfg := DefaultCurriculum()
	cfg.Kind, cfg.RetryAfter = "pass_rate", 2
	const n = 10
	c, err := newCurriculum(cfg, 3, make([]float64, n), 100)
	if err != nil {
		t.Fatal(err)
	}
	c.observe(3, 4, 4) // always solved
	c.observe(5, 0, 4) // never solved
	c.observe(7, 2, 4) // informative
	order := &train.Order{Seed: 3, N: n}
	skips := map[int]int{}
	scan := 0
	for taken := 0; taken < 5*n; taken++ {
		got := c.next()
		// Walk the order as the rule says.
		for {
			r := order.At(scan)
			scan++
			if (r == 3 || r == 5) && skips[r] < 2 {
				skips[r]++
				continue
			}
			if r == 3 || r == 5 {
				skips[r] = 0
			}
			if got != r {
				t.Fatalf("prompt %d: row %d, want %d", taken, got, r)
			}
			break
		}
	}
	if c.skipped == 0 {
		t.Fatal("nothing skipped")
	}
	m := map[string]float64{}
	c.metrics(m)
	if m["curriculum/tracked_rows"] != 3 || m["curriculum/solved_rows"] != 1 || m["curriculum/unsolved_rows"] != 1 || m["curriculum/skipped"] == 0 {
		t.Errorf("metrics %v", m)
	}
	if c.metrics(m); m["curriculum/skipped"] != 0 {
		t.Error("the skip count is not per step")
	}
}

// A curriculum restored from its checkpoint state (through JSON) goes on
// with exactly the prompts the uninterrupted one picks.
func TestCurriculumResumes(t *testing.T) {
	diff := []float64{3, 1, 2, 2, 1, 3, 1, 2, 3, 1, 2, 1}
	for _, kind := range []string{"easy_to_hard", "pass_rate"} {
		t.Run(kind, func(t *testing.T) {
			cfg := DefaultCurriculum()
			cfg.Kind = kind
			a, _ := newCurriculum(cfg, 9, diff, 40)
			run := func(c *curriculum, steps int) []int {
				var out []int
				for range steps {
					r := c.next()
					out = append(out, r)
					c.observe(r, r%3, 2) // pass rates 0, ½, 1 by row
				}
				return out
			}
			first := run(a, 15)
			raw, err := json.Marshal(a.state())
			if err != nil {
				t.Fatal(err)
			}
			var st curriculumState
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatal(err)
			}
			b, _ := newCurriculum(cfg, 9, diff, 40)
			if err := b.restore(&st); err != nil {
				t.Fatal(err)
			}
			if want, got := run(a, 25), run(b, 25); !slices.Equal(want, got) {
				t.Fatalf("after %v the resumed curriculum picks %v, the uninterrupted %v", first, got, want)
			}
		})
	}
}
