package data

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/r1go/r1/chat"
)

// DefaultSyntheticN is how many problems a synthetic dataset draws when
// Options.Limit is 0.
const DefaultSyntheticN = 5000

// The seeds of the synthetic splits: fixed, so every run trains and
// evaluates on the same problems. Train draws from the training part of
// the problem space and test from the held-out part, which pretraining
// never sees, so the splits are disjoint whatever the seeds.
const (
	syntheticTrainSeed = 1
	syntheticTestSeed  = 7
)

// openSynthetic serves "synthetic[:arithmetic|countdown|mixed[:DIFFICULTY]]"
// ("synthetic" alone is arithmetic): n problems (Limit, default
// DefaultSyntheticN) split evenly between the kinds, the first kind taking
// the remainder, at difficulty 1..3 (default: mixed). A small problem space
// (difficulty 1) holds fewer distinct problems than asked for: the request
// halves until it fits, so the dataset has what exists.
func openSynthetic(name, split string, n int) (*Dataset, error) {
	full := name
	kinds := []Kind{Arithmetic}
	difficulty := 0
	if i := strings.LastIndex(name, ":"); i > 0 && strings.Count(name, ":") == 2 {
		d, err := strconv.Atoi(name[i+1:])
		if err != nil || d < MinDifficulty || d > MaxDifficulty {
			return nil, fmt.Errorf("dataset %s: difficulty must be %d..%d", name, MinDifficulty, MaxDifficulty)
		}
		difficulty, name = d, name[:i]
	}
	if k, ok := strings.CutPrefix(name, "synthetic:"); ok {
		switch k {
		case "mixed":
			kinds = Kinds
		default:
			kind, err := ParseKind(k)
			if err != nil {
				return nil, fmt.Errorf("dataset %s: %w", name, err)
			}
			kinds = []Kind{kind}
		}
	}
	if split == "" {
		split = SplitTrain
	}
	if split != SplitTrain && split != SplitTest {
		return nil, fmt.Errorf("dataset %s has no split %q (it has train, test)", full, split)
	}
	if n == 0 {
		n = DefaultSyntheticN
	}
	ds := &Dataset{Name: full, Split: split}
	for i, kind := range kinds {
		m := n / len(kinds)
		if i == 0 {
			m += n % len(kinds)
		}
		var ps []Problem
		var err error
		for {
			if split == SplitTest {
				ps, err = SyntheticProblemsAt(kind, m, syntheticTestSeed, difficulty)
			} else {
				ps, err = TrainProblems(kind, m, syntheticTrainSeed, difficulty)
			}
			if err == nil || m <= 1 || !errors.Is(err, ErrTooFewProblems) {
				break
			}
			m /= 2
		}
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", full, err)
		}
		for _, p := range ps {
			ex := p.Example()
			ex.Index = len(ds.Examples)
			ds.Examples = append(ds.Examples, ex)
		}
	}
	ds.Task = commonTask(ds.Examples)
	return ds, nil
}

// Task is the task that judges p: math for arithmetic (the answer is an
// integer), countdown for Countdown (any equation that reaches the target
// is right).
func (p Problem) Task() Task {
	if p.Kind == Countdown {
		return TaskCountdown
	}
	return TaskMath
}

// Example is p as a dataset example, the form the registry serves and
// the judges check: the question, the fields the rewards read ("answer";
// for Countdown also "nums" and "target" as JSON numbers, as a JSONL row
// would hold them), the key as ID.
func (p Problem) Example() Example {
	ex := Example{ID: p.Key(), Input: chat.PromptInput{Question: p.Problem}, Gold: p.Answer, Task: p.Task(), Fields: p.Fields(),
		Difficulty: float64(p.Difficulty)}
	if p.Kind == Countdown {
		ex.Input.Numbers, ex.Input.Target = slices.Clone(p.Nums), p.Target
		ex.Gold = strconv.Itoa(p.Target)
	}
	return ex
}

// Fields are the reward fields of the problem: "answer", plus "nums" and
// "target" for Countdown, typed as decoded JSON (float64) so that a
// synthetic row and the same row read from a file score alike.
func (p Problem) Fields() map[string]any {
	f := map[string]any{"answer": p.Answer}
	if p.Kind == Countdown {
		nums := make([]any, len(p.Nums))
		for j, v := range p.Nums {
			nums[j] = float64(v)
		}
		f["nums"], f["target"] = nums, float64(p.Target)
	}
	return f
}
