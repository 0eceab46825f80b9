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

// Every column solution is right: replaying its column lines reproduces
// each step's result, and the stated answer grades correct.
func TestColumnSolutionsCorrect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	colRE := regexp.MustCompile(`(\d+(?: [+-] \d+)+) = (\d+)`)
	for i := 0; i < 3000; i++ {
		p := arithmetic(rng, 1+i%3)
		text, answer := columnSolution(rng, p, i%2 == 0)
		if answer != p.Answer {
			t.Fatalf("%s: answer %s, want %s", p.Expr, answer, p.Answer)
		}
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
				t.Fatalf("%s: line %q is wrong in %q", p.Expr, m[0], text)
			}
		}
		if !strings.HasSuffix(text, ".") || (i%2 == 0) != strings.Contains(text, "check") {
			t.Fatalf("%s: malformed solution %q", p.Expr, text)
		}
	}
}
