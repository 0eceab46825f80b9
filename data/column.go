package data

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// columnSolution works every step of an arithmetic problem digit by digit
// (see CorpusConfig.ColumnFrac); check appends a restatement of the steps
// (CorpusConfig.CheckFrac). Products (difficulty 3's small leading product,
// both factors at most 12) are times-table facts and are stated at once.
func columnSolution(rng *rand.Rand, p Problem, check bool) (string, string) {
	parts := make([]string, 0, len(p.Steps)+1)
	for i, s := range p.Steps {
		lead := ""
		if i > 0 {
			lead = pick(rng, "", "Then ", "Next, ", "Now ")
		}
		var work string
		switch s.Op {
		case '+':
			work = columnAdd(s.A, s.B)
		case '-':
			work = columnSub(s.A, s.B)
		}
		if work == "" {
			parts = append(parts, capitalize(lead+s.String())+".")
			continue
		}
		parts = append(parts, capitalize(lead+strconv.Itoa(s.A)+" "+string(s.Op)+" "+strconv.Itoa(s.B)+": ")+work+
			" So "+s.String()+".")
	}
	answer := strconv.Itoa(p.Steps[len(p.Steps)-1].R)
	if check {
		restated := make([]string, len(p.Steps))
		for i, s := range p.Steps {
			restated[i] = s.String()
		}
		parts = append(parts, pick(rng, "Wait, let me check: ", "Let me check: ", "Let me double check: ")+
			strings.Join(restated, " and ")+". "+pick(rng, "Yes, it is "+answer+".", "Correct.", "That is right."))
	}
	return strings.Join(parts, " "), answer
}

// reflectSolution states the steps at once (with a slip when slipped),
// then re-checks them digit by digit and ends on the right answer,
// saying so when the first attempt was wrong (see
// CorpusConfig.ReflectFrac).
func reflectSolution(rng *rand.Rand, p Problem, slipped bool) (string, string) {
	first, firstAnswer := arithmeticSolution(rng, p, slipped)
	for !strings.Contains(first, firstAnswer) {
		// A first attempt with no working states nothing to correct.
		first, firstAnswer = arithmeticSolution(rng, p, slipped)
	}
	work, answer := columnSolution(rng, p, false)
	verdict := pick(rng, "So "+answer+" is right.", "Yes, the answer is "+answer+".", "Good, "+answer+".")
	if firstAnswer != answer {
		verdict = pick(rng, "So the answer is "+answer+", not "+firstAnswer+".", "I made a mistake before: the answer is "+answer+".")
	}
	return first + " " + pick(rng, "Wait, let me check that digit by digit.", "Wait, let me check each step carefully.",
		"Hmm, let me verify digit by digit.", "Wait, let me re-evaluate each step.") + " " + work + " " + verdict, answer
}

// digits returns n's decimal digits, least significant first.
func digits(n int) []int {
	if n == 0 {
		return []int{0}
	}
	var d []int
	for ; n > 0; n /= 10 {
		d = append(d, n%10)
	}
	return d
}

// columnAdd writes a + b column by column from the units:
// "3 + 9 = 12, write 2, carry 1. 7 + 4 + 1 = 12." The last column's sum
// is written whole; the result is that sum followed by the written digits.
func columnAdd(a, b int) string {
	da, db := digits(a), digits(b)
	n := max(len(da), len(db))
	var cols []string
	carry := 0
	for i := 0; i < n; i++ {
		var terms []string
		sum := carry
		if i < len(da) {
			terms = append(terms, strconv.Itoa(da[i]))
			sum += da[i]
		}
		if i < len(db) {
			terms = append(terms, strconv.Itoa(db[i]))
			sum += db[i]
		}
		if carry > 0 {
			terms = append(terms, "1")
		}
		col := strings.Join(terms, " + ") + " = " + strconv.Itoa(sum)
		if len(terms) == 1 {
			col = "bring down " + terms[0]
		}
		carry = 0
		if i < n-1 && sum >= 10 {
			col += ", write " + strconv.Itoa(sum%10) + ", carry 1"
			carry = 1
		}
		cols = append(cols, col+".")
	}
	return strings.Join(cols, " ")
}

// columnSub writes a − b (a ≥ b) column by column from the units with
// borrows: "13 - 9 = 4, borrow 1. 7 - 1 - 4 = 2."
func columnSub(a, b int) string {
	if a < b {
		return ""
	}
	da, db := digits(a), digits(b)
	var cols []string
	borrow := 0
	for i := range da {
		top := da[i]
		bi := 0
		if i < len(db) {
			bi = db[i]
		}
		next := 0
		if top-borrow < bi {
			next, top = 1, top+10
		}
		expr := strconv.Itoa(top)
		if borrow > 0 {
			expr += " - 1"
		}
		if i < len(db) {
			expr += " - " + strconv.Itoa(bi)
		}
		col := expr + " = " + strconv.Itoa(top-borrow-bi)
		if borrow == 0 && i >= len(db) {
			col = "bring down " + expr
		}
		if next > 0 {
			col += ", borrow 1"
		}
		cols = append(cols, col+".")
		borrow = next
	}
	return strings.Join(cols, " ")
}
