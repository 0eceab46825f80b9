package countdown

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// value is a Python number: an exact integer or a float64, because TinyZero
// evaluates the equation with Python's eval and the two behave differently
// (2**3 is an int, 7/2 a float, 7//2 an int).
type value struct {
	i *big.Int // nil for a float
	f float64
}

// maxBits bounds integer results so that "99**99**99" cannot exhaust memory;
// Python would compute it (slowly) and then fail the comparison anyway.
const maxBits = 1 << 16

var errTooBig = errors.New("integer result too large")

func (v value) float() (float64, error) {
	if v.i == nil {
		return v.f, nil
	}
	f, acc := new(big.Float).SetInt(v.i).Float64()
	if math.IsInf(f, 0) && acc != big.Exact {
		return 0, errors.New("int too large to convert to float")
	}
	return f, nil
}

// Eval evaluates a Countdown equation the way Python's eval would, for the
// character set TinyZero allows (digits, + - * / ( ) . and spaces): ints are
// exact, / is true division, // floors, ** is power (right-associative,
// binding tighter than a unary minus on its left). It returns an error
// wherever Python would raise (syntax errors, division by zero, overflow).
func Eval(expr string) (float64, error) {
	p := &parser{src: expr}
	p.next()
	v, err := p.expr()
	if err != nil {
		return 0, err
	}
	if p.tok.kind != tEOF {
		return 0, fmt.Errorf("unexpected %q at offset %d", p.tok.text, p.tok.pos)
	}
	return v.float()
}

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tOp // + - * / // ** ( )
)

type token struct {
	kind tokKind
	text string
	pos  int
	val  value
}

type parser struct {
	src   string
	pos   int
	tok   token
	depth int
}

// maxDepth bounds recursion on hostile input (parentheses and unary signs
// each add a level); real answers nest a handful of levels.
const maxDepth = 1000

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// next scans one token into p.tok; a malformed one becomes an operator
// token that the grammar rejects.
func (p *parser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\f') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	c := p.src[p.pos]
	switch {
	case isDigit(c) || (c == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1])):
		p.tok = p.number()
	case c == '*' || c == '/':
		if p.pos+1 < len(p.src) && p.src[p.pos+1] == c {
			p.pos += 2
		} else {
			p.pos++
		}
		p.tok = token{kind: tOp, text: p.src[start:p.pos], pos: start}
	case c == '+' || c == '-' || c == '(' || c == ')':
		p.pos++
		p.tok = token{kind: tOp, text: p.src[start:p.pos], pos: start}
	default:
		p.pos++
		p.tok = token{kind: tOp, text: p.src[start:p.pos], pos: start} // rejected by the grammar
	}
}

// number scans a Python int or float literal (no exponent: 'e' is not an
// allowed character). Like Python, it rejects a nonzero int with a leading
// zero ("05") and digits glued to a following dot-number ("1.2.3").
func (p *parser) number() token {
	start := p.pos
	for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
		p.pos++
	}
	isFloat := false
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		isFloat = true
		p.pos++
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
		}
	}
	text := p.src[start:p.pos]
	if p.pos < len(p.src) && (p.src[p.pos] == '.' || isDigit(p.src[p.pos])) {
		return token{kind: tOp, text: p.src[start : p.pos+1], pos: start}
	}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil { // out of range: Python gives inf, which cannot match
			return token{kind: tOp, text: text, pos: start}
		}
		return token{kind: tNum, text: text, pos: start, val: value{f: f}}
	}
	if len(text) > 1 && text[0] == '0' {
		for i := 1; i < len(text); i++ {
			if text[i] != '0' {
				// Python 3: "leading zeros in decimal integer literals are not permitted".
				return token{kind: tOp, text: text, pos: start}
			}
		}
	}
	n, _ := new(big.Int).SetString(text, 10)
	return token{kind: tNum, text: text, pos: start, val: value{i: n}}
}

func (p *parser) is(op string) bool { return p.tok.kind == tOp && p.tok.text == op }

func (p *parser) unexpected() error {
	if p.tok.kind == tEOF {
		return errors.New("unexpected end of equation")
	}
	return fmt.Errorf("unexpected %q at offset %d", p.tok.text, p.tok.pos)
}

// expr := term (("+" | "-") term)*
func (p *parser) expr() (value, error) {
	v, err := p.term()
	if err != nil {
		return v, err
	}
	for p.is("+") || p.is("-") {
		op := p.tok.text
		p.next()
		r, err := p.term()
		if err != nil {
			return v, err
		}
		if v, err = arith(op, v, r); err != nil {
			return v, err
		}
	}
	return v, nil
}

// term := factor (("*" | "/" | "//") factor)*
func (p *parser) term() (value, error) {
	v, err := p.factor()
	if err != nil {
		return v, err
	}
	for p.is("*") || p.is("/") || p.is("//") {
		op := p.tok.text
		p.next()
		r, err := p.factor()
		if err != nil {
			return v, err
		}
		if v, err = arith(op, v, r); err != nil {
			return v, err
		}
	}
	return v, nil
}

// factor := ("+" | "-") factor | power
func (p *parser) factor() (value, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return value{}, errors.New("too deeply nested")
	}
	if p.is("+") || p.is("-") {
		neg := p.is("-")
		p.next()
		v, err := p.factor()
		if err != nil || !neg {
			return v, err
		}
		if v.i != nil {
			return value{i: new(big.Int).Neg(v.i)}, nil
		}
		return value{f: -v.f}, nil
	}
	return p.power()
}

// power := atom ["**" factor]
func (p *parser) power() (value, error) {
	v, err := p.atom()
	if err != nil {
		return v, err
	}
	if p.is("**") {
		p.next()
		e, err := p.factor()
		if err != nil {
			return v, err
		}
		return arith("**", v, e)
	}
	return v, nil
}

// atom := number | "(" expr ")"
func (p *parser) atom() (value, error) {
	switch {
	case p.tok.kind == tNum:
		v := p.tok.val
		p.next()
		return v, nil
	case p.is("("):
		p.next()
		v, err := p.expr()
		if err != nil {
			return v, err
		}
		if !p.is(")") {
			return v, p.unexpected()
		}
		p.next()
		return v, nil
	}
	return value{}, p.unexpected()
}

var errDivZero = errors.New("division by zero")

func arith(op string, a, b value) (value, error) {
	if a.i != nil && b.i != nil {
		return intArith(op, a.i, b.i)
	}
	x, err := a.float()
	if err != nil {
		return value{}, err
	}
	y, err := b.float()
	if err != nil {
		return value{}, err
	}
	switch op {
	case "+":
		return value{f: x + y}, nil
	case "-":
		return value{f: x - y}, nil
	case "*":
		return value{f: x * y}, nil
	case "/":
		if y == 0 {
			return value{}, errDivZero
		}
		return value{f: x / y}, nil
	case "//":
		if y == 0 {
			return value{}, errDivZero
		}
		return value{f: floorDiv(x, y)}, nil
	case "**":
		return floatPow(x, y)
	}
	return value{}, fmt.Errorf("unknown operator %q", op)
}

// floorDiv is Python's float //: it derives the quotient from the exact
// remainder (fmod), so 4433445 // 0.2 is 22167224, not the 22167225 that
// rounding x/y first would give.
func floorDiv(x, y float64) float64 {
	mod := math.Mod(x, y)
	div := (x - mod) / y
	if mod != 0 && (y < 0) != (mod < 0) {
		div--
	}
	if div == 0 {
		return math.Copysign(0, x/y)
	}
	f := math.Floor(div)
	if div-f > 0.5 {
		f++
	}
	return f
}

func floatPow(x, y float64) (value, error) {
	if x == 0 && y < 0 {
		return value{}, errors.New("0.0 cannot be raised to a negative power")
	}
	if x < 0 && y != math.Trunc(y) {
		// Python returns a complex number here; it can never equal a
		// real target, so treating it as a failure gives the same reward.
		return value{}, errors.New("negative number raised to a fractional power")
	}
	r := math.Pow(x, y)
	if math.IsInf(r, 0) {
		return value{}, errors.New("numerical result out of range")
	}
	return value{f: r}, nil
}

func intArith(op string, a, b *big.Int) (value, error) {
	r := new(big.Int)
	switch op {
	case "+":
		r.Add(a, b)
	case "-":
		r.Sub(a, b)
	case "*":
		if a.BitLen()+b.BitLen() > maxBits {
			return value{}, errTooBig
		}
		r.Mul(a, b)
	case "/":
		if b.Sign() == 0 {
			return value{}, errDivZero
		}
		// Python's int/int is correctly rounded, which big.Rat gives.
		f, _ := new(big.Rat).SetFrac(a, b).Float64()
		if math.IsInf(f, 0) {
			return value{}, errors.New("integer division result too large for a float")
		}
		return value{f: f}, nil
	case "//":
		if b.Sign() == 0 {
			return value{}, errDivZero
		}
		q, m := new(big.Int).QuoRem(a, b, new(big.Int))
		if m.Sign() != 0 && (m.Sign() < 0) != (b.Sign() < 0) {
			q.Sub(q, big.NewInt(1)) // floor, not truncation
		}
		return value{i: q}, nil
	case "**":
		if b.Sign() < 0 {
			x, _ := new(big.Float).SetInt(a).Float64()
			y, _ := new(big.Float).SetInt(b).Float64()
			return floatPow(x, y)
		}
		if a.CmpAbs(big.NewInt(1)) <= 0 || b.Sign() == 0 {
			// 0, 1 and -1 stay small whatever the exponent.
			if b.Sign() == 0 {
				return value{i: big.NewInt(1)}, nil
			}
			if a.Sign() < 0 && b.Bit(0) == 0 {
				return value{i: big.NewInt(1)}, nil
			}
			return value{i: new(big.Int).Set(a)}, nil
		}
		if !b.IsInt64() || b.Int64() > maxBits || int64(a.BitLen()-1)*b.Int64() > maxBits {
			return value{}, errTooBig
		}
		r.Exp(a, b, nil)
	default:
		return value{}, fmt.Errorf("unknown operator %q", op)
	}
	if r.BitLen() > maxBits {
		return value{}, errTooBig
	}
	return value{i: r}, nil
}
