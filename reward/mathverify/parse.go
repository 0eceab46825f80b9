package mathverify

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxDepth bounds parser recursion so hostile input cannot exhaust the stack.
const maxDepth = 200

var errSyntax = errors.New("syntax error")

// parser is a Pratt-style recursive-descent parser over LaTeX/plain math
// tokens. It is deliberately forgiving: implicit multiplication, unbraced
// \frac12, \left/\right and units are accepted.
type parser struct {
	toks  []token
	pos   int
	depth int
	abs   int // open |...| pairs: a '|' then closes instead of opening
	group int // open brackets: "(12,102)" is a pair, not 12102
}

// parse turns one extracted answer into an expression tree.
func parse(s string) (n *node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("parse panic: %v", r)
		}
	}()
	s = stripDelimiters(s)
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty answer")
	}
	p := &parser{toks: lex(s)}
	n, err = p.parseList()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, fmt.Errorf("%w: unexpected %q at token %d", errSyntax, p.peek().text, p.pos)
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) peekAt(k int) token {
	if p.pos+k < len(p.toks) {
		return p.toks[p.pos+k]
	}
	return token{kind: tEOF}
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return fmt.Errorf("%w: nesting deeper than %d", errSyntax, maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// isSeparator reports whether the current token separates list items.
func (p *parser) isSeparator() bool {
	t := p.peek()
	switch t.kind {
	case tPunct:
		return t.text == "," || t.text == ";"
	case tWord:
		w := strings.ToLower(t.text)
		return w == "and" || w == "or"
	case tText:
		w := strings.ToLower(strings.TrimSpace(t.text))
		w = strings.Trim(w, ",; ")
		return w == "and" || w == "or" || w == "" && strings.Contains(t.text, ",")
	}
	return false
}

// isCloser reports whether t closes a group.
func isCloser(t token) bool {
	switch t.kind {
	case tPunct:
		switch t.text {
		case ")", "]", "}", `\}`, "&", `\\`:
			return true
		}
	case tCmd:
		return t.text == "rangle" || t.text == "rbrace" || t.text == "rfloor" || t.text == "rceil"
	case tEnd:
		return true
	}
	return false
}

// parseList parses separator-joined items until a closer or EOF. A single
// item is returned as is; several become a kList.
func (p *parser) parseList() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var items []*node // every item, in order
	var cur []*node   // items since the last ';'
	var groups [][]*node
	sawComma, sawSemi := false, false
	for {
		for p.isSeparator() {
			if p.isPunct(";") {
				sawSemi = true
				groups = append(groups, cur)
				cur = nil
			} else {
				sawComma = true
			}
			p.next()
		}
		t := p.peek()
		if t.kind == tEOF || isCloser(t) || p.abs > 0 && t.kind == tPunct && t.text == "|" {
			break
		}
		start := p.pos
		it, err := p.parseRel()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		cur = append(cur, it)
		if p.pos == start {
			return nil, fmt.Errorf("%w: unexpected %q", errSyntax, t.text)
		}
		if !p.isSeparator() {
			t := p.peek()
			if t.kind == tEOF || isCloser(t) || p.abs > 0 && t.kind == tPunct && t.text == "|" {
				break
			}
			// Two items side by side without a separator ("\boxed{1}\boxed{2}").
			if t.kind == tPunct && t.text == `\\` {
				p.next()
			}
		}
	}
	if sawSemi && sawComma && p.group == 0 {
		// "p=5,q=2; p=7,q=2": semicolons separate solutions, commas
		// separate the parts of one solution.
		groups = append(groups, cur)
		out := &node{kind: kList}
		for _, g := range groups {
			switch len(g) {
			case 0:
			case 1:
				out.kids = append(out.kids, g[0])
			default:
				out.kids = append(out.kids, &node{kind: kTuple, kids: g})
			}
		}
		if len(out.kids) == 1 {
			return out.kids[0], nil
		}
		if len(out.kids) > 1 {
			return out, nil
		}
	}
	switch len(items) {
	case 0:
		return nil, fmt.Errorf("%w: empty expression", errSyntax)
	case 1:
		return items[0], nil
	}
	return &node{kind: kList, kids: items}, nil
}

// relOp reads a relation operator at the current position, if any.
func (p *parser) relOp() (string, int) {
	t := p.peek()
	switch t.kind {
	case tPunct:
		n1 := p.peekAt(1)
		eqNext := n1.kind == tPunct && n1.text == "=" && !n1.space
		switch t.text {
		case "=":
			if eqNext {
				return "=", 2
			}
			return "=", 1
		case "<":
			if eqNext {
				return "<=", 2
			}
			if n1.kind == tPunct && n1.text == ">" {
				return "!=", 2
			}
			return "<", 1
		case ">":
			if eqNext {
				return ">=", 2
			}
			return ">", 1
		case "!":
			if eqNext {
				return "!=", 2
			}
		}
	case tCmd:
		switch t.text {
		case "le", "leq", "leqslant", "leqq":
			return "<=", 1
		case "ge", "geq", "geqslant", "geqq":
			return ">=", 1
		case "lt":
			return "<", 1
		case "gt":
			return ">", 1
		case "ne", "neq":
			return "!=", 1
		case "equiv", "simeq", "cong", "doteq", "eq":
			return "=", 1
		case "approx", "sim":
			return "≈", 1
		case "in":
			return "in", 1
		}
	}
	return "", 0
}

func (p *parser) parseRel() (*node, error) {
	first, err := p.parseRatio()
	if err != nil {
		return nil, err
	}
	op, n := p.relOp()
	if n == 0 {
		return first, nil
	}
	rel := &node{kind: kRel, kids: []*node{first}}
	for n > 0 {
		p.pos += n
		rhs, err := p.parseRatio()
		if err != nil {
			return nil, err
		}
		rel.kids = append(rel.kids, rhs)
		rel.ops = append(rel.ops, op)
		op, n = p.relOp()
	}
	return fixApprox(rel), nil
}

// fixApprox reads "x = 1/3 \approx 0.33" as x = 1/3 (the exact value
// before the approximation) and a lone "x \approx 11" as x = 11.
func fixApprox(rel *node) *node {
	for i, o := range rel.ops {
		if o != "≈" {
			continue
		}
		if i > 0 {
			rel.kids = rel.kids[:i+1]
			rel.ops = rel.ops[:i]
			break
		}
		rel.ops[i] = "="
	}
	return rel
}

func (p *parser) parseRatio() (*node, error) {
	first, err := p.parseSetOp()
	if err != nil {
		return nil, err
	}
	if !p.isPunct(":") {
		return first, nil
	}
	r := &node{kind: kRatio, kids: []*node{first}}
	for p.isPunct(":") {
		p.next()
		k, err := p.parseSetOp()
		if err != nil {
			return nil, err
		}
		r.kids = append(r.kids, k)
	}
	return r, nil
}

func (p *parser) parseSetOp() (*node, error) {
	left, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		var k kind
		switch {
		case t.kind == tCmd && (t.text == "cup" || t.text == "bigcup"):
			k = kUnion
		case t.kind == tWord && t.text == "U":
			k = kUnion
		case t.kind == tCmd && (t.text == "cap" || t.text == "bigcap"):
			k = kInter
		default:
			return left, nil
		}
		p.next()
		right, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		if left.kind == k {
			left.kids = append(left.kids, right)
		} else {
			left = op(k, left, right)
		}
	}
}

func (p *parser) isPM() (bool, bool) {
	t := p.peek()
	if t.kind == tCmd && (t.text == "pm" || t.text == "mp") {
		return true, t.text == "mp"
	}
	return false, false
}

func (p *parser) parseAdd() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var left *node
	if pm, minus := p.isPM(); pm {
		p.next()
		t, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		if minus {
			t = op(kNeg, t)
		}
		left = op(kPM, t)
	} else {
		t, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		left = t
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tPunct && t.text == "+":
			p.next()
			r, err := p.parseTerm()
			if err != nil {
				return nil, err
			}
			left = addTo(left, r)
		case t.kind == tPunct && t.text == "-":
			p.next()
			r, err := p.parseTerm()
			if err != nil {
				return nil, err
			}
			left = addTo(left, op(kNeg, r))
		case t.kind == tCmd && (t.text == "pm" || t.text == "mp"):
			p.next()
			r, err := p.parseTerm()
			if err != nil {
				return nil, err
			}
			if t.text == "mp" {
				r = op(kNeg, r)
			}
			left = op(kPM, left, r)
		default:
			return left, nil
		}
	}
}

func addTo(left, r *node) *node {
	if left.kind == kAdd {
		left.kids = append(left.kids, r)
		return left
	}
	return op(kAdd, left, r)
}

// mulOp reports an explicit multiplication or division operator.
func (p *parser) mulOp() string {
	t := p.peek()
	switch t.kind {
	case tPunct:
		if t.text == "*" {
			return "*"
		}
		if t.text == "/" {
			return "/"
		}
	case tCmd:
		switch t.text {
		case "cdot", "times", "ast", "bullet":
			return "*"
		case "div", "over":
			return "/"
		}
	}
	return ""
}

// startsFactor reports whether the current token can begin an implicitly
// multiplied factor.
func (p *parser) startsFactor() bool {
	t := p.peek()
	switch t.kind {
	case tNum, tBegin:
		return true
	case tWord:
		w := strings.ToLower(t.text)
		return w != "and" && w != "or" && !(t.text == "U")
	case tCmd:
		return !nonFactorCmds[t.text]
	case tPunct:
		switch t.text {
		case "(", "[", `\{`, "{":
			return true
		case "|":
			return p.abs == 0
		}
	}
	return false
}

// nonFactorCmds are commands that are operators, relations or closers.
var nonFactorCmds = map[string]bool{
	"cdot": true, "times": true, "ast": true, "div": true, "over": true, "bullet": true,
	"le": true, "leq": true, "ge": true, "geq": true, "lt": true, "gt": true, "ne": true, "neq": true,
	"leqslant": true, "geqslant": true, "leqq": true, "geqq": true,
	"approx": true, "equiv": true, "simeq": true, "cong": true, "doteq": true, "in": true, "eq": true,
	"cup": true, "cap": true, "bigcup": true, "bigcap": true, "setminus": true, "pm": true, "mp": true,
	"rangle": true, "rbrace": true, "rfloor": true, "rceil": true, "to": true, "rightarrow": true,
	"Rightarrow": true, "implies": true, "iff": true, "mid": false, "pmod": true, "bmod": true, "mod": true,
}

func (p *parser) parseTerm() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		if o := p.mulOp(); o != "" {
			p.next()
			r, err := p.parseUnary()
			if err != nil {
				return nil, err
			}
			if o == "*" {
				left = mulTo(left, r)
			} else {
				left = op(kDiv, left, r)
			}
			continue
		}
		if p.skipUnits(left) {
			continue
		}
		if !p.startsFactor() {
			return left, nil
		}
		// A whole number right before a numeric \frac is a mixed number:
		// 2\frac{1}{2} is 5/2, not 1.
		mixed := p.pos > 0 && p.toks[p.pos-1].kind == tNum && left.kind == kNum && !left.dec && left.rat.IsInt() && p.peek().kind == tCmd && isFracCmd(p.peek().text)
		r, err := p.parsePowLevel()
		if err != nil {
			return nil, err
		}
		if mixed && r.kind == kDiv && r.kids[0].kind == kNum && r.kids[1].kind == kNum && r.kids[0].rat.IsInt() && r.kids[1].rat.IsInt() {
			if left.rat.Sign() < 0 {
				left = op(kAdd, left, op(kNeg, r))
			} else {
				left = op(kAdd, left, r)
			}
			continue
		}
		left = mulTo(left, r)
	}
}

func mulTo(left, r *node) *node {
	if left.kind == kMul {
		left.kids = append(left.kids, r)
		return left
	}
	return op(kMul, left, r)
}

func isFracCmd(s string) bool {
	return s == "frac" || s == "dfrac" || s == "tfrac" || s == "cfrac"
}

func (p *parser) parseUnary() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	if t.kind == tPunct && t.text == "-" {
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if x.kind == kNum {
			// Fold literal negatives so "-5" prints as a number.
			return &node{kind: kNum, rat: new(big.Rat).Neg(x.rat), dec: x.dec}, nil
		}
		return op(kNeg, x), nil
	}
	if t.kind == tPunct && t.text == "+" {
		p.next()
		return p.parseUnary()
	}
	if pm, minus := p.isPM(); pm {
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if minus {
			x = op(kNeg, x)
		}
		return op(kPM, x), nil
	}
	return p.parsePowLevel()
}

// parsePowLevel parses a primary with its postfix operators and powers.
func (p *parser) parsePowLevel() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	base, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	return p.parsePostfix(base)
}

func (p *parser) parsePostfix(base *node) (*node, error) {
	for {
		t := p.peek()
		switch {
		case t.kind == tPunct && t.text == "^":
			p.next()
			if p.isDegreeMark() {
				p.skipDegreeMark()
				continue
			}
			var ex *node
			var err error
			if p.isPunct("-") || p.isPunct("+") {
				// x^-1: a sign followed by one factor.
				neg := p.next().text == "-"
				ex, err = p.parseExponent()
				if err == nil && neg {
					ex = op(kNeg, ex)
				}
			} else {
				ex, err = p.parseExponent()
			}
			if err != nil {
				return nil, err
			}
			base = op(kPow, base, ex)
		case t.kind == tPunct && t.text == "*" && p.peekAt(1).kind == tPunct && p.peekAt(1).text == "*" && !p.peekAt(1).space:
			// Plain-text "2**3" is a power.
			p.next()
			p.toks[p.pos] = token{kind: tPunct, text: "^"}
			continue
		case t.kind == tPunct && t.text == "_":
			p.next()
			sub, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			switch base.kind {
			case kSym:
				base = sym(base.name + "_" + sub.String())
			case kNum:
				// 204_5: a numeral in another base, compared as written.
				base = sym(base.rat.RatString() + "_" + sub.String())
			}
		case t.kind == tPunct && t.text == "!" && !(p.peekAt(1).kind == tPunct && p.peekAt(1).text == "="):
			p.next()
			base = fn("fact", base)
		case t.kind == tPunct && t.text == "%":
			p.next()
			base = op(kPct, base)
		case t.kind == tWord && isPercentWord(t.text):
			p.next()
			base = op(kPct, base)
		case t.kind == tText && isPercentWord(strings.TrimSpace(t.text)):
			p.next()
			base = op(kPct, base)
		case t.kind == tCmd && (t.text == "circ" || t.text == "degree" || t.text == "degrees"):
			p.next()
		case t.kind == tPunct && t.text == "'":
			p.next()
			if base.kind == kSym {
				base = sym(base.name + "'")
			}
		default:
			return base, nil
		}
	}
}

func isPercentWord(w string) bool {
	w = strings.ToLower(w)
	return w == "percent" || w == "pct" || w == "percentage" || w == "per cent"
}

func (p *parser) isDegreeMark() bool {
	t := p.peek()
	if t.kind == tCmd && (t.text == "circ" || t.text == "degree") {
		return true
	}
	if t.kind == tPunct && t.text == "{" {
		n := p.peekAt(1)
		return n.kind == tCmd && (n.text == "circ" || n.text == "degree")
	}
	return false
}

func (p *parser) skipDegreeMark() {
	if p.isPunct("{") {
		p.next()
		p.next()
		if p.isPunct("}") {
			p.next()
		}
		return
	}
	p.next()
}

// skipUnits drops unit words and \text{...} units that follow a value.
func (p *parser) skipUnits(left *node) bool {
	t := p.peek()
	switch t.kind {
	case tText:
		w := strings.ToLower(strings.TrimSpace(t.text))
		if w == "and" || w == "or" || isPercentWord(w) {
			return false
		}
		if w == "" || isUnitText(w) || left.kind != kText {
			p.next()
			p.skipUnitPower()
			return true
		}
	case tWord:
		if isUnitWord(t.text) {
			p.next()
			p.skipUnitPower()
			return true
		}
	case tPunct:
		// \mathrm{cm} leaves "{cm}" after the ignored command.
		if t.text == "{" {
			w, c := p.peekAt(1), p.peekAt(2)
			if w.kind == tWord && (isUnitWord(w.text) || len(w.text) <= 2 && unitWordsAll[strings.ToLower(w.text)]) && c.kind == tPunct && c.text == "}" {
				p.pos += 3
				p.skipUnitPower()
				return true
			}
		}
	}
	return false
}

func (p *parser) skipUnitPower() {
	if p.isPunct("^") {
		n := p.peekAt(1)
		if n.kind == tNum && len(n.text) == 1 {
			p.pos += 2
		} else if n.kind == tPunct && n.text == "{" && p.peekAt(2).kind == tNum && p.peekAt(3).text == "}" {
			p.pos += 4
		}
	}
}

var unitWords = map[string]bool{}

// unitWordsAll also holds the short, ambiguous units (m, g, s, h), which
// count only where the spelling says unit: \text{m} or \mathrm{m}.
var unitWordsAll = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`cm mm km m meter meters metre metres centimeter centimeters
		millimeter millimeters kilometer kilometers inch inches in ft feet foot yard yards yd
		mile miles mi mph kph kmh sq square cubic units unit degree degrees deg rad radians
		dollar dollars cent cents usd yuan euro euros rupees pounds pound lb lbs kg g gram grams
		kilogram kilograms mg ounce ounces oz l liter liters litre litres ml gallon gallons
		second seconds sec s minute minutes min hour hours hr hrs h day days week weeks month
		months year years yr yrs am pm people persons students apples points ways times
		cents dozen cups cup bottles boxes pages items pieces marbles cookies balls`) {
		unitWords[w] = true
		unitWordsAll[w] = true
	}
	// Single letters, "in", "sec", "min", "s", "h", "m", "g", "l" are too
	// ambiguous as bare words; only accept them inside \text{}.
	for _, w := range []string{"m", "g", "l", "s", "h", "in", "sec", "min", "mi", "am", "pm", "yd", "hr", "deg"} {
		delete(unitWords, w)
	}
}

func isUnitWord(w string) bool { return len(w) > 1 && unitWords[strings.ToLower(w)] }

// isUnitText accepts a \text{} body made only of unit-like words.
func isUnitText(w string) bool {
	fields := strings.FieldsFunc(w, func(r rune) bool { return r == ' ' || r == '^' || r == '/' || r == '.' || (r >= '0' && r <= '9') })
	if len(fields) == 0 {
		return true
	}
	for _, f := range fields {
		if !unitWords[f] && !(len(f) <= 2) {
			return false
		}
	}
	return true
}

// parseArg reads a macro argument: a braced group or a single token
// (\frac12 reads "1" then "2").
// parseExponent reads what follows ^: an argument as in LaTeX, except that
// a run of digits is one number, as answers write it in plain text (3^5000
// is 3^{5000}, not 3^5 followed by 000).
func (p *parser) parseExponent() (*node, error) {
	if t := p.peek(); t.kind == tNum && len(t.text) > 1 && isDigits(t.text) {
		p.next()
		v, ok := new(big.Int).SetString(t.text, 10)
		if !ok {
			return nil, fmt.Errorf("%w: bad exponent %q", errSyntax, t.text)
		}
		return num(new(big.Rat).SetInt(v)), nil
	}
	return p.parseArg()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (p *parser) parseArg() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	switch t.kind {
	case tPunct:
		if t.text == "{" {
			p.next()
			inner, err := p.parseList()
			if err != nil {
				return nil, err
			}
			if !p.isPunct("}") {
				return nil, fmt.Errorf("%w: missing }", errSyntax)
			}
			p.next()
			return inner, nil
		}
		if t.text == "(" || t.text == "[" || t.text == "|" {
			return p.parsePrimary()
		}
		return nil, fmt.Errorf("%w: expected an argument, got %q", errSyntax, t.text)
	case tNum:
		if len(t.text) > 1 {
			// Take one character and leave the rest for later.
			p.toks[p.pos].text = t.text[1:]
			p.toks[p.pos].space = false
			if t.text[0] == '.' {
				return nil, fmt.Errorf("%w: bad argument %q", errSyntax, t.text)
			}
			return intNode(int64(t.text[0] - '0')), nil
		}
		p.next()
		return intNode(int64(t.text[0] - '0')), nil
	case tWord:
		if len(t.text) > 1 {
			p.toks[p.pos].text = t.text[1:]
			p.toks[p.pos].space = false
			return letterSym(t.text[:1]), nil
		}
		p.next()
		return letterSym(t.text), nil
	case tCmd:
		return p.parsePrimary()
	}
	return nil, fmt.Errorf("%w: expected an argument", errSyntax)
}

// letterSym maps a single letter to a symbol. The evaluator reads i as the
// imaginary unit and e as Euler's number, as most answer keys do.
func letterSym(l string) *node { return sym(l) }

var funcNames = map[string]bool{
	"sin": true, "cos": true, "tan": true, "sec": true, "csc": true, "cot": true,
	"arcsin": true, "arccos": true, "arctan": true, "sinh": true, "cosh": true, "tanh": true,
	"log": true, "ln": true, "lg": true, "exp": true, "sqrt": true, "gcd": true, "lcm": true,
	"max": true, "min": true, "det": true, "arccot": true, "arcsec": true, "arccsc": true,
}

var constCmds = map[string]string{"pi": "pi", "infty": "inf", "infinity": "inf", "imath": "i", "e": "e"}

func (p *parser) parsePrimary() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	switch t.kind {
	case tNum:
		return p.parseNumber()
	case tWord:
		p.next()
		w := t.text
		lw := strings.ToLower(w)
		if funcNames[lw] && len(w) > 1 {
			return p.parseFunc(lw)
		}
		if lw == "pi" {
			return sym("pi"), nil
		}
		if lw == "inf" || lw == "infty" || lw == "infinity" {
			return sym("inf"), nil
		}
		if len(w) == 1 {
			if (w == "f" || w == "g" || w == "h") && p.isPunct("(") && !p.peek().space {
				return p.parseCall(w)
			}
			return letterSym(w), nil
		}
		// A run of letters is a product of single-letter symbols (xy).
		var m *node
		for i := 0; i < len(w); i++ {
			s := letterSym(w[i : i+1])
			if m == nil {
				m = s
			} else {
				m = mulTo(m, s)
			}
		}
		return m, nil
	case tText:
		p.next()
		body := strings.TrimSpace(t.text)
		if isPercentWord(body) {
			return nil, fmt.Errorf("%w: percent without a value", errSyntax)
		}
		// \text{(C)} and \text{C} mean the same choice.
		return &node{kind: kText, name: normText(body)}, nil
	case tBegin:
		return p.parseEnv()
	case tPunct:
		switch t.text {
		case "(", "[", "{", `\{`:
			return p.parseGroup()
		case "|":
			p.next()
			p.abs++
			inner, err := p.parseList()
			p.abs--
			if err != nil {
				return nil, err
			}
			if !p.isPunct("|") {
				return nil, fmt.Errorf("%w: missing closing |", errSyntax)
			}
			p.next()
			return fn("abs", inner), nil
		}
		return nil, fmt.Errorf("%w: unexpected %q", errSyntax, t.text)
	case tCmd:
		p.next()
		name := t.text
		switch {
		case isFracCmd(name) || name == "binom" || name == "dbinom" || name == "tbinom":
			a, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			b, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(name, "binom") {
				return fn("binom", a, b), nil
			}
			return op(kDiv, a, b), nil
		case name == "sqrt":
			var idx *node
			if p.isPunct("[") {
				p.next()
				i, err := p.parseList()
				if err != nil {
					return nil, err
				}
				if !p.isPunct("]") {
					return nil, fmt.Errorf("%w: missing ] in \\sqrt[", errSyntax)
				}
				p.next()
				idx = i
			}
			a, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			if idx != nil {
				return fn("root", a, idx), nil
			}
			return fn("sqrt", a), nil
		case funcNames[name]:
			return p.parseFunc(name)
		case name == "lfloor" || name == "lceil":
			inner, err := p.parseList()
			if err != nil {
				return nil, err
			}
			c := p.next()
			if c.kind != tCmd {
				return nil, fmt.Errorf("%w: missing closing floor/ceil", errSyntax)
			}
			if name == "lfloor" {
				return fn("floor", inner), nil
			}
			return fn("ceil", inner), nil
		case name == "langle" || name == "lbrace":
			p.pos--
			return p.parseGroup()
		case name == "emptyset" || name == "varnothing":
			return &node{kind: kSet}, nil
		case name == "mid" || name == "vert" || name == "lvert" || name == "rvert":
			p.pos--
			p.toks[p.pos] = token{kind: tPunct, text: "|"}
			return p.parsePrimary()
		case name == "dots" || name == "ldots" || name == "cdots":
			return sym("…"), nil
		case nonFactorCmds[name]:
			return nil, fmt.Errorf("%w: unexpected \\%s", errSyntax, name)
		}
		if c, ok := constCmds[name]; ok {
			return sym(c), nil
		}
		// Greek letters and unknown macros act as named symbols.
		return sym(name), nil
	}
	return nil, fmt.Errorf("%w: unexpected end of answer", errSyntax)
}

// normText lower-cases text and drops everything but letters and digits.
func normText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// parseFunc parses sin x, \sin^2(x), \log_2 8 and similar.
func (p *parser) parseFunc(name string) (*node, error) {
	var power, base *node
	for {
		if p.isPunct("^") {
			p.next()
			e, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			power = e
			continue
		}
		if p.isPunct("_") {
			p.next()
			b, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			base = b
			continue
		}
		break
	}
	var arg *node
	var err error
	if p.isPunct("(") {
		arg, err = p.parseGroup()
	} else {
		arg, err = p.parseTermNoSum()
	}
	if err != nil {
		return nil, err
	}
	var f *node
	if name == "sqrt" {
		f = fn("sqrt", arg)
	} else if arg.kind == kTuple || arg.kind == kList {
		f = fn(name, arg.kids...)
	} else {
		f = fn(name, arg)
	}
	if base != nil && (name == "log") {
		f.kids = append(f.kids, base)
	}
	if power != nil {
		if p1, ok := power.rat0(); ok && p1.Cmp(big.NewRat(-1, 1)) == 0 && isTrig(name) {
			f.name = "arc" + name
		} else {
			f = op(kPow, f, power)
		}
	}
	return f, nil
}

func isTrig(n string) bool { return n == "sin" || n == "cos" || n == "tan" }

// rat0 returns the value of a plain (possibly negated) number node.
func (n *node) rat0() (*big.Rat, bool) {
	switch n.kind {
	case kNum:
		return n.rat, true
	case kNeg:
		if r, ok := n.kids[0].rat0(); ok {
			return new(big.Rat).Neg(r), true
		}
	}
	return nil, false
}

// parseTermNoSum parses the argument of an unparenthesised function:
// "\sin 2x" is sin(2x), and it stops at + and -.
func (p *parser) parseTermNoSum() (*node, error) {
	left, err := p.parsePowLevel()
	if err != nil {
		return nil, err
	}
	for p.startsFactor() {
		t := p.peek()
		if t.kind == tCmd && funcNames[t.text] {
			break
		}
		r, err := p.parsePowLevel()
		if err != nil {
			return nil, err
		}
		left = mulTo(left, r)
	}
	return left, nil
}

func (p *parser) parseCall(name string) (*node, error) {
	g, err := p.parseGroup()
	if err != nil {
		return nil, err
	}
	if g.kind == kTuple {
		return fn("call_"+name, g.kids...), nil
	}
	return fn("call_"+name, g), nil
}

// parseNumber reads a numeral, joining thousands groups ("12,000,023" and
// "10,\!080") but not "32, 349", which is a list.
func (p *parser) parseNumber() (*node, error) {
	t := p.next()
	text := t.text
	intPart := text
	if i := strings.IndexByte(text, '.'); i >= 0 {
		intPart = text[:i]
	}
	if len(intPart) >= 1 && len(intPart) <= 3 && !strings.Contains(text, ".") && (p.group == 0 || p.isPunct(",") && p.peekAt(1).glue) {
		for p.isPunct(",") {
			n := p.peekAt(1)
			ip := n.text
			if i := strings.IndexByte(ip, '.'); i >= 0 {
				ip = ip[:i]
			}
			comma := p.peek()
			if n.kind != tNum || len(ip) != 3 || (n.space && !n.glue) || comma.space || (p.group > 0 && !n.glue) {
				break
			}
			// "1,000" could also be a two-item list; only join when the
			// next group is not itself followed by a short group.
			p.pos += 2
			text += n.text
			if strings.Contains(n.text, ".") {
				break
			}
		}
	}
	// "1 000" and "14 916": a space between digit groups.
	for p.group == 0 && len(intPart) <= 3 && !strings.Contains(text, ".") {
		n := p.peek()
		ip := n.text
		if i := strings.IndexByte(ip, '.'); i >= 0 {
			ip = ip[:i]
		}
		if n.kind != tNum || !(n.space || n.glue) || len(ip) != 3 {
			break
		}
		p.next()
		text += n.text
		if strings.Contains(n.text, ".") {
			break
		}
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("%w: bad number %q", errSyntax, text)
	}
	return &node{kind: kNum, rat: r, dec: strings.Contains(text, ".")}, nil
}

// parseGroup parses (...), [...], {...}, \{...\} and \langle...\rangle into
// a grouping, tuple, interval or set.
func (p *parser) parseGroup() (*node, error) {
	open := p.next()
	o := open.text
	if open.kind == tCmd {
		if open.text == "langle" {
			o = "("
		} else {
			o = `\{`
		}
	}
	var items []*node
	p.group++
	defer func() { p.group-- }()
	for {
		for p.isSeparator() {
			p.next()
		}
		t := p.peek()
		if t.kind == tEOF {
			return nil, fmt.Errorf("%w: unclosed %q", errSyntax, o)
		}
		if isCloser(t) {
			break
		}
		start := p.pos
		it, err := p.parseRel()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		if p.pos == start {
			return nil, fmt.Errorf("%w: unexpected %q", errSyntax, t.text)
		}
	}
	c := p.next()
	cl := c.text
	if c.kind == tCmd {
		if c.text == "rangle" {
			cl = ")"
		} else {
			cl = `\}`
		}
	}
	switch {
	case o == `\{` || (o == "{" && len(items) != 1):
		if o == "{" && cl != "}" || o == `\{` && cl != `\}` {
			return nil, fmt.Errorf("%w: %q closed by %q", errSyntax, o, cl)
		}
		return &node{kind: kSet, kids: items}, nil
	case o == "{":
		if cl != "}" {
			return nil, fmt.Errorf("%w: { closed by %q", errSyntax, cl)
		}
		return items[0], nil
	}
	if cl != ")" && cl != "]" {
		return nil, fmt.Errorf("%w: %q closed by %q", errSyntax, o, cl)
	}
	if len(items) == 1 && (o == "(" && cl == ")" || o == "[" && cl == "]") {
		return items[0], nil
	}
	if len(items) == 2 && !(o == "(" && cl == ")") {
		return &node{kind: kInterval, name: o + cl, kids: items}, nil
	}
	if len(items) == 1 {
		return nil, fmt.Errorf("%w: half-open group with one item", errSyntax)
	}
	return &node{kind: kTuple, kids: items}, nil
}

// parseEnv parses \begin{pmatrix}...\end{pmatrix} and similar tables into a
// matrix, and other environments (cases, align) into their content.
func (p *parser) parseEnv() (*node, error) {
	env := p.next().text
	var rows [][]*node
	var row []*node
	for {
		t := p.peek()
		if t.kind == tEOF {
			return nil, fmt.Errorf("%w: unclosed \\begin{%s}", errSyntax, env)
		}
		if t.kind == tEnd {
			p.next()
			break
		}
		if t.kind == tPunct && t.text == "&" {
			p.next()
			continue
		}
		if t.kind == tPunct && t.text == `\\` {
			p.next()
			if len(row) > 0 {
				rows = append(rows, row)
			}
			row = nil
			continue
		}
		start := p.pos
		it, err := p.parseList()
		if err != nil {
			return nil, err
		}
		if p.pos == start {
			return nil, fmt.Errorf("%w: unexpected %q in %s", errSyntax, t.text, env)
		}
		row = append(row, it)
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: empty %s", errSyntax, env)
	}
	if !strings.Contains(env, "matrix") && env != "array" {
		var items []*node
		for _, r := range rows {
			items = append(items, r...)
		}
		if len(items) == 1 {
			return items[0], nil
		}
		return &node{kind: kList, kids: items}, nil
	}
	cols := len(rows[0])
	m := &node{kind: kMatrix, rows: len(rows), cols: cols}
	for _, r := range rows {
		if len(r) != cols {
			return nil, fmt.Errorf("%w: ragged %s", errSyntax, env)
		}
		m.kids = append(m.kids, r...)
	}
	return m, nil
}

// stripDelimiters removes math-mode wrappers and trailing punctuation.
func stripDelimiters(s string) string {
	s = strings.TrimSpace(s)
	for range 4 {
		before := s
		for _, pair := range [][2]string{{"$$", "$$"}, {"$", "$"}, {`\(`, `\)`}, {`\[`, `\]`}} {
			if strings.HasPrefix(s, pair[0]) && strings.HasSuffix(s, pair[1]) && len(s) >= len(pair[0])+len(pair[1]) {
				s = strings.TrimSpace(s[len(pair[0]) : len(s)-len(pair[1])])
			}
		}
		s = strings.TrimRight(s, " .\n\t")
		s = strings.TrimSuffix(s, `\.`)
		if s == before {
			break
		}
	}
	return s
}
