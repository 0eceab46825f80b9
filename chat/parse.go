package chat

import (
	"fmt"
	"math/big"
	"strconv"
)

// Statement nodes.
type (
	stmt interface{ stmtLine() int }

	dataStmt struct {
		line int
		text string
	}
	outputStmt struct {
		line int
		expr expr
	}
	ifStmt struct {
		line   int
		conds  []expr   // if and elif conditions
		bodies [][]stmt // one per cond
		els    []stmt
	}
	forStmt struct {
		line    int
		targets []string
		iter    expr
		filter  expr
		body    []stmt
		els     []stmt
	}
	setStmt struct {
		line    int
		targets []string // several for tuple unpacking
		attr    string   // set ns.attr = ...
		value   expr
		body    []stmt // block set
	}
	macroStmt struct {
		line     int
		name     string
		params   []string
		defaults []expr // aligned with params; nil = required
		body     []stmt
	}
	loopCtlStmt struct {
		line int
		brk  bool
	}
	blockStmt struct { // {% generation %}: rendered as is
		line int
		body []stmt
	}
)

func (s *dataStmt) stmtLine() int    { return s.line }
func (s *outputStmt) stmtLine() int  { return s.line }
func (s *ifStmt) stmtLine() int      { return s.line }
func (s *forStmt) stmtLine() int     { return s.line }
func (s *setStmt) stmtLine() int     { return s.line }
func (s *macroStmt) stmtLine() int   { return s.line }
func (s *loopCtlStmt) stmtLine() int { return s.line }
func (s *blockStmt) stmtLine() int   { return s.line }

// Expression nodes.
type (
	expr interface{ exprLine() int }

	constExpr struct {
		line int
		val  any
	}
	nameExpr struct {
		line int
		name string
	}
	listExpr struct {
		line  int
		items []expr
		tuple bool
	}
	dictExpr struct {
		line       int
		keys, vals []expr
	}
	attrExpr struct {
		line int
		obj  expr
		name string
	}
	indexExpr struct {
		line  int
		obj   expr
		index expr
	}
	sliceExpr struct {
		line              int
		obj               expr
		start, stop, step expr // nil when omitted
	}
	callExpr struct {
		line   int
		fn     expr
		args   []expr
		kwName []string
		kwVal  []expr
	}
	filterExpr struct {
		line   int
		obj    expr
		name   string
		args   []expr
		kwName []string
		kwVal  []expr
	}
	testExpr struct {
		line   int
		obj    expr
		name   string
		negate bool
		args   []expr
	}
	unaryExpr struct {
		line int
		op   string
		x    expr
	}
	binExpr struct {
		line int
		op   string
		l, r expr
	}
	compareExpr struct {
		line  int
		first expr
		ops   []string
		rest  []expr
	}
	condExpr struct {
		line          int
		cond, yes, no expr // no may be nil
	}
)

func (e *constExpr) exprLine() int   { return e.line }
func (e *nameExpr) exprLine() int    { return e.line }
func (e *listExpr) exprLine() int    { return e.line }
func (e *dictExpr) exprLine() int    { return e.line }
func (e *attrExpr) exprLine() int    { return e.line }
func (e *indexExpr) exprLine() int   { return e.line }
func (e *sliceExpr) exprLine() int   { return e.line }
func (e *callExpr) exprLine() int    { return e.line }
func (e *filterExpr) exprLine() int  { return e.line }
func (e *testExpr) exprLine() int    { return e.line }
func (e *unaryExpr) exprLine() int   { return e.line }
func (e *binExpr) exprLine() int     { return e.line }
func (e *compareExpr) exprLine() int { return e.line }
func (e *condExpr) exprLine() int    { return e.line }

type parser struct {
	toks []token
	pos  int
}

func parse(src string) ([]stmt, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	body, end, err := p.parseBody(nil)
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, p.errorf("unexpected {%% %s %%}", end)
	}
	return body, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tkEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(format string, args ...any) error {
	return &TemplateError{Line: p.peek().line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tkOp && t.val == op
}

func (p *parser) isName(name string) bool {
	t := p.peek()
	return t.kind == tkName && t.val == name
}

func (p *parser) expectOp(op string) error {
	if !p.isOp(op) {
		return p.errorf("expected '%s', found %s", op, p.peek())
	}
	p.next()
	return nil
}

func (p *parser) expectKind(k tokKind, what string) (token, error) {
	if p.peek().kind != k {
		return token{}, p.errorf("expected %s, found %s", what, p.peek())
	}
	return p.next(), nil
}

// parseBody parses statements until one of the end tags; it returns the tag
// name that stopped it (its tkBlockBegin and name already consumed) or "" at EOF.
func (p *parser) parseBody(ends []string) ([]stmt, string, error) {
	var out []stmt
	for {
		t := p.peek()
		switch t.kind {
		case tkEOF:
			if len(ends) > 0 {
				return nil, "", p.errorf("unexpected end of template: missing {%% %s %%}", ends[len(ends)-1])
			}
			return out, "", nil
		case tkData:
			p.next()
			out = append(out, &dataStmt{line: t.line, text: t.val})
		case tkVarBegin:
			p.next()
			e, err := p.parseTupleExpr()
			if err != nil {
				return nil, "", err
			}
			if _, err := p.expectKind(tkVarEnd, "'}}'"); err != nil {
				return nil, "", err
			}
			out = append(out, &outputStmt{line: t.line, expr: e})
		case tkBlockBegin:
			p.next()
			nt, err := p.expectKind(tkName, "a statement name")
			if err != nil {
				return nil, "", err
			}
			for _, e := range ends {
				if nt.val == e {
					return out, nt.val, nil
				}
			}
			s, err := p.parseStatement(nt)
			if err != nil {
				return nil, "", err
			}
			if s != nil {
				out = append(out, s)
			}
		default:
			return nil, "", p.errorf("unexpected %s", t)
		}
	}
}

func (p *parser) endTag() error {
	_, err := p.expectKind(tkBlockEnd, "'%}'")
	return err
}

func (p *parser) parseStatement(nt token) (stmt, error) {
	line := nt.line
	switch nt.val {
	case "if":
		s := &ifStmt{line: line}
		for {
			cond, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if err := p.endTag(); err != nil {
				return nil, err
			}
			body, end, err := p.parseBody([]string{"elif", "else", "endif"})
			if err != nil {
				return nil, err
			}
			s.conds = append(s.conds, cond)
			s.bodies = append(s.bodies, body)
			switch end {
			case "elif":
				continue
			case "else":
				if err := p.endTag(); err != nil {
					return nil, err
				}
				els, _, err := p.parseBody([]string{"endif"})
				if err != nil {
					return nil, err
				}
				s.els = els
			}
			return s, p.endTag()
		}
	case "for":
		s := &forStmt{line: line}
		paren := p.isOp("(")
		if paren {
			p.next()
		}
		for {
			t, err := p.expectKind(tkName, "a loop variable name")
			if err != nil {
				return nil, err
			}
			s.targets = append(s.targets, t.val)
			if !p.isOp(",") {
				break
			}
			p.next()
		}
		if paren {
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
		}
		if !p.isName("in") {
			return nil, p.errorf("expected 'in' in for loop, found %s", p.peek())
		}
		p.next()
		iter, err := p.parseTupleNoCond()
		if err != nil {
			return nil, err
		}
		s.iter = iter
		if p.isName("if") {
			p.next()
			if s.filter, err = p.parseExpr(); err != nil {
				return nil, err
			}
		}
		if err := p.endTag(); err != nil {
			return nil, err
		}
		body, end, err := p.parseBody([]string{"else", "endfor"})
		if err != nil {
			return nil, err
		}
		s.body = body
		if end == "else" {
			if err := p.endTag(); err != nil {
				return nil, err
			}
			if s.els, _, err = p.parseBody([]string{"endfor"}); err != nil {
				return nil, err
			}
		}
		return s, p.endTag()
	case "set":
		s := &setStmt{line: line}
		for {
			t, err := p.expectKind(tkName, "a variable name")
			if err != nil {
				return nil, err
			}
			s.targets = append(s.targets, t.val)
			if p.isOp(".") && len(s.targets) == 1 {
				p.next()
				a, err := p.expectKind(tkName, "an attribute name")
				if err != nil {
					return nil, err
				}
				s.attr = a.val
				break
			}
			if !p.isOp(",") {
				break
			}
			p.next()
		}
		if p.peek().kind == tkBlockEnd && len(s.targets) == 1 && s.attr == "" {
			p.next()
			body, _, err := p.parseBody([]string{"endset"})
			if err != nil {
				return nil, err
			}
			s.body = body
			return s, p.endTag()
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v, err := p.parseTupleExpr()
		if err != nil {
			return nil, err
		}
		s.value = v
		return s, p.endTag()
	case "macro":
		name, err := p.expectKind(tkName, "a macro name")
		if err != nil {
			return nil, err
		}
		s := &macroStmt{line: line, name: name.val}
		if err := p.expectOp("("); err != nil {
			return nil, err
		}
		for !p.isOp(")") {
			pn, err := p.expectKind(tkName, "a parameter name")
			if err != nil {
				return nil, err
			}
			var def expr
			if p.isOp("=") {
				p.next()
				if def, err = p.parseExpr(); err != nil {
					return nil, err
				}
			}
			s.params = append(s.params, pn.val)
			s.defaults = append(s.defaults, def)
			if !p.isOp(",") {
				break
			}
			p.next()
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		if err := p.endTag(); err != nil {
			return nil, err
		}
		body, _, err := p.parseBody([]string{"endmacro"})
		if err != nil {
			return nil, err
		}
		s.body = body
		return s, p.endTag()
	case "break", "continue":
		return &loopCtlStmt{line: line, brk: nt.val == "break"}, p.endTag()
	case "generation":
		if err := p.endTag(); err != nil {
			return nil, err
		}
		body, _, err := p.parseBody([]string{"endgeneration"})
		if err != nil {
			return nil, err
		}
		return &blockStmt{line: line, body: body}, p.endTag()
	}
	return nil, &TemplateError{Line: line, Msg: fmt.Sprintf("unknown or unsupported tag %q", nt.val)}
}

// parseTupleExpr parses "a, b" as a tuple (as Jinja does in {{ }} and set).
func (p *parser) parseTupleExpr() (expr, error) {
	return p.parseTuple(true)
}

func (p *parser) parseTupleNoCond() (expr, error) {
	return p.parseTuple(false)
}

func (p *parser) parseTuple(withCond bool) (expr, error) {
	line := p.peek().line
	parseOne := p.parseExpr
	if !withCond {
		parseOne = p.parseOr
	}
	first, err := parseOne()
	if err != nil {
		return nil, err
	}
	if !p.isOp(",") {
		return first, nil
	}
	items := []expr{first}
	for p.isOp(",") {
		p.next()
		if k := p.peek(); k.kind == tkBlockEnd || k.kind == tkVarEnd || k.kind == tkName && k.val == "if" {
			break
		}
		e, err := parseOne()
		if err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	return &listExpr{line: line, items: items, tuple: true}, nil
}

func (p *parser) parseExpr() (expr, error) {
	line := p.peek().line
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.isName("if") {
		p.next()
		cond, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		c := &condExpr{line: line, cond: cond, yes: e}
		if p.isName("else") {
			p.next()
			if c.no, err = p.parseExpr(); err != nil {
				return nil, err
			}
		}
		e = c
	}
	return e, nil
}

func (p *parser) parseOr() (expr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isName("or") {
		t := p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &binExpr{line: t.line, op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseAnd() (expr, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.isName("and") {
		t := p.next()
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &binExpr{line: t.line, op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *parser) parseNot() (expr, error) {
	if p.isName("not") {
		t := p.next()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{line: t.line, op: "not", x: x}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.peek().line
	first, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	c := &compareExpr{line: line, first: first}
	for {
		t := p.peek()
		var op string
		switch {
		case t.kind == tkOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case t.kind == tkName && t.val == "in":
			op = "in"
			p.next()
		case t.kind == tkName && t.val == "not" && p.toks[p.pos+1].kind == tkName && p.toks[p.pos+1].val == "in":
			op = "not in"
			p.next()
			p.next()
		}
		if op == "" {
			break
		}
		r, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		c.ops = append(c.ops, op)
		c.rest = append(c.rest, r)
	}
	if len(c.ops) == 0 {
		return first, nil
	}
	return c, nil
}

func (p *parser) parseBinLevel(ops []string, next func() (expr, error)) (expr, error) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		matched := false
		for _, op := range ops {
			if t.kind == tkOp && t.val == op {
				matched = true
			}
		}
		if !matched {
			return l, nil
		}
		p.next()
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &binExpr{line: t.line, op: t.val, l: l, r: r}
	}
}

func (p *parser) parseMath1() (expr, error) {
	return p.parseBinLevel([]string{"+", "-"}, p.parseConcat)
}

func (p *parser) parseConcat() (expr, error) {
	return p.parseBinLevel([]string{"~"}, p.parseMath2)
}

func (p *parser) parseMath2() (expr, error) {
	return p.parseBinLevel([]string{"*", "/", "//", "%"}, p.parsePow)
}

func (p *parser) parsePow() (expr, error) {
	return p.parseBinLevel([]string{"**"}, func() (expr, error) { return p.parseUnary(true) })
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	t := p.peek()
	var e expr
	var err error
	if t.kind == tkOp && (t.val == "-" || t.val == "+") {
		p.next()
		x, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		e = &unaryExpr{line: t.line, op: t.val, x: x}
	} else {
		if e, err = p.parsePrimary(); err != nil {
			return nil, err
		}
		if e, err = p.parsePostfix(e); err != nil {
			return nil, err
		}
	}
	if withFilter {
		return p.parseFilterExpr(e)
	}
	return e, nil
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.next()
	switch t.kind {
	case tkName:
		switch t.val {
		case "true", "True":
			return &constExpr{line: t.line, val: true}, nil
		case "false", "False":
			return &constExpr{line: t.line, val: false}, nil
		case "none", "None":
			return &constExpr{line: t.line, val: nil}, nil
		}
		return &nameExpr{line: t.line, name: t.val}, nil
	case tkString:
		s := t.val
		// Adjacent string literals concatenate, as in Python.
		for p.peek().kind == tkString {
			s += p.next().val
		}
		return &constExpr{line: t.line, val: s}, nil
	case tkInt:
		if v, err := strconv.ParseInt(t.val, 10, 64); err == nil {
			return &constExpr{line: t.line, val: v}, nil
		}
		b, ok := new(big.Int).SetString(t.val, 10)
		if !ok {
			return nil, &TemplateError{Line: t.line, Msg: "bad integer literal " + t.val}
		}
		return &constExpr{line: t.line, val: b}, nil
	case tkFloat:
		v, err := strconv.ParseFloat(t.val, 64)
		if err != nil {
			return nil, &TemplateError{Line: t.line, Msg: "bad float literal " + t.val}
		}
		return &constExpr{line: t.line, val: v}, nil
	case tkOp:
		switch t.val {
		case "(":
			if p.isOp(")") {
				p.next()
				return &listExpr{line: t.line, tuple: true}, nil
			}
			e, err := p.parseTupleExpr()
			if err != nil {
				return nil, err
			}
			return e, p.expectOp(")")
		case "[":
			l := &listExpr{line: t.line}
			for !p.isOp("]") {
				e, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, e)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return l, p.expectOp("]")
		case "{":
			d := &dictExpr{line: t.line}
			for !p.isOp("}") {
				k, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			return d, p.expectOp("}")
		}
	}
	return nil, &TemplateError{Line: t.line, Msg: fmt.Sprintf("unexpected %s in expression", t)}
}

func (p *parser) parsePostfix(e expr) (expr, error) {
	for {
		t := p.peek()
		if t.kind != tkOp {
			return e, nil
		}
		switch t.val {
		case ".":
			p.next()
			n := p.next()
			switch n.kind {
			case tkName:
				e = &attrExpr{line: t.line, obj: e, name: n.val}
			case tkInt:
				iv, _ := strconv.ParseInt(n.val, 10, 64)
				e = &indexExpr{line: t.line, obj: e, index: &constExpr{line: t.line, val: iv}}
			default:
				return nil, &TemplateError{Line: t.line, Msg: fmt.Sprintf("expected an attribute name after '.', found %s", n)}
			}
		case "[":
			p.next()
			var err error
			if e, err = p.parseSubscript(e, t.line); err != nil {
				return nil, err
			}
		case "(":
			p.next()
			c := &callExpr{line: t.line, fn: e}
			if err := p.parseArgs(&c.args, &c.kwName, &c.kwVal); err != nil {
				return nil, err
			}
			e = c
		default:
			return e, nil
		}
	}
}

func (p *parser) parseSubscript(obj expr, line int) (expr, error) {
	var parts [3]expr
	n := 0
	isSlice := false
	for {
		if p.isOp(":") {
			isSlice = true
			p.next()
			n++
			if n > 2 {
				return nil, p.errorf("too many ':' in slice")
			}
			continue
		}
		if p.isOp("]") {
			p.next()
			break
		}
		if parts[n] != nil {
			return nil, p.errorf("expected ':' or ']' in subscript, found %s", p.peek())
		}
		e, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		parts[n] = e
	}
	if !isSlice {
		if parts[0] == nil {
			return nil, &TemplateError{Line: line, Msg: "empty subscript"}
		}
		return &indexExpr{line: line, obj: obj, index: parts[0]}, nil
	}
	return &sliceExpr{line: line, obj: obj, start: parts[0], stop: parts[1], step: parts[2]}, nil
}

// parseArgs parses call arguments after "(" up to and including ")".
func (p *parser) parseArgs(args *[]expr, kwName *[]string, kwVal *[]expr) error {
	for !p.isOp(")") {
		if p.peek().kind == tkName && p.toks[p.pos+1].kind == tkOp && p.toks[p.pos+1].val == "=" {
			name := p.next().val
			p.next()
			v, err := p.parseExpr()
			if err != nil {
				return err
			}
			*kwName = append(*kwName, name)
			*kwVal = append(*kwVal, v)
		} else {
			if len(*kwName) > 0 {
				return p.errorf("positional argument after keyword argument")
			}
			v, err := p.parseExpr()
			if err != nil {
				return err
			}
			*args = append(*args, v)
		}
		if !p.isOp(",") {
			break
		}
		p.next()
	}
	return p.expectOp(")")
}

func (p *parser) parseFilterExpr(e expr) (expr, error) {
	for {
		switch {
		case p.isOp("|"):
			p.next()
			n, err := p.expectKind(tkName, "a filter name")
			if err != nil {
				return nil, err
			}
			name := n.val
			for p.isOp(".") { // dotted filter names
				p.next()
				m, err := p.expectKind(tkName, "a filter name")
				if err != nil {
					return nil, err
				}
				name += "." + m.val
			}
			f := &filterExpr{line: n.line, obj: e, name: name}
			if p.isOp("(") {
				p.next()
				if err := p.parseArgs(&f.args, &f.kwName, &f.kwVal); err != nil {
					return nil, err
				}
			}
			e = f
		case p.isName("is"):
			t := p.next()
			neg := false
			if p.isName("not") {
				p.next()
				neg = true
			}
			n, err := p.expectKind(tkName, "a test name")
			if err != nil {
				return nil, err
			}
			te := &testExpr{line: t.line, obj: e, name: n.val, negate: neg}
			nt := p.peek()
			switch {
			case nt.kind == tkOp && nt.val == "(":
				p.next()
				var kwn []string
				var kwv []expr
				if err := p.parseArgs(&te.args, &kwn, &kwv); err != nil {
					return nil, err
				}
			case nt.kind == tkString || nt.kind == tkInt || nt.kind == tkFloat ||
				nt.kind == tkOp && nt.val == "[" ||
				nt.kind == tkName && !map[string]bool{"else": true, "or": true, "and": true, "if": true, "in": true, "not": true, "is": true}[nt.val]:
				arg, err := p.parsePrimary()
				if err != nil {
					return nil, err
				}
				if arg, err = p.parsePostfix(arg); err != nil {
					return nil, err
				}
				te.args = []expr{arg}
			}
			e = te
		case p.isOp("("):
			p.next()
			c := &callExpr{line: p.peek().line, fn: e}
			if err := p.parseArgs(&c.args, &c.kwName, &c.kwVal); err != nil {
				return nil, err
			}
			e = c
		default:
			return e, nil
		}
	}
}
