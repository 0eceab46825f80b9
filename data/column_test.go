package data

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestColumnWork(t *testing.T) {
	for _, tc := range []struct {
		a, b int
		op   byte
		want string
	}{
		{73, 49, '+', "3 + 9 = 12, write 2, carry 1. 7 + 4 + 1 = 12."},
		{73, 9, '+', "3 + 9 = 12, write 2, carry 1. 7 + 1 = 8."},
		{5, 4, '+', "5 + 4 = 9."},
		{73, 5, '+', "3 + 5 = 8. bring down 7."},
		{95, 7, '+', "5 + 7 = 12, write 2, carry 1. 9 + 1 = 10."},
		{73, 49, '-', "13 - 9 = 4, borrow 1. 7 - 1 - 4 = 2."},
		{100, 98, '-', "10 - 8 = 2, borrow 1. 10 - 1 - 9 = 0, borrow 1. 1 - 1 = 0."},
		{58, 3, '-', "8 - 3 = 5. bring down 5."},
	} {
		var got string
		if tc.op == '+' {
			got = columnAdd(tc.a, tc.b)
		} else {
			got = columnSub(tc.a, tc.b)
		}
		if got != tc.want {
			t.Errorf("%d %c %d: got %q, want %q", tc.a, tc.op, tc.b, got, tc.want)
		}
	}
}

// replayColumns checks every "a + b + c = r" line of a solution.
func replayColumns(t *testing.T, expr, text string) {
	t.Helper()
	for _, m := range colRE.FindAllStringSubmatch(text, -1) {
		f := strings.Fields(m[1])
		v, _ := strconv.Atoi(f[0])
		for j := 1; j < len(f); j += 2 {
			x, _ := strconv.Atoi(f[j+1])
			if f[j] == "+" {
				v += x
			} else {
				v -= x
			}
		}
		if strconv.Itoa(v) != m[2] {
			t.Fatalf("%s: line %q is wrong in %q", expr, m[0], text)
		}
	}
}

var colRE = regexp.MustCompile(`(\d+(?: [+-] \d+)+) = (\d+)`)

// Every column solution is right: replaying its lines reproduces each
// step's result, and the stated answer is the problem's.
func TestColumnSolutionsCorrect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		p := arithmetic(rng, 1+i%3)
		text, answer := columnSolution(rng, p, i%2 == 0)
		if answer != p.Answer {
			t.Fatalf("%s: answer %s, want %s", p.Expr, answer, p.Answer)
		}
		replayColumns(t, p.Expr, text)
		if !strings.HasSuffix(text, ".") || (i%2 == 0) != strings.Contains(text, "check") {
			t.Fatalf("%s: malformed solution %q", p.Expr, text)
		}
	}
}

// A reflective solution ends on the right answer whatever its first
// attempt said, its re-check is correct, and it names the corrected
// answer exactly when the first attempt slipped.
func TestReflectSolutions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	corrected := 0
	for i := 0; i < 2000; i++ {
		p := arithmetic(rng, 1+i%3)
		text, answer := reflectSolution(rng, p, i%2 == 0)
		if answer != p.Answer {
			t.Fatalf("%s: answer %s, want %s", p.Expr, answer, p.Answer)
		}
		k := strings.Index(text, "digit by digit.")
		if k < 0 {
			k = strings.Index(text, "each step")
		}
		if k < 0 {
			t.Fatalf("%s: no reflection in %q", p.Expr, text)
		}
		first, check := text[:k], text[k:]
		replayColumns(t, p.Expr, check)
		wrongFirst := !strings.Contains(first, "= "+p.Answer+".") && !strings.Contains(first, " "+p.Answer+".")
		if strings.Contains(check, ", not ") || strings.Contains(check, "mistake") {
			corrected++
			if i%2 != 0 {
				t.Fatalf("%s: correction without a slip: %q", p.Expr, text)
			}
		} else if i%2 == 0 && wrongFirst {
			t.Fatalf("%s: slipped first attempt not corrected: %q", p.Expr, text)
		}
	}
	if corrected < 800 {
		t.Errorf("%d of 1000 slipped attempts corrected, want nearly all", corrected)
	}
}

// The corpus holds column and reflective solutions at the configured
// rates, and every one of them ends on the right answer.
func TestCorpusColumnAndReflectMix(t *testing.T) {
	c := CorpusConfig{Seed: 9, R1ZeroFrac: 1, R1ZeroTaggedFrac: 1, WrongFrac: 0.3, ColumnFrac: 0.2, ReflectFrac: 0.15}
	const n = 4000
	var column, reflect, arith int
	for i := int64(0); i < n; i++ {
		text, p, wrong := c.doc(i)
		if p.Kind != Arithmetic {
			continue
		}
		arith++
		isReflect := strings.Contains(text, "digit by digit.") || strings.Contains(text, "each step")
		isColumn := !isReflect && colStepRE.MatchString(text)
		if isReflect {
			reflect++
		}
		if isColumn {
			column++
		}
		if isReflect || isColumn {
			completion := text[strings.LastIndex(text, "Assistant:")+len("Assistant:"):]
			if format, correct := grade(t, p, completion); wrong || !format || !correct {
				t.Fatalf("doc %d: wrong=%v format=%v correct=%v: %q", i, wrong, format, correct, completion)
			}
		}
	}
	for _, r := range []struct {
		name      string
		got, want float64
	}{{"column", float64(column) / float64(arith), 0.2}, {"reflect", float64(reflect) / float64(arith), 0.15}} {
		if r.got < r.want-0.03 || r.got > r.want+0.03 {
			t.Errorf("%s solutions are %.3f of arithmetic docs, want %.2f", r.name, r.got, r.want)
		}
	}
}

var colStepRE = regexp.MustCompile(`\d+ [+-] \d+: `)
