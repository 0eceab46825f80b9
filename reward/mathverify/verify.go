// Package mathverify decides whether a model's math answer equals a gold
// answer: it extracts the final answer from a completion (last \boxed{},
// <answer> tags, "the answer is", GSM8K "#### n", last number), parses
// LaTeX or plain math into an expression tree, and compares structurally,
// exactly with rationals, numerically, and symbolically by evaluating both
// sides at random points. It also handles tuples, sets, intervals, matrices,
// equations, inequalities, percentages, units and multiple-choice letters.
// It registers the "math" reward.
//
// Choices that follow Hugging Face's Math-Verify (whose public test cases
// are in testdata/): answers are compared exactly as rationals unless one
// side is a decimal or irrational, then with a relative tolerance of 1e-6;
// bare lists and sets are unordered, tuples ordered; "x = 5" answers 5 when
// its left side names a quantity, and a predicted chain "a = b = 5" answers
// 5; a gold inequality accepts the equivalent interval but a gold interval
// does not accept a predicted inequality; \text{13} is text, not 13.
//
// Every entry point is bounded: it never panics and gives up (returning
// false) when its context is done or its work budget is spent.
package mathverify

import (
	"context"
	"strings"
)

// Verify reports whether prediction (a whole completion or a bare answer)
// answers gold. gold is read leniently: a bare answer, LaTeX with or without
// $...$, or a solution text containing \boxed{} or "#### n". A context
// without a deadline gets DefaultTimeout.
func Verify(ctx context.Context, gold, prediction string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	g, gok := goldAnswer(gold)
	p, pok := ExtractAnswer(prediction)
	if !gok || !pok {
		return false
	}
	return Equal(ctx, g, p)
}

// goldAnswer takes a dataset answer as is when it parses, else extracts.
func goldAnswer(gold string) (string, bool) {
	t := strings.TrimSpace(gold)
	if t == "" {
		return "", false
	}
	if plainNumberRe.MatchString(t) {
		return cleanNumber(t), true
	}
	if !strings.Contains(t, `\boxed`) && !strings.Contains(t, "####") && !strings.Contains(t, "<answer>") {
		s := stripDelimiters(t)
		if !strings.Contains(s, "$") && looksLikeAnswer(s) {
			return s, true
		}
	}
	if a, ok := ExtractAnswer(t); ok {
		return a, true
	}
	// A gold that is plain words ("no solution") is compared as text.
	return stripDelimiters(t), true
}

// ExtractAnswer finds the final answer in a completion. The result is the
// answer text (LaTeX or plain), ready for Equal or Key.
func ExtractAnswer(completion string) (ans string, ok bool) {
	defer func() {
		if recover() != nil {
			ans, ok = "", false
		}
	}()
	a, ok := extract(completion)
	a = strings.TrimSpace(a)
	return a, ok && a != ""
}

// Equal reports whether two already-extracted answers are equivalent. A
// context without a deadline gets DefaultTimeout.
func Equal(ctx context.Context, gold, pred string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if ctx == nil {
		ctx = context.Background()
	}
	if _, has := ctx.Deadline(); !has {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if ctx.Err() != nil {
		return false
	}
	g, err1 := parse(gold)
	p, err2 := parse(pred)
	if err1 != nil || err2 != nil {
		a, b := textKey(gold), textKey(pred)
		return a != "" && a == b
	}
	c := &comparer{ctx: ctx}
	return c.equalNodes(g, p)
}

// textKey normalises an unparseable answer for plain comparison.
func textKey(s string) string {
	s = stripDelimiters(s)
	for _, cmd := range []string{`\text`, `\textbf`, `\mathrm`, `\mbox`, `\left`, `\right`} {
		s = strings.ReplaceAll(s, cmd, "")
	}
	return normText(s)
}

// Key returns a normal form of an extracted answer for grouping (majority
// vote): answers with equal keys are equal. Equal answers usually, but not
// always, share a key (e.g. 1/2 and 0.5 do; x+1 and 1+x do; sin^2+cos^2 and
// 1 do not), so callers should merge groups with Equal afterwards.
func Key(answer string) (key string) {
	defer func() {
		if recover() != nil {
			key = "t:" + textKey(answer)
		}
	}()
	n, err := parse(answer)
	if err != nil {
		return "t:" + textKey(answer)
	}
	n = normTop(n)
	if n.isScalar() {
		if r, err := evalRat(n); err == nil {
			return "q:" + r.RatString()
		}
	}
	return "s:" + n.String()
}

// Cluster groups answers by equivalence for majority voting: it returns a
// cluster id per answer (ids are 0..k-1, numbered by first appearance;
// empty or unparseable-and-unequal answers get their own clusters). Answers
// are first grouped by Key, then the groups' representatives are merged
// pairwise with Equal, so the Equal calls grow with the number of distinct
// keys, not of answers.
func Cluster(ctx context.Context, answers []string) []int {
	ids := make([]int, len(answers))
	type group struct {
		rep     string
		members []int
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, a := range answers {
		k := Key(a)
		g, ok := byKey[k]
		if !ok {
			g = &group{rep: a}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
	}
	parent := make([]int, len(groups))
	for i := range parent {
		parent[i] = i
	}
	for i := range groups {
		if parent[i] != i {
			continue
		}
		for j := i + 1; j < len(groups); j++ {
			if parent[j] == j && Equal(ctx, groups[i].rep, groups[j].rep) {
				parent[j] = i
			}
		}
	}
	next := 0
	clusterOf := make([]int, len(groups))
	for i := range groups {
		if parent[i] == i {
			clusterOf[i] = next
			next++
		}
	}
	for i, g := range groups {
		for _, m := range g.members {
			ids[m] = clusterOf[parent[i]]
		}
	}
	return ids
}
