package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/r1go/r1/chat"
)

// CorpusConfig describes the synthetic pretraining corpus: worked solutions
// to training-part problems in varied wording and layouts, as web text has
// them. A fraction is rendered in the R1-Zero conversation format with
// <think>/<answer> tags, the rest as forum posts, GSM8K-style "#### n"
// solutions, LaTeX \boxed{n} answers and bare text; some solutions are
// wrong, so a model trained on it is sometimes right and sometimes in
// format — what R1-Zero reinforcement learning needs to improve on.
type CorpusConfig struct {
	// Seed fixes the corpus: document i is a function of (Seed, i).
	Seed uint64 `yaml:"seed"`
	// CountdownFrac is the fraction of Countdown documents (the rest are
	// arithmetic).
	CountdownFrac float64 `yaml:"countdown_frac"`
	// WrongFrac is the fraction of documents whose worked solution has an
	// arithmetic slip and so a wrong final answer.
	WrongFrac float64 `yaml:"wrong_frac"`
	// R1ZeroFrac is the fraction of documents that start with the R1-Zero
	// prompt (chat.R1Zero). Of those, R1ZeroTaggedFrac answer in the full
	// <think> … </think> <answer> … </answer> format; the rest answer in
	// plain text or with the think block only.
	R1ZeroFrac       float64 `yaml:"r1zero_frac"`
	R1ZeroTaggedFrac float64 `yaml:"r1zero_tagged_frac"`
	// Difficulty is 1..3, or 0 to mix all three.
	Difficulty int `yaml:"difficulty"`
	// ColumnFrac is the fraction of arithmetic solutions worked digit by
	// digit, as a careful writer does on paper: each sum or difference is
	// computed column by column with carries and borrows ("3 + 9 = 12,
	// write 2, carry 1. 7 + 4 + 1 = 12."), then assembled. Such solutions
	// are long but need only the one-digit tables, which a tiny model learns
	// well, while stating "73 + 49 = 122" at once needs a carry look-ahead
	// it learns badly. A base model trained on a minority of them therefore
	// has a slow, reliable mode it rarely chooses: R1-Zero reinforcement
	// learning finds it, and accuracy and response length grow together as
	// in the DeepSeek-R1 paper. Column solutions are never slipped.
	ColumnFrac float64 `yaml:"column_frac"`
	// CheckFrac is the fraction of column solutions that end by restating
	// their steps ("Let me check: 73 + 49 = 122 and …"). The restatement
	// checks nothing, so R1-Zero learns to drop it (the built-in model's
	// reflection rate falls from 3.5% to 0%).
	CheckFrac float64 `yaml:"check_frac"`
	// ReflectFrac is the fraction of arithmetic solutions that state the
	// results at once, then reflect ("Wait, let me check that digit by
	// digit.") and redo every step by columns, correcting the first attempt
	// when it was wrong (half of these first attempts have a slip). It is
	// the "aha" the R1 paper saw: a base model that has read such texts can
	// be taught by reward alone to re-check its work, and r1 zero's
	// reflection metric counts it.
	ReflectFrac float64 `yaml:"reflect_frac"`
}

// DefaultCorpus is the mix used for the tiny base model.
func DefaultCorpus(seed uint64) CorpusConfig {
	return CorpusConfig{Seed: seed, CountdownFrac: 0.25, WrongFrac: 0.1, R1ZeroFrac: 0.25, R1ZeroTaggedFrac: 0.75,
		ColumnFrac: 0.25, CheckFrac: 0.3}
}

// Validate checks the fractions and the difficulty.
func (c CorpusConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"countdown_frac", c.CountdownFrac}, {"wrong_frac", c.WrongFrac}, {"r1zero_frac", c.R1ZeroFrac},
		{"r1zero_tagged_frac", c.R1ZeroTaggedFrac}, {"column_frac + reflect_frac", c.ColumnFrac + c.ReflectFrac}, {"column_frac", c.ColumnFrac}, {"check_frac", c.CheckFrac}, {"reflect_frac", c.ReflectFrac}} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("corpus: %s must be in [0,1], got %g", f.name, f.v)
		}
	}
	if c.Difficulty != 0 && (c.Difficulty < MinDifficulty || c.Difficulty > MaxDifficulty) {
		return fmt.Errorf("corpus: difficulty must be 0 (mixed) or %d..%d, got %d", MinDifficulty, MaxDifficulty, c.Difficulty)
	}
	return nil
}

// Docs yields documents start, start+1, … start+n−1 (n < 0: for ever).
func (c CorpusConfig) Docs(start, n int64) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := start; n < 0 || i < start+n; i++ {
			if !yield(c.Doc(i)) {
				return
			}
		}
	}
}

// Doc renders document i. It draws only training-part problems.
func (c CorpusConfig) Doc(i int64) string {
	text, _, _ := c.doc(i)
	return text
}

// doc renders document i and also returns its problem and whether the
// solution was made wrong on purpose.
func (c CorpusConfig) doc(i int64) (string, Problem, bool) {
	rng := rand.New(rand.NewPCG(c.Seed^0x5eed_c0de, uint64(i)))
	kind := Arithmetic
	if rng.Float64() < c.CountdownFrac {
		kind = Countdown
	}
	var p Problem
	for {
		d := c.Difficulty
		if d == 0 {
			d = MinDifficulty + rng.IntN(MaxDifficulty)
		}
		if p = draw(rng, kind, d); !p.HeldOut() {
			break
		}
	}
	wrong := rng.Float64() < c.WrongFrac
	var reasoning, answer string
	switch {
	case kind == Countdown:
		reasoning, answer, wrong = countdownSolution(rng, p, wrong)
	case c.ColumnFrac+c.ReflectFrac > 0 && rng.Float64() < c.ColumnFrac+c.ReflectFrac:
		// With ReflectFrac 0 this draws exactly what the corpus of the
		// built-in model drew, so `r1 pretrain` still reproduces it.
		if c.ReflectFrac > 0 && rng.Float64()*(c.ColumnFrac+c.ReflectFrac) >= c.ColumnFrac {
			reasoning, answer = reflectSolution(rng, p, rng.IntN(2) == 0)
		} else {
			reasoning, answer = columnSolution(rng, p, c.CheckFrac > 0 && rng.Float64() < c.CheckFrac)
		}
		wrong = false
	default:
		reasoning, answer = arithmeticSolution(rng, p, wrong)
	}
	question := p.Problem
	if kind == Arithmetic {
		question = pick(rng, arithmeticQuestions...)
		question = strings.ReplaceAll(question, "{e}", p.Expr)
	}
	return render(rng, c, question, reasoning, answer), p, wrong
}

var arithmeticQuestions = []string{
	"What is {e}?", "What is {e}?", "Compute {e}.", "Calculate {e}.", "Find the value of {e}.",
	"Evaluate {e}.", "What does {e} equal?", "{e} = ?",
}

func pick(rng *rand.Rand, xs ...string) string { return xs[rng.IntN(len(xs))] }

// render lays out one document. The R1-Zero layouts use chat.R1Zero's
// exact prompt, so the model meets it at R1-Zero time as it saw it here.
func render(rng *rand.Rand, c CorpusConfig, q, reasoning, answer string) string {
	if rng.Float64() < c.R1ZeroFrac {
		prompt := chat.R1Zero(q)
		if rng.Float64() < c.R1ZeroTaggedFrac {
			return prompt + " <think> " + reasoning + " </think> <answer> " + answer + " </answer>"
		}
		if rng.IntN(2) == 0 {
			return prompt + " <think> " + reasoning + " </think> " + finalPhrase(rng, answer)
		}
		return prompt + " " + reasoning + " " + finalPhrase(rng, answer)
	}
	switch rng.IntN(6) {
	case 0:
		return "Question: " + q + "\nAnswer: " + reasoning + " " + finalPhrase(rng, answer)
	case 1:
		return q + "\n" + reasoning + "\n#### " + answer
	case 2:
		return "Problem: " + q + "\nSolution: " + reasoning + " Therefore the answer is $\\boxed{" + answer + "}$."
	case 3:
		return "User: " + q + "\nAssistant: <think> " + reasoning + " </think> <answer> " + answer + " </answer>"
	case 4:
		return "Q: " + q + "\nA: " + answer + "\n\n" + reasoning
	default:
		return q + " " + reasoning + " " + finalPhrase(rng, answer)
	}
}

func finalPhrase(rng *rand.Rand, answer string) string {
	return strings.ReplaceAll(pick(rng, "The answer is {a}.", "So the answer is {a}.", "Answer: {a}", "The final answer is {a}."), "{a}", answer)
}

// stepText phrases one step A op B = R in words.
func stepText(rng *rand.Rand, s Step) string {
	a, b, r := strconv.Itoa(s.A), strconv.Itoa(s.B), strconv.Itoa(s.R)
	var forms []string
	switch s.Op {
	case '+':
		forms = []string{"adding {a} and {b} gives {r}", "{a} plus {b} equals {r}", "{a} + {b} is {r}"}
	case '-':
		forms = []string{"subtracting {b} from {a} gives {r}", "{a} minus {b} equals {r}", "{a} - {b} is {r}"}
	case '*':
		forms = []string{"multiplying {a} by {b} gives {r}", "{a} times {b} is {r}", "{a} * {b} is {r}"}
	case '/':
		forms = []string{"dividing {a} by {b} gives {r}", "{a} divided by {b} is {r}", "{a} / {b} is {r}"}
	}
	// The bare equation is the most common form, as in most worked
	// solutions.
	f := "{a} " + string(s.Op) + " {b} = {r}"
	if rng.IntN(2) == 0 {
		f = pick(rng, forms...)
	}
	return strings.NewReplacer("{a}", a, "{b}", b, "{r}", r).Replace(f)
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// chain joins steps into sentences with varied connectives.
func chain(rng *rand.Rand, steps []Step) string {
	var b strings.Builder
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(' ')
		}
		lead := ""
		if i == 0 {
			lead = pick(rng, "", "", "First, ", "To begin, ")
		} else {
			lead = pick(rng, "", "Then ", "Next, ", "Now ")
		}
		b.WriteString(capitalize(lead + stepText(rng, s)))
		b.WriteByte('.')
	}
	return b.String()
}

// slip returns r changed by a small nonzero amount, kept ≥ 0.
func slip(rng *rand.Rand, r int) int {
	d := 1 + rng.IntN(10)
	if r-d >= 0 && rng.IntN(2) == 0 {
		return r - d
	}
	return r + d
}

// arithmeticSolution renders the worked steps and the final answer; a wrong
// solution slips on one step and carries the error forward.
func arithmeticSolution(rng *rand.Rand, p Problem, wrong bool) (string, string) {
	steps := append([]Step(nil), p.Steps...)
	if wrong {
		k := rng.IntN(len(steps))
		steps[k].R = slip(rng, steps[k].R)
		for j := k + 1; j < len(steps); j++ {
			steps[j].A = steps[j-1].R
			r, ok := apply(steps[j].A, steps[j].Op, steps[j].B)
			if !ok {
				r = steps[j].A + steps[j].B // a careless writer, not a rule
				steps[j].Op = '+'
			}
			steps[j].R = r
		}
	}
	if rng.IntN(20) == 0 {
		// Some posts give no working at all.
		return pick(rng, "This is a quick one.", "Easy.", "Let me think."), strconv.Itoa(steps[len(steps)-1].R)
	}
	return chain(rng, steps), strconv.Itoa(steps[len(steps)-1].R)
}

// countdownSolution renders a search: up to two failed tries, then the
// equation that reaches the target. A wrong solution claims a failed try
// works (a slip in its last step); slipped reports whether it did (a few
// problems, such as [1, 1, 1], have no failing equation to slip on).
func countdownSolution(rng *rand.Rand, p Problem, wrong bool) (reasoning, answer string, slipped bool) {
	var parts []string
	parts = append(parts, pick(rng, "We need to reach "+strconv.Itoa(p.Target)+".", "Let me try some combinations.",
		"Target "+strconv.Itoa(p.Target)+".", ""))
	tries := rng.IntN(3)
	var lastFail *countdownExpr
	for t := 0; t < tries; t++ {
		e := randomCountdownExpr(rng, p.Nums)
		steps, ok := e.eval()
		if !ok || steps[1].R == p.Target {
			continue
		}
		parts = append(parts, capitalize(pick(rng, "Try ", "What about ", "")+tryText(rng, steps))+" "+
			pick(rng, "That is not "+strconv.Itoa(p.Target)+".", "No.", "Too far.", "Not quite.", "That gives "+strconv.Itoa(steps[1].R)+", wrong."))
		lastFail = &e
	}
	for t := 0; wrong && lastFail == nil && t < 100; t++ {
		e := randomCountdownExpr(rng, p.Nums)
		if steps, ok := e.eval(); ok && steps[1].R != p.Target {
			lastFail = &e
		}
	}
	if wrong && lastFail != nil {
		steps, _ := lastFail.eval()
		steps[1].R = p.Target // the slip: a wrong result that happens to match
		parts = append(parts, capitalize(pick(rng, "Try ", "")+tryText(rng, steps))+" "+pick(rng, "That works.", "Yes!", "Got it."))
		return joinNonEmpty(parts), lastFail.String(), true
	}
	parts = append(parts, capitalize(pick(rng, "Try ", "What about ", "")+tryText(rng, p.Steps))+" "+pick(rng, "That works.", "Yes!", "Got it.", "This equals the target."))
	return joinNonEmpty(parts), p.Answer, false
}

func tryText(rng *rand.Rand, steps []Step) string {
	s := stepText(rng, steps[0]) + pick(rng, ", then ", ", and ", ". ") + stepText(rng, steps[1]) + "."
	return s
}

func joinNonEmpty(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
