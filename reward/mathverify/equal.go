package mathverify

import (
	"context"
	"math"
	"math/big"
	"math/cmplx"
	"sort"
	"strings"
)

// relTol is the relative tolerance for answers that are not exact
// rationals (decimals, radicals, transcendental constants).
const relTol = 1e-6

// maxVariants bounds the expansion of ± into alternatives.
const maxVariants = 16

// comparer carries the deadline through a recursive comparison.
type comparer struct {
	ctx   context.Context
	steps int
}

func (c *comparer) expired() bool {
	c.steps++
	if c.steps&63 == 0 && c.ctx.Err() != nil {
		return true
	}
	return c.steps > 200000
}

// equalNodes compares two parsed answers.
func (c *comparer) equalNodes(g, p *node) bool {
	if c.expired() {
		return false
	}
	g, p = normTop(g), normTop(p)
	if g.String() == p.String() {
		return true
	}
	// Percent answers: "28\%" matches 28 and 0.28.
	if g.kind == kPct || p.kind == kPct {
		gs, ps := stripPct(g), stripPct(p)
		if c.eq(gs, ps) {
			return true
		}
	}
	return c.eq(g, p)
}

func stripPct(n *node) *node {
	if n.kind == kPct {
		return n.kids[0]
	}
	return n
}

// normTop expands ± into alternatives and unwraps "x \in S" to S.
func normTop(n *node) *node {
	if n.kind == kRel && len(n.ops) == 1 && n.ops[0] == "in" {
		return n.kids[1]
	}
	if n.kind == kList && len(n.kids) == 1 {
		return n.kids[0]
	}
	if (n.kind == kAdd || n.kind == kMul || n.kind == kNeg) && n.contains(func(m *node) bool { return m.kind == kMatrix }) {
		if m, ok := matArith(n); ok {
			return m
		}
	}
	if n.isScalarOrRel() && n.contains(func(m *node) bool { return m.kind == kPM }) {
		vs := variants(n)
		if len(vs) > 1 {
			return &node{kind: kList, kids: vs}
		}
		return vs[0]
	}
	return n
}

func (n *node) isScalarOrRel() bool {
	if n.kind == kRel {
		for _, k := range n.kids {
			if !k.isScalarOrPM() {
				return false
			}
		}
		return true
	}
	return n.isScalarOrPM()
}

func (n *node) isScalarOrPM() bool {
	switch n.kind {
	case kTuple, kSet, kList, kInterval, kUnion, kInter, kRel, kMatrix, kText, kRatio:
		return false
	}
	for _, k := range n.kids {
		if !k.isScalarOrPM() {
			return false
		}
	}
	return true
}

// variants returns the ways to read the ± signs in n.
func variants(n *node) []*node {
	if !n.contains(func(m *node) bool { return m.kind == kPM }) {
		return []*node{n}
	}
	kidVars := make([][]*node, len(n.kids))
	total := 1
	for i, k := range n.kids {
		kidVars[i] = variants(k)
		total *= len(kidVars[i])
		if total > maxVariants {
			return []*node{n}
		}
	}
	var out []*node
	idx := make([]int, len(n.kids))
	for {
		kids := make([]*node, len(n.kids))
		for i := range kids {
			kids[i] = kidVars[i][idx[i]]
		}
		if n.kind == kPM {
			if len(kids) == 1 {
				out = append(out, kids[0], op(kNeg, kids[0]))
			} else {
				out = append(out, op(kAdd, kids[0], kids[1]), op(kAdd, kids[0], op(kNeg, kids[1])))
			}
		} else {
			cp := *n
			cp.kids = kids
			out = append(out, &cp)
		}
		i := 0
		for ; i < len(idx); i++ {
			idx[i]++
			if idx[i] < len(kidVars[i]) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) || len(out) > maxVariants {
			break
		}
	}
	return out
}

func isCollection(k kind) bool {
	switch k {
	case kList, kSet, kTuple, kInterval, kUnion, kInter, kMatrix:
		return true
	}
	return false
}

// eq is the recursive equivalence test.
func (c *comparer) eq(g, p *node) bool {
	if c.expired() {
		return false
	}
	g, p = normTop(g), normTop(p)
	if g.String() == p.String() {
		return true
	}
	if g.kind == kRel || p.kind == kRel {
		return c.eqRel(g, p)
	}
	gc, pc := isCollection(g.kind), isCollection(p.kind)
	if gc || pc {
		return c.eqCollection(g, p)
	}
	if g.kind == kText || p.kind == kText {
		return textOf(g) != "" && textOf(g) == textOf(p)
	}
	if g.kind == kRatio || p.kind == kRatio {
		if g.kind != p.kind || len(g.kids) != len(p.kids) {
			return false
		}
		for i := range g.kids {
			if !c.eq(g.kids[i], p.kids[i]) {
				return false
			}
		}
		return true
	}
	return c.eqScalar(g, p)
}

// textOf renders a node as a plain word when it is one (\text{Even}, Even,
// E), so text answers compare case-insensitively.
func textOf(n *node) string {
	switch n.kind {
	case kText:
		return n.name
	case kSym:
		if len(n.name) <= 2 || isWord(n.name) {
			return strings.ToLower(n.name)
		}
	case kMul:
		var b strings.Builder
		for _, k := range n.kids {
			switch {
			case k.kind == kSym && len(k.name) == 1:
				b.WriteString(strings.ToLower(k.name))
			case k.kind == kMul:
				w := textOf(k)
				if w == "" {
					return ""
				}
				b.WriteString(w)
			default:
				return ""
			}
		}
		return b.String()
	}
	return ""
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return true
}

func (c *comparer) eqCollection(g, p *node) bool {
	gItems, pItems := items(g), items(p)
	// A one-element collection equals its element ({5} vs 5).
	if !isCollection(g.kind) || !isCollection(p.kind) {
		if !isCollection(g.kind) && len(pItems) == 1 && p.kind != kInterval {
			return c.eq(g, pItems[0])
		}
		if !isCollection(p.kind) && len(gItems) == 1 && g.kind != kInterval {
			return c.eq(gItems[0], p)
		}
		// "\boxed{15\frac{39}{40}}, or \boxed{\frac{639}{40}}": the same
		// answer written twice.
		if list, one := g, p; list.kind == kList || p.kind == kList {
			if p.kind == kList {
				list, one = p, g
			}
			for _, it := range items(list) {
				if !c.eq(it, one) {
					return false
				}
			}
			return true
		}
		return false
	}
	switch {
	case g.kind == kMatrix || p.kind == kMatrix:
		if g.kind == kMatrix && p.kind == kMatrix && (g.rows != p.rows || g.cols != p.cols) {
			return false
		}
		return c.ordered(gItems, pItems)
	case g.kind == kInterval && p.kind == kInterval:
		return g.name == p.name && c.ordered(gItems, pItems)
	case g.kind == kInterval || p.kind == kInterval:
		// (a, b) written as a pair is also the open interval (a, b).
		iv, other := g, p
		if p.kind == kInterval {
			iv, other = p, g
		}
		if other.kind == kTuple && iv.name == "()" {
			return c.ordered(gItems, pItems)
		}
		if other.kind == kUnion && len(other.kids) == 1 {
			return c.eq(iv, other.kids[0])
		}
		return false
	case g.kind == kUnion || p.kind == kUnion || g.kind == kInter || p.kind == kInter:
		if g.kind != p.kind {
			return false
		}
		return c.unordered(gItems, pItems)
	case g.kind == kTuple && p.kind == kTuple:
		return c.ordered(gItems, pItems)
	case g.kind == kTuple || p.kind == kTuple:
		// A tuple against a set or list: same elements in the same order.
		return c.ordered(gItems, pItems)
	}
	return c.unordered(gItems, pItems)
}

// items lists a collection's elements, flattening nested bare lists and ±
// alternatives (so "1 \pm \sqrt 5, -2" has three elements).
func items(n *node) []*node {
	switch n.kind {
	case kList, kSet:
		var out []*node
		for _, k := range n.kids {
			k = normTop(k)
			if k.kind == kList {
				out = append(out, items(k)...)
			} else {
				out = append(out, k)
			}
		}
		return out
	case kTuple, kInterval, kUnion, kInter, kMatrix:
		return n.kids
	}
	return []*node{n}
}

func (c *comparer) ordered(a, b []*node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !c.eq(a[i], b[i]) {
			return false
		}
	}
	return true
}

// unordered matches two multisets greedily after a cheap exact pass, which
// is enough for the answer lists that occur in practice.
func (c *comparer) unordered(a, b []*node) bool {
	if len(a) != len(b) {
		// Duplicates do not matter in a set: compare distinct elements.
		a, b = dedupe(a), dedupe(b)
		if len(a) != len(b) {
			return false
		}
	}
	used := make([]bool, len(b))
	bs := make([]string, len(b))
	for j, y := range b {
		bs[j] = y.String()
	}
	for _, x := range a {
		found := false
		xs := x.String()
		for j := range b {
			if !used[j] && xs == bs[j] {
				used[j], found = true, true
				break
			}
		}
		if found {
			continue
		}
		for j, y := range b {
			if !used[j] && c.eq(x, y) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func dedupe(xs []*node) []*node {
	seen := map[string]bool{}
	var out []*node
	for _, x := range xs {
		s := x.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, x)
		}
	}
	return out
}

// isSimpleName reports whether n names a quantity (x, f(x), a_3, |AB|,
// NO/BO, A:B, (p,q)) rather than computing one; "x = 5" then answers 5,
// while "a + 3z = 0" does not answer 0.
func isSimpleName(n *node) bool {
	switch n.kind {
	case kSym:
		return n.name != "pi" && n.name != "e" && n.name != "i" && n.name != "inf"
	case kFn:
		if strings.HasPrefix(n.name, "call_") {
			return true
		}
		if n.name == "abs" && len(n.kids) == 1 {
			return isSimpleName(n.kids[0])
		}
		return false
	case kMul, kDiv, kRatio, kTuple:
		for _, k := range n.kids {
			if !isSimpleName(k) {
				return false
			}
		}
		return len(n.kids) > 0
	}
	return false
}

// equationParts reduces an all-"=" chain to (name, value): the first side
// that is a simple name, and the last side.
func equationParts(r *node) (lhs, rhs *node, ok bool) {
	for _, o := range r.ops {
		if o != "=" {
			return nil, nil, false
		}
	}
	rhs = r.kids[len(r.kids)-1]
	lhs = r.kids[0]
	for _, k := range r.kids[:len(r.kids)-1] {
		if isSimpleName(k) {
			return k, rhs, true
		}
	}
	return lhs, rhs, true
}

func (c *comparer) eqRel(g, p *node) bool {
	if g.kind == kRel && p.kind == kRel {
		gl, gr, gEq := equationParts(g)
		pl, pr, pEq := equationParts(p)
		if gEq && pEq {
			if c.eq(gl, pl) && c.eq(gr, pr) {
				return true
			}
			if isSimpleName(gl) && isSimpleName(pl) && gl.String() == pl.String() {
				return false
			}
			if gl.isScalar() && gr.isScalar() && pl.isScalar() && pr.isScalar() {
				return c.proportional(op(kAdd, gl, op(kNeg, gr)), op(kAdd, pl, op(kNeg, pr)), 0)
			}
			return false
		}
		if !gEq && !pEq {
			if len(g.kids) == 2 && len(p.kids) == 2 {
				gd, gs, ok1 := ineqForm(g)
				pd, ps, ok2 := ineqForm(p)
				if ok1 && ok2 && gs == ps {
					sign := 1
					if gs == "!=" {
						sign = 0
					}
					return c.proportional(gd, pd, sign)
				}
			}
			gi, ok1 := asInterval(g)
			pi, ok2 := asInterval(p)
			return ok1 && ok2 && c.eq(gi, pi)
		}
		// An equation against an inequality never matches.
		return false
	}
	if p.kind == kRel {
		// A prediction that is a chain of equalities is a worked solution:
		// "a + 2z = 2z + a = 101" answers 101. A predicted inequality
		// never matches a gold interval or number, so that restating
		// the question's inequality earns nothing.
		if _, r, ok := equationParts(p); ok {
			return c.eq(g, r)
		}
		return false
	}
	if l, r, ok := equationParts(g); ok {
		if isSimpleName(l) {
			return c.eq(r, p)
		}
		// A gold equation that names nothing ("7 = 11a + c") is not
		// answered by one of its sides.
		return isConstant(l) && isConstant(r) && c.eq(r, p)
	}
	if iv, ok := asInterval(g); ok {
		return c.eq(iv, p)
	}
	return false
}

// ineqForm turns a < b into (b - a, "<") so that x < 1 and -x > -1 and
// 1 > x all compare as one positive quantity.
func ineqForm(r *node) (*node, string, bool) {
	a, b := r.kids[0], r.kids[1]
	if !a.isScalar() || !b.isScalar() {
		return nil, "", false
	}
	diff := func(x, y *node) *node { return op(kAdd, x, op(kNeg, y)) }
	switch r.ops[0] {
	case "<":
		return diff(b, a), "<", true
	case ">":
		return diff(a, b), "<", true
	case "<=":
		return diff(b, a), "<=", true
	case ">=":
		return diff(a, b), "<=", true
	case "!=":
		return diff(a, b), "!=", true
	}
	return nil, "", false
}

// asInterval reads "a < x < b", "x > a" and "x <= b" as intervals.
func asInterval(r *node) (*node, bool) {
	inf := sym("inf")
	ninf := op(kNeg, sym("inf"))
	closed := func(o string) bool { return o == "<=" || o == ">=" }
	if len(r.kids) == 3 && r.kids[1].kind == kFn && r.kids[1].name == "abs" && isSimpleName(r.kids[1].kids[0]) {
		// 1 <= |z| <= 3/2 is [-3/2, -1] ∪ [1, 3/2].
		inner := &node{kind: kRel, kids: []*node{r.kids[0], r.kids[1].kids[0], r.kids[2]}, ops: r.ops}
		iv, ok := asInterval(inner)
		if !ok || !isConstant(iv.kids[0]) {
			return nil, false
		}
		flip := map[byte]byte{'(': ')', '[': ']', ')': '(', ']': '['}
		br := string(flip[iv.name[1]]) + string(flip[iv.name[0]])
		neg := &node{kind: kInterval, name: br, kids: []*node{op(kNeg, iv.kids[1]), op(kNeg, iv.kids[0])}}
		return op(kUnion, neg, iv), true
	}
	if len(r.kids) == 3 && isSimpleName(r.kids[1]) {
		o1, o2 := r.ops[0], r.ops[1]
		lo, hi := r.kids[0], r.kids[2]
		up := (o1 == "<" || o1 == "<=") && (o2 == "<" || o2 == "<=")
		down := (o1 == ">" || o1 == ">=") && (o2 == ">" || o2 == ">=")
		if !up && !down {
			return nil, false
		}
		if down {
			lo, hi = hi, lo
			o1, o2 = o2, o1
		}
		br := "("
		if closed(o1) {
			br = "["
		}
		if closed(o2) {
			br += "]"
		} else {
			br += ")"
		}
		return &node{kind: kInterval, name: br, kids: []*node{lo, hi}}, true
	}
	if len(r.kids) == 2 {
		a, b, o := r.kids[0], r.kids[1], r.ops[0]
		if isSimpleName(b) && !isSimpleName(a) {
			a, b = b, a
			o = map[string]string{"<": ">", ">": "<", "<=": ">=", ">=": "<="}[o]
		}
		if !isSimpleName(a) {
			return nil, false
		}
		switch o {
		case ">":
			return &node{kind: kInterval, name: "()", kids: []*node{b, inf}}, true
		case ">=":
			return &node{kind: kInterval, name: "[)", kids: []*node{b, inf}}, true
		case "<":
			return &node{kind: kInterval, name: "()", kids: []*node{ninf, b}}, true
		case "<=":
			return &node{kind: kInterval, name: "(]", kids: []*node{ninf, b}}, true
		}
	}
	return nil, false
}

// proportional reports whether a = k*b for a constant k (k > 0 when sign
// is 1, any non-zero k when sign is 0), by evaluating at random points.
func (c *comparer) proportional(a, b *node, sign int) bool {
	vars := map[string]bool{}
	freeSyms(a, vars)
	freeSyms(b, vars)
	names := sortedKeys(vars)
	var ratio complex128
	have := false
	valid := 0
	for trial := 0; trial < 6; trial++ {
		if c.expired() {
			return false
		}
		env := pointEnv(names, trial)
		ea := &evaluator{env: env}
		va, err1 := ea.eval(a)
		eb := &evaluator{env: env}
		vb, err2 := eb.eval(b)
		if err1 != nil || err2 != nil {
			return false
		}
		if !finite(va) || !finite(vb) || ea.lossy || eb.lossy {
			continue // overflowed at this point: no evidence either way
		}
		if cmplx.Abs(vb) < 1e-12 {
			if cmplx.Abs(va) < 1e-9 {
				valid++
				continue
			}
			return false
		}
		r := va / vb
		if !have {
			ratio, have = r, true
			if cmplx.Abs(r) < 1e-12 {
				return false
			}
		} else if !approxEq(r, ratio) {
			return false
		}
		valid++
	}
	if valid < 2 {
		return false
	}
	if !have {
		return true
	}
	if sign == 1 {
		return real(ratio) > 0 && math.Abs(imag(ratio)) < 1e-9
	}
	return true
}

// isConstant reports a scalar with no free variables.
func isConstant(n *node) bool {
	if !n.isScalar() {
		return false
	}
	vars := map[string]bool{}
	freeSyms(n, vars)
	return len(vars) == 0
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pointEnv gives each variable a fixed pseudo-random value for a trial.
// Values are irrational-looking reals in (0.3, 2.3) so that coincidences
// are unlikely and square roots and logs stay real.
func pointEnv(names []string, trial int) map[string]complex128 {
	env := make(map[string]complex128, len(names))
	for i, n := range names {
		x := math.Mod(float64(trial*7919+i*104729+17)*0.6180339887498949, 1.0)
		env[n] = complex(0.3+2*x, 0)
	}
	return env
}

func finite(v complex128) bool {
	return !math.IsNaN(real(v)) && !math.IsNaN(imag(v)) && !math.IsInf(real(v), 0) && !math.IsInf(imag(v), 0)
}

// withinTolerance reports |a-b| <= max(1e-6, 1e-9·max(|a|,|b|)), exactly.
func withinTolerance(a, b *big.Rat) bool {
	d := new(big.Rat).Sub(a, b)
	d.Abs(d)
	tol := big.NewRat(1, 1_000_000)
	scale := new(big.Rat).Abs(a)
	if bb := new(big.Rat).Abs(b); bb.Cmp(scale) > 0 {
		scale = bb
	}
	if rel := scale.Mul(scale, big.NewRat(1, 1_000_000_000)); rel.Cmp(tol) > 0 {
		tol = rel
	}
	return d.Cmp(tol) <= 0
}

// approxEq compares two complex values with a relative tolerance. Equal
// infinities (from \infty itself) are equal; NaN equals nothing.
func approxEq(a, b complex128) bool {
	if a == b {
		return true
	}
	if !finite(a) || !finite(b) {
		return false
	}
	d := cmplx.Abs(a - b)
	scale := math.Max(cmplx.Abs(a), cmplx.Abs(b))
	return d <= relTol*math.Max(scale, 1e-3)
}

func (c *comparer) eqScalar(g, p *node) bool {
	if !g.isScalar() || !p.isScalar() {
		return false
	}
	rg, err1 := evalRat(g)
	rp, err2 := evalRat(p)
	if err1 == nil && err2 == nil {
		if rg.Cmp(rp) == 0 {
			return true
		}
		if !hasDecimal(g) && !hasDecimal(p) {
			return false
		}
		// A decimal is a rounded value: accept differences below 1e-6
		// (1/3 vs 0.333333), but not 1000000.5 vs 1000001.5. Computed
		// exactly, so that huge values keep their difference.
		return withinTolerance(rg, rp)
	}
	vars := map[string]bool{}
	freeSyms(g, vars)
	freeSyms(p, vars)
	names := sortedKeys(vars)
	if len(names) == 0 {
		eg, ep := &evaluator{}, &evaluator{}
		vg, e1 := eg.eval(g)
		vp, e2 := ep.eval(p)
		// An overflowed, underflowed or NaN value is unknown: not equal.
		return e1 == nil && e2 == nil && !eg.lossy && !ep.lossy && approxEq(vg, vp)
	}
	valid := 0
	for trial := 0; trial < 5; trial++ {
		if c.expired() {
			return false
		}
		env := pointEnv(names, trial)
		eg, ep := &evaluator{env: env}, &evaluator{env: env}
		vg, e1 := eg.eval(g)
		vp, e2 := ep.eval(p)
		if e1 != nil || e2 != nil {
			return false
		}
		if (!finite(vg) && !finite(vp)) || eg.lossy || ep.lossy {
			continue // no evidence at this point
		}
		if !approxEq(vg, vp) {
			return false
		}
		valid++
	}
	return valid >= 2
}
