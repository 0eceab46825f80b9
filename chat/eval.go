package chat

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// TemplateError is a parse or render error; Name is the template's name and
// Line its 1-based source line.
type TemplateError struct {
	Name string
	Line int
	Msg  string
}

func (e *TemplateError) Error() string {
	name := e.Name
	if name == "" {
		name = "template"
	}
	return fmt.Sprintf("chat template %q line %d: %s", name, e.Line, e.Msg)
}

var (
	errBreak    = errors.New("break outside loop")
	errContinue = errors.New("continue outside loop")
)

// raised marks errors that already carry a line number.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

type scope struct {
	vars   map[string]any
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{vars: map[string]any{}, parent: parent} }

func (s *scope) lookup(name string) (any, bool) {
	for c := s; c != nil; c = c.parent {
		if v, ok := c.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

type renderer struct {
	now   func() time.Time
	steps int
}

// maxSteps bounds the work of one render so a hostile template cannot spin
// forever (there are no while loops, but range() can be huge).
const maxSteps = 50_000_000

// maxStringBytes caps strings built by a template (doubling in a loop would
// otherwise exhaust memory long before maxSteps).
const maxStringBytes = 1 << 25

func atLine(line int, err error) error {
	if err == nil {
		return nil
	}
	var le *lineError
	if errors.As(err, &le) || err == errBreak || err == errContinue {
		return err
	}
	return &lineError{line: line, err: err}
}

func (r *renderer) execBody(out *strings.Builder, body []stmt, sc *scope) error {
	for _, s := range body {
		if err := r.exec(out, s, sc); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) exec(out *strings.Builder, s stmt, sc *scope) error {
	r.steps++
	if r.steps > maxSteps {
		return atLine(s.stmtLine(), fmt.Errorf("template exceeded %d steps", maxSteps))
	}
	switch s := s.(type) {
	case *dataStmt:
		out.WriteString(s.text)
	case *outputStmt:
		v, err := r.eval(s.expr, sc)
		if err != nil {
			return atLine(s.line, err)
		}
		out.WriteString(toStr(v))
		if out.Len() > maxStringBytes {
			return atLine(s.line, errors.New("output too large"))
		}
	case *ifStmt:
		for i, c := range s.conds {
			v, err := r.eval(c, sc)
			if err != nil {
				return atLine(s.line, err)
			}
			if truthy(v) {
				return r.execBody(out, s.bodies[i], sc)
			}
		}
		return r.execBody(out, s.els, sc)
	case *forStmt:
		return r.execFor(out, s, sc)
	case *setStmt:
		return atLine(s.line, r.execSet(s, sc))
	case *macroStmt:
		sc.vars[s.name] = r.makeMacro(s, sc)
	case *loopCtlStmt:
		if s.brk {
			return errBreak
		}
		return errContinue
	case *blockStmt:
		return r.execBody(out, s.body, sc)
	}
	return nil
}

func (r *renderer) execSet(s *setStmt, sc *scope) error {
	var v any
	if s.body != nil {
		var b strings.Builder
		if err := r.execBody(&b, s.body, sc); err != nil {
			return err
		}
		v = b.String()
	} else {
		var err error
		if v, err = r.eval(s.value, sc); err != nil {
			return err
		}
	}
	if s.attr != "" {
		obj, _ := sc.lookup(s.targets[0])
		ns, ok := obj.(*namespace)
		if !ok {
			return fmt.Errorf("cannot assign attribute on non-namespace object %s", s.targets[0])
		}
		ns.d.Set(s.attr, v)
		return nil
	}
	if len(s.targets) == 1 {
		sc.vars[s.targets[0]] = v
		return nil
	}
	items, err := iterate(v)
	if err != nil {
		return err
	}
	if len(items) != len(s.targets) {
		return fmt.Errorf("cannot unpack %d values into %d names", len(items), len(s.targets))
	}
	for i, t := range s.targets {
		sc.vars[t] = items[i]
	}
	return nil
}

func (r *renderer) execFor(out *strings.Builder, s *forStmt, sc *scope) error {
	it, err := r.eval(s.iter, sc)
	if err != nil {
		return atLine(s.line, err)
	}
	items, err := iterate(it)
	if err != nil {
		return atLine(s.line, err)
	}
	bind := func(target *scope, item any) error {
		if len(s.targets) == 1 {
			target.vars[s.targets[0]] = item
			return nil
		}
		parts, err := iterate(item)
		if err != nil {
			return err
		}
		if len(parts) != len(s.targets) {
			return fmt.Errorf("cannot unpack %d values into %d loop variables", len(parts), len(s.targets))
		}
		for i, t := range s.targets {
			target.vars[t] = parts[i]
		}
		return nil
	}
	if s.filter != nil {
		kept := items[:0:0]
		for _, item := range items {
			fs := newScope(sc)
			if err := bind(fs, item); err != nil {
				return atLine(s.line, err)
			}
			v, err := r.eval(s.filter, fs)
			if err != nil {
				return atLine(s.line, err)
			}
			if truthy(v) {
				kept = append(kept, item)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return r.execBody(out, s.els, sc)
	}
	n := int64(len(items))
	for i, item := range items {
		is := newScope(sc)
		if err := bind(is, item); err != nil {
			return atLine(s.line, err)
		}
		loop := NewDict()
		idx := int64(i)
		loop.Set("index", idx+1)
		loop.Set("index0", idx)
		loop.Set("revindex", n-idx)
		loop.Set("revindex0", n-idx-1)
		loop.Set("first", i == 0)
		loop.Set("last", idx == n-1)
		loop.Set("length", n)
		loop.Set("depth", int64(1))
		loop.Set("depth0", int64(0))
		if i > 0 {
			loop.Set("previtem", items[i-1])
		} else {
			loop.Set("previtem", undefined{name: "previtem"})
		}
		if idx < n-1 {
			loop.Set("nextitem", items[i+1])
		} else {
			loop.Set("nextitem", undefined{name: "nextitem"})
		}
		pos := i
		loop.Set("cycle", callable(func(args []any, _ *Dict) (any, error) {
			if len(args) == 0 {
				return nil, errors.New("loop.cycle needs at least one argument")
			}
			return args[pos%len(args)], nil
		}))
		is.vars["loop"] = loop
		err := r.execBody(out, s.body, is)
		if err == errBreak {
			break
		}
		if err != nil && err != errContinue {
			return err
		}
	}
	return nil
}

func (r *renderer) makeMacro(s *macroStmt, defScope *scope) callable {
	return func(args []any, kw *Dict) (any, error) {
		ms := newScope(defScope)
		if len(args) > len(s.params) {
			return nil, fmt.Errorf("macro %s takes %d arguments, got %d", s.name, len(s.params), len(args))
		}
		for i, p := range s.params {
			switch {
			case i < len(args):
				ms.vars[p] = args[i]
			case kw != nil && kw.m[p] != nil || kw != nil && hasKey(kw, p):
				ms.vars[p] = kw.m[p]
			case s.defaults[i] != nil:
				v, err := r.eval(s.defaults[i], ms)
				if err != nil {
					return nil, err
				}
				ms.vars[p] = v
			default:
				ms.vars[p] = undefined{name: p}
			}
		}
		var b strings.Builder
		if err := r.execBody(&b, s.body, ms); err != nil {
			return nil, err
		}
		return b.String(), nil
	}
}

func hasKey(d *Dict, k string) bool { _, ok := d.m[k]; return ok }

// iterate lists the items a for loop sees.
func iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case tuple:
		return x, nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case *Dict:
		out := make([]any, len(x.keys))
		for i, k := range x.keys {
			out[i] = k
		}
		return out, nil
	case undefined:
		return nil, nil
	}
	return nil, fmt.Errorf("'%s' object is not iterable", typeName(v))
}

func (r *renderer) eval(e expr, sc *scope) (any, error) {
	switch e := e.(type) {
	case *constExpr:
		return e.val, nil
	case *nameExpr:
		if v, ok := sc.lookup(e.name); ok {
			return v, nil
		}
		return undefined{name: e.name}, nil
	case *listExpr:
		items := make([]any, len(e.items))
		for i, it := range e.items {
			v, err := r.eval(it, sc)
			if err != nil {
				return nil, err
			}
			items[i] = v
		}
		if e.tuple {
			return tuple(items), nil
		}
		return items, nil
	case *dictExpr:
		d := NewDict()
		for i := range e.keys {
			k, err := r.eval(e.keys[i], sc)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict keys must be strings here, got %s", typeName(k))
			}
			v, err := r.eval(e.vals[i], sc)
			if err != nil {
				return nil, err
			}
			d.Set(ks, v)
		}
		return d, nil
	case *attrExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		return getAttr(obj, e.name)
	case *indexExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		idx, err := r.eval(e.index, sc)
		if err != nil {
			return nil, err
		}
		return getItem(obj, idx)
	case *sliceExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		var parts [3]any
		for i, pe := range []expr{e.start, e.stop, e.step} {
			if pe == nil {
				continue
			}
			if parts[i], err = r.eval(pe, sc); err != nil {
				return nil, err
			}
		}
		return slice(obj, parts[0], parts[1], parts[2])
	case *callExpr:
		fn, err := r.eval(e.fn, sc)
		if err != nil {
			return nil, err
		}
		args, kw, err := r.evalArgs(e.args, e.kwName, e.kwVal, sc)
		if err != nil {
			return nil, err
		}
		f, ok := fn.(callable)
		if !ok {
			if u, isU := fn.(undefined); isU {
				return nil, fmt.Errorf("'%s' is undefined", u.name)
			}
			return nil, fmt.Errorf("'%s' object is not callable", typeName(fn))
		}
		return f(args, kw)
	case *filterExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		args, kw, err := r.evalArgs(e.args, e.kwName, e.kwVal, sc)
		if err != nil {
			return nil, err
		}
		return r.applyFilter(e.name, obj, args, kw)
	case *testExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		args, _, err := r.evalArgs(e.args, nil, nil, sc)
		if err != nil {
			return nil, err
		}
		ok, err := applyTest(e.name, obj, args)
		if err != nil {
			return nil, err
		}
		return ok != e.negate, nil
	case *unaryExpr:
		x, err := r.eval(e.x, sc)
		if err != nil {
			return nil, err
		}
		switch e.op {
		case "not":
			return !truthy(x), nil
		case "-":
			switch v := x.(type) {
			case int64:
				return -v, nil
			case float64:
				return -v, nil
			case bool:
				if v {
					return int64(-1), nil
				}
				return int64(0), nil
			case *big.Int:
				return new(big.Int).Neg(v), nil
			}
			return nil, fmt.Errorf("bad operand type for unary -: '%s'", typeName(x))
		default:
			switch x.(type) {
			case int64, float64, *big.Int:
				return x, nil
			}
			return nil, fmt.Errorf("bad operand type for unary +: '%s'", typeName(x))
		}
	case *binExpr:
		l, err := r.eval(e.l, sc)
		if err != nil {
			return nil, err
		}
		switch e.op {
		case "and":
			if !truthy(l) {
				return l, nil
			}
			return r.eval(e.r, sc)
		case "or":
			if truthy(l) {
				return l, nil
			}
			return r.eval(e.r, sc)
		}
		rv, err := r.eval(e.r, sc)
		if err != nil {
			return nil, err
		}
		return binOp(e.op, l, rv)
	case *compareExpr:
		l, err := r.eval(e.first, sc)
		if err != nil {
			return nil, err
		}
		for i, op := range e.ops {
			rv, err := r.eval(e.rest[i], sc)
			if err != nil {
				return nil, err
			}
			ok, err := compare(op, l, rv)
			if err != nil {
				return nil, err
			}
			if !ok {
				return false, nil
			}
			l = rv
		}
		return true, nil
	case *condExpr:
		c, err := r.eval(e.cond, sc)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return r.eval(e.yes, sc)
		}
		if e.no == nil {
			return undefined{}, nil
		}
		return r.eval(e.no, sc)
	}
	return nil, fmt.Errorf("internal: unknown expression %T", e)
}

func (r *renderer) evalArgs(args []expr, kwName []string, kwVal []expr, sc *scope) ([]any, *Dict, error) {
	out := make([]any, len(args))
	for i, a := range args {
		v, err := r.eval(a, sc)
		if err != nil {
			return nil, nil, err
		}
		out[i] = v
	}
	var kw *Dict
	if len(kwName) > 0 {
		kw = NewDict()
		for i, n := range kwName {
			v, err := r.eval(kwVal[i], sc)
			if err != nil {
				return nil, nil, err
			}
			kw.Set(n, v)
		}
	}
	return out, kw, nil
}

func undefinedErr(u undefined) error {
	if u.name == "" {
		return errors.New("value is undefined")
	}
	return fmt.Errorf("'%s' is undefined", u.name)
}

func getAttr(obj any, name string) (any, error) {
	switch x := obj.(type) {
	case undefined:
		return nil, undefinedErr(x)
	case *Dict:
		if m := dictMethod(x, name); m != nil {
			return m, nil
		}
		if v, ok := x.m[name]; ok {
			return v, nil
		}
	case *namespace:
		if v, ok := x.d.m[name]; ok {
			return v, nil
		}
	case string:
		if m := strMethod(x, name); m != nil {
			return m, nil
		}
	case []any:
		if m := listMethod(x, name); m != nil {
			return m, nil
		}
	case tuple:
		if m := listMethod(x, name); m != nil {
			return m, nil
		}
	}
	return undefined{name: name}, nil
}

func getItem(obj any, idx any) (any, error) {
	switch x := obj.(type) {
	case undefined:
		return nil, undefinedErr(x)
	case *Dict:
		if k, ok := idx.(string); ok {
			if v, ok := x.m[k]; ok {
				return v, nil
			}
			if m := dictMethod(x, k); m != nil {
				return m, nil
			}
		}
	case *namespace:
		if k, ok := idx.(string); ok {
			if v, ok := x.d.m[k]; ok {
				return v, nil
			}
		}
	case []any, tuple, string:
		if k, ok := idx.(string); ok {
			return getAttr(obj, k)
		}
		i, ok := toIndex(idx)
		if !ok {
			return nil, fmt.Errorf("%s indices must be integers, not %s", typeName(obj), typeName(idx))
		}
		var items []any
		if s, isStr := x.(string); isStr {
			rs := []rune(s)
			if i < 0 {
				i += len(rs)
			}
			if i >= 0 && i < len(rs) {
				return string(rs[i]), nil
			}
			break
		}
		items, _ = iterate(x)
		if i < 0 {
			i += len(items)
		}
		if i >= 0 && i < len(items) {
			return items[i], nil
		}
	}
	return undefined{name: toStr(idx)}, nil
}

func toIndex(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func slice(obj, start, stop, step any) (any, error) {
	get := func(v any, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		if _, u := v.(undefined); u {
			return def, nil
		}
		i, ok := toIndex(v)
		if !ok {
			return 0, fmt.Errorf("slice indices must be integers or None, not %s", typeName(v))
		}
		return i, nil
	}
	var items []any
	var rs []rune
	isStr := false
	switch x := obj.(type) {
	case string:
		rs = []rune(x)
		isStr = true
	case []any:
		items = x
	case tuple:
		items = x
	case undefined:
		return nil, undefinedErr(x)
	default:
		return nil, fmt.Errorf("'%s' object is not subscriptable", typeName(obj))
	}
	n := len(items)
	if isStr {
		n = len(rs)
	}
	st, err := get(step, 1)
	if err != nil {
		return nil, err
	}
	if st == 0 {
		return nil, errors.New("slice step cannot be zero")
	}
	// Python's slice.indices clamping.
	lo, hi := 0, n
	if st < 0 {
		lo, hi = -1, n-1
	}
	clamp := func(v any, def int) (int, error) {
		i, err := get(v, def)
		if err != nil || v == nil {
			return i, err
		}
		if _, u := v.(undefined); u {
			return def, nil
		}
		if i < 0 {
			i += n
			if i < lo {
				i = lo
			}
		} else if i > hi {
			i = hi
		}
		return i, nil
	}
	defStart, defStop := 0, n
	if st < 0 {
		defStart, defStop = n-1, -1
	}
	b, err := clamp(start, defStart)
	if err != nil {
		return nil, err
	}
	e, err := clamp(stop, defStop)
	if err != nil {
		return nil, err
	}
	var idx []int
	for i := b; st > 0 && i < e || st < 0 && i > e; i += st {
		idx = append(idx, i)
	}
	if isStr {
		out := make([]rune, len(idx))
		for k, i := range idx {
			out[k] = rs[i]
		}
		return string(out), nil
	}
	out := make([]any, len(idx))
	for k, i := range idx {
		out[k] = items[i]
	}
	if _, ok := obj.(tuple); ok {
		return tuple(out), nil
	}
	return out, nil
}

func isNumber(v any) bool {
	switch v.(type) {
	case int64, float64, bool:
		return true
	}
	return false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f
	}
	return 0
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

func bothInts(a, b any) bool {
	_, fa := a.(float64)
	_, fb := b.(float64)
	return !fa && !fb
}

func binOp(op string, l, r any) (any, error) {
	if u, ok := l.(undefined); ok && op != "~" {
		return nil, undefinedErr(u)
	}
	if u, ok := r.(undefined); ok && op != "~" {
		return nil, undefinedErr(u)
	}
	if op == "~" {
		a, b := toStr(l), toStr(r)
		if len(a)+len(b) > maxStringBytes {
			return nil, errors.New("string too large")
		}
		return a + b, nil
	}
	if isNumber(l) && isNumber(r) {
		ints := bothInts(l, r)
		a, b := toInt(l), toInt(r)
		fa, fb := toFloat(l), toFloat(r)
		switch op {
		case "+":
			if ints {
				return a + b, nil
			}
			return fa + fb, nil
		case "-":
			if ints {
				return a - b, nil
			}
			return fa - fb, nil
		case "*":
			if ints {
				return a * b, nil
			}
			return fa * fb, nil
		case "/":
			if fb == 0 {
				return nil, errors.New("division by zero")
			}
			return fa / fb, nil
		case "//":
			if fb == 0 {
				return nil, errors.New("integer division or modulo by zero")
			}
			if ints {
				q := a / b
				if (a%b != 0) && ((a < 0) != (b < 0)) {
					q--
				}
				return q, nil
			}
			return math.Floor(fa / fb), nil
		case "%":
			if fb == 0 {
				return nil, errors.New("integer division or modulo by zero")
			}
			if ints {
				m := a % b
				if m != 0 && (m < 0) != (b < 0) {
					m += b
				}
				return m, nil
			}
			m := math.Mod(fa, fb)
			if m != 0 && (m < 0) != (fb < 0) {
				m += fb
			}
			return m, nil
		case "**":
			if ints && b >= 0 {
				res := int64(1)
				for i := int64(0); i < b; i++ {
					res *= a
				}
				return res, nil
			}
			return math.Pow(fa, fb), nil
		}
	}
	switch op {
	case "+":
		switch x := l.(type) {
		case string:
			if y, ok := r.(string); ok {
				if len(x)+len(y) > maxStringBytes {
					return nil, errors.New("string too large")
				}
				return x + y, nil
			}
			return nil, fmt.Errorf("can only concatenate str (not \"%s\") to str", typeName(r))
		case []any:
			if y, ok := r.([]any); ok {
				return append(append([]any{}, x...), y...), nil
			}
			return nil, fmt.Errorf("can only concatenate list (not \"%s\") to list", typeName(r))
		case tuple:
			if y, ok := r.(tuple); ok {
				return append(append(tuple{}, x...), y...), nil
			}
		}
	case "*":
		s, n := l, r
		if isNumber(l) {
			s, n = r, l
		}
		if _, isF := n.(float64); !isF && isNumber(n) {
			k := int(toInt(n))
			if k < 0 {
				k = 0
			}
			switch x := s.(type) {
			case string:
				if len(x)*k > 1<<26 {
					return nil, errors.New("string repetition too large")
				}
				return strings.Repeat(x, k), nil
			case []any:
				var out []any
				for i := 0; i < k && len(out) < 1<<22; i++ {
					out = append(out, x...)
				}
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(l), typeName(r))
}

// equal is Python's ==.
func equal(a, b any) bool {
	if isNumber(a) && isNumber(b) {
		if bothInts(a, b) {
			return toInt(a) == toInt(b)
		}
		return toFloat(a) == toFloat(b)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case undefined:
		_, ok := b.(undefined)
		return ok
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []any, tuple:
		_, al := a.([]any)
		_, bl := b.([]any)
		if al != bl {
			return false
		}
		xa, _ := iterate(a)
		xb, err := iterate(b)
		if err != nil || len(xa) != len(xb) {
			return false
		}
		if _, bt := b.(tuple); !bl && !bt {
			return false
		}
		for i := range xa {
			if !equal(xa[i], xb[i]) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, k := range x.keys {
			v, ok := y.m[k]
			if !ok || !equal(x.m[k], v) {
				return false
			}
		}
		return true
	case *namespace:
		return a == b
	}
	return false
}

func compare(op string, l, r any) (bool, error) {
	switch op {
	case "==":
		return equal(l, r), nil
	case "!=":
		return !equal(l, r), nil
	case "in", "not in":
		ok, err := contains(r, l)
		if op == "not in" {
			ok = !ok
		}
		return ok, err
	}
	c, err := order(l, r)
	if err != nil {
		return false, fmt.Errorf("'%s' not supported between instances of '%s' and '%s'", op, typeName(l), typeName(r))
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	}
	return c >= 0, nil
}

func order(l, r any) (int, error) {
	if isNumber(l) && isNumber(r) {
		a, b := toFloat(l), toFloat(r)
		if bothInts(l, r) {
			x, y := toInt(l), toInt(r)
			switch {
			case x < y:
				return -1, nil
			case x > y:
				return 1, nil
			}
			return 0, nil
		}
		switch {
		case a < b:
			return -1, nil
		case a > b:
			return 1, nil
		}
		return 0, nil
	}
	if a, ok := l.(string); ok {
		if b, ok := r.(string); ok {
			return strings.Compare(a, b), nil
		}
	}
	la, aok := l.([]any)
	lb, bok := r.([]any)
	if !aok || !bok {
		ta, aok2 := l.(tuple)
		tb, bok2 := r.(tuple)
		if !aok2 || !bok2 {
			return 0, errors.New("unorderable")
		}
		la, lb = ta, tb
	}
	for i := 0; i < len(la) && i < len(lb); i++ {
		if equal(la[i], lb[i]) {
			continue
		}
		return order(la[i], lb[i])
	}
	return len(la) - len(lb), nil
}

func contains(container, item any) (bool, error) {
	switch x := container.(type) {
	case string:
		s, ok := item.(string)
		if !ok {
			return false, fmt.Errorf("'in <string>' requires string as left operand, not %s", typeName(item))
		}
		return strings.Contains(x, s), nil
	case []any, tuple:
		items, _ := iterate(x)
		for _, e := range items {
			if equal(e, item) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		k, ok := item.(string)
		return ok && hasKey(x, k), nil
	case *namespace:
		k, ok := item.(string)
		return ok && hasKey(x.d, k), nil
	case undefined:
		return false, undefinedErr(x)
	}
	return false, fmt.Errorf("argument of type '%s' is not iterable", typeName(container))
}
