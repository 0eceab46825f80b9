package data

import (
	"go/constant"
	"go/token"
	"go/types"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goEval evaluates an integer expression with exact rational arithmetic
// using the Go compiler's constant folding: an oracle independent of the
// package's own parser. Numbers are made untyped floats so "/" is exact.
func goEval(t *testing.T, expr string) constant.Value {
	t.Helper()
	src := regexp.MustCompile(`\d+`).ReplaceAllString(expr, "$0.0")
	tv, err := types.Eval(token.NewFileSet(), nil, token.NoPos, src)
	if err != nil {
		t.Fatalf("go eval %q: %v", expr, err)
	}
	return tv.Value
}

func eqInt(v constant.Value, n int) bool {
	return constant.Compare(v, token.EQL, constant.MakeInt64(int64(n)))
}

func TestSyntheticProblemsDeterministic(t *testing.T) {
	for _, k := range Kinds {
		a, err := SyntheticProblems(k, 50, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := SyntheticProblems(k, 50, 7)
		c, _ := SyntheticProblems(k, 50, 8)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: same seed gave different problems", k)
		}
		if reflect.DeepEqual(a, c) {
			t.Errorf("%s: seeds 7 and 8 gave the same problems", k)
		}
		if len(a) != 50 {
			t.Errorf("%s: got %d problems, want 50", k, len(a))
		}
	}
}

// Every answer is right by construction: arithmetic answers equal the
// expression, Countdown answers use the numbers once and reach the target,
// and the worked steps chain to the answer.
func TestSyntheticAnswersCorrect(t *testing.T) {
	for _, d := range []int{1, 2, 3} {
		for _, k := range Kinds {
			ps, err := TrainProblems(k, 300, uint64(d), d)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				last := p.Steps[len(p.Steps)-1].R
				for i, s := range p.Steps {
					if r, ok := apply(s.A, s.Op, s.B); !ok || r != s.R {
						t.Fatalf("%+v: step %d %v is wrong", p, i, s)
					}
				}
				switch k {
				case Arithmetic:
					want, _ := strconv.Atoi(p.Answer)
					if !eqInt(goEval(t, p.Expr), want) || last != want {
						t.Fatalf("%q: answer %s, Go says %v, steps end at %d", p.Expr, p.Answer, goEval(t, p.Expr), last)
					}
					if !strings.Contains(p.Problem, p.Expr) {
						t.Fatalf("problem %q lacks its expression %q", p.Problem, p.Expr)
					}
				case Countdown:
					if !eqInt(goEval(t, p.Answer), p.Target) || last != p.Target {
						t.Fatalf("%v → %d: answer %q evaluates to %v", p.Nums, p.Target, p.Answer, goEval(t, p.Answer))
					}
					var used []int
					for _, m := range regexp.MustCompile(`\d+`).FindAllString(p.Answer, -1) {
						n, _ := strconv.Atoi(m)
						used = append(used, n)
					}
					want := slices.Clone(p.Nums)
					slices.Sort(used)
					slices.Sort(want)
					if !slices.Equal(used, want) {
						t.Fatalf("answer %q uses %v, want %v", p.Answer, used, want)
					}
					if err := CheckEquation(p.Answer, p.Nums, p.Target); err != nil {
						t.Fatal(err)
					}
					if p.Target < 1 || p.Target > 100 {
						t.Fatalf("target %d outside 1..100", p.Target)
					}
				}
			}
		}
	}
}

func TestHeldOutDisjoint(t *testing.T) {
	for _, k := range Kinds {
		held, err := SyntheticProblems(k, 200, 1)
		if err != nil {
			t.Fatal(err)
		}
		train, err := TrainProblems(k, 2000, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for _, p := range held {
			if !p.HeldOut() || keys[p.Key()] {
				t.Fatalf("%s: held-out problem %q is duplicated or outside the held-out part", k, p.Problem)
			}
			keys[p.Key()] = true
		}
		for _, p := range train {
			if keys[p.Key()] || p.HeldOut() {
				t.Fatalf("%s: training problem %q is in the held-out part", k, p.Problem)
			}
		}
	}
	// The corpus never states a held-out problem in any of its wordings.
	held := map[string]bool{}
	for _, k := range Kinds {
		ps, _ := SyntheticProblems(k, 150, 3)
		for _, p := range ps {
			if k == Countdown {
				held[p.Problem] = true
				continue
			}
			for _, q := range arithmeticQuestions {
				held[strings.ReplaceAll(q, "{e}", p.Expr)] = true
			}
		}
	}
	c := DefaultCorpus(5)
	found := 0
	for doc := range c.Docs(0, 1500) {
		for q := range held {
			// Questions start a document or follow "User: ", "Q: ", …;
			// "73 - 11 + 28 = ?" must not match "11 + 28 = ?".
			if strings.HasPrefix(doc, q) || strings.Contains(doc, ": "+q) {
				found++
				t.Errorf("corpus contains held-out problem %q", q)
			}
		}
		if found > 3 {
			break
		}
	}
}

func TestHeldOutShare(t *testing.T) {
	ps, err := TrainProblems(Countdown, 0, 1, 0)
	if err != nil || len(ps) != 0 {
		t.Fatalf("n=0: %v, %d problems", err, len(ps))
	}
	rng := newRNG(9, "share")
	held := 0
	const n = 4000
	for i := 0; i < n; i++ {
		if draw(rng, Kinds[i%2], 1+i%3).HeldOut() {
			held++
		}
	}
	if f := float64(held) / n; f < 0.09 || f > 0.16 {
		t.Errorf("held-out share %.3f, want about 1/8", f)
	}
}

func TestProblemsErrors(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		n, d int
		want string
	}{
		{"chess", 1, 0, "unknown synthetic task"},
		{Arithmetic, -1, 0, "n must be ≥ 0"},
		{Countdown, 1, 4, "difficulty must be"},
		{Arithmetic, 5000, 1, "only"}, // the easiest held-out space is small
	} {
		_, err := SyntheticProblemsAt(tc.kind, tc.n, 1, tc.d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s n=%d d=%d: error %v, want %q", tc.kind, tc.n, tc.d, err, tc.want)
		}
	}
}
