package data

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/r1go/r1/chat"
)

// Kind names a synthetic task.
type Kind string

// The synthetic tasks.
const (
	// Arithmetic is 2–3 operand integer arithmetic ("What is 37 + 48 - 12?"),
	// evaluated left to right; the answer is an integer.
	Arithmetic Kind = "arithmetic"
	// Countdown gives 3 numbers and a target to reach with + - * /, each
	// number used once; the answer is an equation such as "(7 - 3) * 12".
	Countdown Kind = "countdown"
)

// Kinds lists every synthetic task.
var Kinds = []Kind{Arithmetic, Countdown}

// ParseKind checks a task name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown synthetic task %q (want arithmetic or countdown)", s)
}

// ErrTooFewProblems is wrapped by the error of a request for more distinct
// problems than a task's space (at that difficulty) holds.
var ErrTooFewProblems = errors.New("not enough distinct problems")

// MinDifficulty and MaxDifficulty bound Problem.Difficulty.
const (
	MinDifficulty = 1
	MaxDifficulty = 3
)

// Step is one binary operation of a worked solution: A Op B = R.
type Step struct {
	A, B, R int
	Op      byte
}

func (s Step) String() string { return fmt.Sprintf("%d %c %d = %d", s.A, s.Op, s.B, s.R) }

// Problem is one synthetic (or loaded) problem. For Countdown, Answer is one
// valid equation; any equation that uses Nums once each and equals Target
// is correct.
type Problem struct {
	Kind       Kind   `json:"kind"`
	Problem    string `json:"problem"`
	Answer     string `json:"answer"`
	Nums       []int  `json:"nums,omitempty"`
	Target     int    `json:"target,omitempty"`
	Difficulty int    `json:"difficulty,omitempty"`
	// Steps is the worked solution the corpus renders; not stored.
	Steps []Step `json:"-"`
	// Expr is the arithmetic expression ("37 + 48 - 12"); not stored.
	Expr string `json:"-"`
}

// Key identifies a problem independently of its wording: the expression
// for arithmetic, the sorted numbers and target for Countdown.
func (p Problem) Key() string {
	if p.Kind == Countdown {
		ns := slices.Clone(p.Nums)
		slices.Sort(ns)
		return fmt.Sprintf("countdown:%v:%d", ns, p.Target)
	}
	return string(p.Kind) + ":" + p.Expr
}

// HeldOut reports whether a problem lies in the held-out part of its
// task's problem space (about 1 in 8 problems).
func (p Problem) HeldOut() bool {
	h := fnv.New64a()
	h.Write([]byte(p.Key()))
	return h.Sum64()%8 == 0
}

func prec(op byte) int {
	if op == '*' || op == '/' {
		return 2
	}
	return 1
}

// apply computes a op b over the integers; ok is false when the result is
// not a non-negative integer (division must be exact).
func apply(a int, op byte, b int) (int, bool) {
	switch op {
	case '+':
		return a + b, true
	case '-':
		return a - b, a >= b
	case '*':
		return a * b, true
	case '/':
		if b == 0 || a%b != 0 {
			return 0, false
		}
		return a / b, true
	}
	return 0, false
}

// arithmetic draws one arithmetic problem of the given difficulty:
// 1: two operands up to 20, + or −; 2: two or three operands up to 50;
// 3: three operands up to 99, with an optional leading small product.
// Every intermediate result is non-negative so left-to-right evaluation
// and the worked steps agree with ordinary precedence.
func arithmetic(rng *rand.Rand, difficulty int) Problem {
	maxN, operands := 20, 2
	switch difficulty {
	case 2:
		maxN, operands = 50, 2+rng.IntN(2)
	case 3:
		maxN, operands = 99, 3
	}
	for {
		var steps []Step
		acc := 1 + rng.IntN(maxN)
		expr := strconv.Itoa(acc)
		ok := true
		for i := 1; i < operands && ok; i++ {
			op := "+-"[rng.IntN(2)]
			b := 1 + rng.IntN(maxN)
			if difficulty == 3 && i == 1 && rng.IntN(3) == 0 {
				// Only the first operation may be a product, so the
				// expression needs no precedence to read left to right.
				op, acc, b = '*', 2+rng.IntN(11), 2+rng.IntN(11)
				expr = strconv.Itoa(acc)
			}
			var r int
			r, ok = apply(acc, op, b)
			steps = append(steps, Step{A: acc, B: b, R: r, Op: op})
			expr += " " + string(op) + " " + strconv.Itoa(b)
			acc = r
		}
		if !ok {
			continue
		}
		return Problem{Kind: Arithmetic, Expr: expr, Answer: strconv.Itoa(acc), Steps: steps, Difficulty: difficulty,
			Problem: "What is " + expr + "?"}
	}
}

// countdownExpr is a 3-number equation: shape 0 is (x op1 y) op2 z, shape
// 1 is z op2 (x op1 y).
type countdownExpr struct {
	x, y, z  int
	op1, op2 byte
	shape    int
}

func (e countdownExpr) eval() (steps []Step, ok bool) {
	r1, ok := apply(e.x, e.op1, e.y)
	if !ok {
		return nil, false
	}
	a, b := r1, e.z
	if e.shape == 1 {
		a, b = e.z, r1
	}
	r2, ok := apply(a, e.op2, b)
	if !ok {
		return nil, false
	}
	return []Step{{A: e.x, B: e.y, R: r1, Op: e.op1}, {A: a, B: b, R: r2, Op: e.op2}}, true
}

func (e countdownExpr) String() string {
	inner := fmt.Sprintf("%d %c %d", e.x, e.op1, e.y)
	if e.shape == 1 {
		return fmt.Sprintf("%d %c (%s)", e.z, e.op2, inner)
	}
	if prec(e.op1) < prec(e.op2) {
		inner = "(" + inner + ")"
	}
	return fmt.Sprintf("%s %c %d", inner, e.op2, e.z)
}

func randomCountdownExpr(rng *rand.Rand, nums []int) countdownExpr {
	perm := rng.Perm(3)
	return countdownExpr{x: nums[perm[0]], y: nums[perm[1]], z: nums[perm[2]],
		op1: "+-*/"[rng.IntN(4)], op2: "+-*/"[rng.IntN(4)], shape: rng.IntN(2)}
}

// countdown draws a 3-number Countdown problem: numbers up to 10, 25 or 50
// for difficulty 1, 2, 3, and a target in 1..100 reached by an equation of
// two operations.
func countdown(rng *rand.Rand, difficulty int) Problem {
	maxN := [...]int{10, 10, 25, 50}[difficulty]
	for {
		nums := []int{1 + rng.IntN(maxN), 1 + rng.IntN(maxN), 1 + rng.IntN(maxN)}
		e := randomCountdownExpr(rng, nums)
		steps, ok := e.eval()
		if !ok {
			continue
		}
		target := steps[1].R
		if target < 1 || target > 100 {
			continue
		}
		return Problem{Kind: Countdown, Nums: nums, Target: target, Answer: e.String(), Steps: steps,
			Difficulty: difficulty, Problem: CountdownQuestion(nums, target)}
	}
}

// CountdownQuestion is the wording of a Countdown problem used in the
// corpus and in held-out sets.
func CountdownQuestion(nums []int, target int) string {
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = strconv.Itoa(n)
	}
	return "Using the numbers [" + strings.Join(parts, ", ") + "], create an equation that equals " + strconv.Itoa(target) +
		" with + - * / and each number once"
}

// draw makes one problem of kind at difficulty.
func draw(rng *rand.Rand, kind Kind, difficulty int) Problem {
	if kind == Countdown {
		return countdown(rng, difficulty)
	}
	return arithmetic(rng, difficulty)
}

// newRNG derives a generator from a seed and a stream label, so that
// different uses of one seed do not share random numbers.
func newRNG(seed uint64, stream string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// problems draws n distinct problems of kind from the held-out part
// (heldOut) or the training part of the space, cycling difficulty 1..3
// unless difficulty is set.
func problems(kind Kind, n int, seed uint64, difficulty int, heldOut bool) ([]Problem, error) {
	if _, err := ParseKind(string(kind)); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("synthetic %s problems: n must be ≥ 0, got %d", kind, n)
	}
	if difficulty != 0 && (difficulty < MinDifficulty || difficulty > MaxDifficulty) {
		return nil, fmt.Errorf("synthetic %s problems: difficulty must be 0 (mixed) or %d..%d, got %d", kind, MinDifficulty, MaxDifficulty, difficulty)
	}
	stream := "train"
	if heldOut {
		stream = "heldout"
	}
	rng := newRNG(seed, string(kind)+"/"+stream)
	seen := map[string]bool{}
	out := make([]Problem, 0, n)
	levels := []int{difficulty}
	if difficulty == 0 {
		levels = []int{1, 2, 3}
	}
	// The easiest space (two operands up to 20) has only ~80 held-out
	// problems: a level that yields nothing new for a long run of draws
	// counts as used up, and the others fill the rest.
	misses := 0
	for len(out) < n {
		if len(levels) == 0 {
			return out, fmt.Errorf("synthetic %s problems: only %d distinct problems exist of the %d asked for (difficulty %d): %w",
				kind, len(out), n, difficulty, ErrTooFewProblems)
		}
		i := len(out) % len(levels)
		p := draw(rng, kind, levels[i])
		if p.HeldOut() != heldOut || seen[p.Key()] {
			if misses++; misses > 2000 {
				levels = slices.Delete(levels, i, i+1)
				misses = 0
			}
			continue
		}
		misses = 0
		seen[p.Key()] = true
		out = append(out, p)
	}
	return out, nil
}

// SyntheticProblems returns n distinct held-out problems of kind (mixed
// difficulty), deterministic for a seed. They never occur in the
// pretraining corpus or in TrainProblems, for any seed.
func SyntheticProblems(kind Kind, n int, seed uint64) ([]Problem, error) {
	return problems(kind, n, seed, 0, true)
}

// SyntheticProblemsAt is SyntheticProblems at one difficulty (1..3, or 0
// for mixed).
func SyntheticProblemsAt(kind Kind, n int, seed uint64, difficulty int) ([]Problem, error) {
	return problems(kind, n, seed, difficulty, true)
}

// TrainProblems returns n distinct problems from the training part of the
// space (e.g. RL prompts), deterministic for a seed; difficulty 0 mixes.
func TrainProblems(kind Kind, n int, seed uint64, difficulty int) ([]Problem, error) {
	return problems(kind, n, seed, difficulty, false)
}

// R1ZeroPrompt is the problem in the R1-Zero template (chat.R1Zero), as the
// corpus renders it.
func (p Problem) R1ZeroPrompt() string { return chat.R1Zero(p.Problem) }
