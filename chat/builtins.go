package chat

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// RaiseError is returned when a template calls raise_exception(message).
type RaiseError struct{ Message string }

func (e *RaiseError) Error() string { return "raise_exception: " + e.Message }

func argOr(args []any, kw *Dict, i int, name string, def any) any {
	if i < len(args) {
		return args[i]
	}
	if kw != nil {
		if v, ok := kw.m[name]; ok {
			return v
		}
	}
	return def
}

func strArg(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, not %s", what, typeName(v))
	}
	return s, nil
}

func (r *renderer) globals() map[string]any {
	return map[string]any{
		"raise_exception": callable(func(args []any, kw *Dict) (any, error) {
			return nil, &RaiseError{Message: toStr(argOr(args, kw, 0, "message", ""))}
		}),
		"strftime_now": callable(func(args []any, kw *Dict) (any, error) {
			f, err := strArg(argOr(args, kw, 0, "format", ""), "strftime_now format")
			if err != nil {
				return nil, err
			}
			return strftime(r.now(), f), nil
		}),
		"namespace": callable(func(args []any, kw *Dict) (any, error) {
			d := NewDict()
			for _, a := range args {
				if ad, ok := a.(*Dict); ok {
					for _, k := range ad.keys {
						d.Set(k, ad.m[k])
					}
				}
			}
			if kw != nil {
				for _, k := range kw.keys {
					d.Set(k, kw.m[k])
				}
			}
			return &namespace{d: d}, nil
		}),
		"dict": callable(func(args []any, kw *Dict) (any, error) {
			d := NewDict()
			if kw != nil {
				for _, k := range kw.keys {
					d.Set(k, kw.m[k])
				}
			}
			return d, nil
		}),
		"range": callable(func(args []any, kw *Dict) (any, error) {
			var lo, hi, st int64 = 0, 0, 1
			switch len(args) {
			case 1:
				hi = toInt(args[0])
			case 2:
				lo, hi = toInt(args[0]), toInt(args[1])
			case 3:
				lo, hi, st = toInt(args[0]), toInt(args[1]), toInt(args[2])
			default:
				return nil, errors.New("range expects 1 to 3 arguments")
			}
			if st == 0 {
				return nil, errors.New("range() arg 3 must not be zero")
			}
			var out []any
			for i := lo; st > 0 && i < hi || st < 0 && i > hi; i += st {
				if len(out) >= 1_000_000 {
					return nil, errors.New("range too large")
				}
				out = append(out, i)
			}
			return out, nil
		}),
	}
}

func dictMethod(d *Dict, name string) callable {
	switch name {
	case "items":
		return func([]any, *Dict) (any, error) {
			out := make([]any, len(d.keys))
			for i, k := range d.keys {
				out[i] = tuple{k, d.m[k]}
			}
			return out, nil
		}
	case "keys":
		return func([]any, *Dict) (any, error) {
			out := make([]any, len(d.keys))
			for i, k := range d.keys {
				out[i] = k
			}
			return out, nil
		}
	case "values":
		return func([]any, *Dict) (any, error) {
			out := make([]any, len(d.keys))
			for i, k := range d.keys {
				out[i] = d.m[k]
			}
			return out, nil
		}
	case "get":
		return func(args []any, kw *Dict) (any, error) {
			k, _ := argOr(args, kw, 0, "key", nil).(string)
			if v, ok := d.m[k]; ok {
				return v, nil
			}
			return argOr(args, kw, 1, "default", nil), nil
		}
	}
	return nil
}

func listMethod(l []any, name string) callable {
	switch name {
	case "index":
		return func(args []any, kw *Dict) (any, error) {
			for i, e := range l {
				if len(args) > 0 && equal(e, args[0]) {
					return int64(i), nil
				}
			}
			return nil, errors.New("value is not in list")
		}
	case "count":
		return func(args []any, kw *Dict) (any, error) {
			n := int64(0)
			for _, e := range l {
				if len(args) > 0 && equal(e, args[0]) {
					n++
				}
			}
			return n, nil
		}
	}
	return nil
}

func pyStrip(s string, chars any, left, right bool) string {
	f := pyIsSpace
	if cs, ok := chars.(string); ok {
		f = func(r rune) bool { return strings.ContainsRune(cs, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, f)
	}
	if right {
		s = strings.TrimRightFunc(s, f)
	}
	return s
}

// pySplit is str.split(sep, maxsplit).
func pySplit(s string, sep any, maxsplit int) ([]any, error) {
	var parts []string
	if sep == nil {
		if maxsplit < 0 {
			parts = strings.FieldsFunc(s, pyIsSpace)
		} else {
			rest := strings.TrimLeftFunc(s, pyIsSpace)
			for len(parts) < maxsplit && rest != "" {
				i := strings.IndexFunc(rest, pyIsSpace)
				if i < 0 {
					break
				}
				parts = append(parts, rest[:i])
				rest = strings.TrimLeftFunc(rest[i:], pyIsSpace)
			}
			if rest != "" {
				parts = append(parts, rest)
			}
		}
	} else {
		sp, ok := sep.(string)
		if !ok {
			return nil, fmt.Errorf("must be str or None, not %s", typeName(sep))
		}
		if sp == "" {
			return nil, errors.New("empty separator")
		}
		parts = strings.SplitN(s, sp, maxsplit+1)
		if maxsplit < 0 {
			parts = strings.Split(s, sp)
		}
	}
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func pyCapitalize(s string) string {
	rs := []rune(strings.ToLower(s))
	if len(rs) > 0 {
		rs[0] = unicode.ToUpper(rs[0])
	}
	return string(rs)
}

// pyTitle is str.title(): words are runs of letters.
func pyTitle(s string) string {
	var b strings.Builder
	prevLetter := false
	for _, r := range s {
		if prevLetter {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(unicode.ToTitle(r))
		}
		prevLetter = unicode.IsLetter(r)
	}
	return b.String()
}

func strMethod(s string, name string) callable {
	switch name {
	case "strip", "lstrip", "rstrip":
		return func(args []any, kw *Dict) (any, error) {
			c := argOr(args, kw, 0, "chars", nil)
			return pyStrip(s, c, name != "rstrip", name != "lstrip"), nil
		}
	case "split", "rsplit":
		return func(args []any, kw *Dict) (any, error) {
			m := argOr(args, kw, 1, "maxsplit", int64(-1))
			if name == "rsplit" && toInt(m) >= 0 {
				return nil, errors.New("rsplit with maxsplit is not supported")
			}
			return pySplit(s, argOr(args, kw, 0, "sep", nil), int(toInt(m)))
		}
	case "splitlines":
		return func([]any, *Dict) (any, error) {
			var out []any
			for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
				out = append(out, l)
			}
			if s == "" {
				out = []any{}
			}
			return out, nil
		}
	case "startswith", "endswith":
		return func(args []any, kw *Dict) (any, error) {
			p := argOr(args, kw, 0, "prefix", nil)
			var cands []any
			if t, ok := p.(tuple); ok {
				cands = t
			} else {
				cands = []any{p}
			}
			for _, c := range cands {
				cs, err := strArg(c, name+" argument")
				if err != nil {
					return nil, err
				}
				if name == "startswith" && strings.HasPrefix(s, cs) || name == "endswith" && strings.HasSuffix(s, cs) {
					return true, nil
				}
			}
			return false, nil
		}
	case "upper":
		return func([]any, *Dict) (any, error) { return strings.ToUpper(s), nil }
	case "lower":
		return func([]any, *Dict) (any, error) { return strings.ToLower(s), nil }
	case "title":
		return func([]any, *Dict) (any, error) { return pyTitle(s), nil }
	case "capitalize":
		return func([]any, *Dict) (any, error) { return pyCapitalize(s), nil }
	case "replace":
		return func(args []any, kw *Dict) (any, error) {
			o, err := strArg(argOr(args, kw, 0, "old", nil), "replace old")
			if err != nil {
				return nil, err
			}
			n, err := strArg(argOr(args, kw, 1, "new", nil), "replace new")
			if err != nil {
				return nil, err
			}
			return strings.Replace(s, o, n, int(toInt(argOr(args, kw, 2, "count", int64(-1))))), nil
		}
	case "find", "rfind", "count":
		return func(args []any, kw *Dict) (any, error) {
			sub, err := strArg(argOr(args, kw, 0, "sub", nil), name+" argument")
			if err != nil {
				return nil, err
			}
			var i int
			switch name {
			case "find":
				i = strings.Index(s, sub)
			case "rfind":
				i = strings.LastIndex(s, sub)
			default:
				return int64(strings.Count(s, sub)), nil
			}
			if i < 0 {
				return int64(-1), nil
			}
			return int64(len([]rune(s[:i]))), nil
		}
	case "join":
		return func(args []any, kw *Dict) (any, error) {
			items, err := iterate(argOr(args, kw, 0, "iterable", nil))
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				if parts[i], err = strArg(it, "join item"); err != nil {
					return nil, err
				}
			}
			return strings.Join(parts, s), nil
		}
	case "isdigit", "isalpha", "isspace", "isupper", "islower":
		return func([]any, *Dict) (any, error) {
			if s == "" {
				return false, nil
			}
			for _, r := range s {
				ok := map[string]bool{"isdigit": unicode.IsDigit(r), "isalpha": unicode.IsLetter(r), "isspace": pyIsSpace(r),
					"isupper": !unicode.IsLower(r), "islower": !unicode.IsUpper(r)}[name]
				if !ok {
					return false, nil
				}
			}
			return true, nil
		}
	}
	return nil
}

func applyTest(name string, v any, args []any) (bool, error) {
	arg := func() (any, error) {
		if len(args) == 0 {
			return nil, fmt.Errorf("test %q needs an argument", name)
		}
		return args[0], nil
	}
	_, isUndef := v.(undefined)
	switch name {
	case "defined":
		return !isUndef, nil
	case "undefined":
		return isUndef, nil
	case "none":
		return v == nil, nil
	case "string":
		_, ok := v.(string)
		return ok, nil
	case "number":
		switch v.(type) {
		case int64, float64, bool, *big.Int:
			return true, nil
		}
		return false, nil
	case "integer":
		switch v.(type) {
		case int64, *big.Int:
			return true, nil
		}
		return false, nil
	case "float":
		_, ok := v.(float64)
		return ok, nil
	case "boolean":
		_, ok := v.(bool)
		return ok, nil
	case "true":
		b, ok := v.(bool)
		return ok && b, nil
	case "false":
		b, ok := v.(bool)
		return ok && !b, nil
	case "mapping":
		_, ok := v.(*Dict)
		return ok, nil
	case "iterable":
		switch v.(type) {
		case string, []any, tuple, *Dict:
			return true, nil
		}
		return false, nil
	case "sequence":
		switch v.(type) {
		case string, []any, tuple, *Dict:
			return true, nil
		}
		return false, nil
	case "callable":
		_, ok := v.(callable)
		return ok, nil
	case "even", "odd":
		i, ok := v.(int64)
		if !ok {
			return false, fmt.Errorf("test %q needs an integer, got %s", name, typeName(v))
		}
		return (i%2 == 0) == (name == "even"), nil
	case "divisibleby":
		a, err := arg()
		if err != nil {
			return false, err
		}
		if toInt(a) == 0 {
			return false, errors.New("divisibleby zero")
		}
		return toInt(v)%toInt(a) == 0, nil
	case "equalto", "eq", "==", "sameas":
		a, err := arg()
		if err != nil {
			return false, err
		}
		if name == "sameas" {
			switch v.(type) {
			case nil, bool:
				return v == a, nil
			}
		}
		return equal(v, a), nil
	case "ne", "!=":
		a, err := arg()
		if err != nil {
			return false, err
		}
		return !equal(v, a), nil
	case "lt", "gt", "le", "ge", "<", ">", "<=", ">=":
		a, err := arg()
		if err != nil {
			return false, err
		}
		op := map[string]string{"lt": "<", "gt": ">", "le": "<=", "ge": ">="}[name]
		if op == "" {
			op = name
		}
		return compare(op, v, a)
	case "in":
		a, err := arg()
		if err != nil {
			return false, err
		}
		return contains(a, v)
	case "lower", "upper":
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		if name == "lower" {
			return s == strings.ToLower(s), nil
		}
		return s == strings.ToUpper(s), nil
	}
	return false, fmt.Errorf("no test named '%s'", name)
}

var wordRe = regexp.MustCompile(`[\p{L}\p{N}_]+`)

func sortKey(v any, caseSensitive bool) any {
	if s, ok := v.(string); ok && !caseSensitive {
		return strings.ToLower(s)
	}
	return v
}

func (r *renderer) applyFilter(name string, v any, args []any, kw *Dict) (any, error) {
	if u, ok := v.(undefined); ok {
		// Jinja's default Undefined renders as "" and iterates as empty, so
		// string and sequence filters accept it; anything needing a real
		// value (numbers, tojson) fails like Python does.
		switch name {
		case "default", "d", "length", "count", "list", "items", "join", "string", "trim", "safe",
			"upper", "lower", "capitalize", "title", "replace", "indent", "wordcount", "escape", "e",
			"select", "reject", "selectattr", "rejectattr", "map", "unique", "sort", "reverse":
		default:
			return nil, undefinedErr(u)
		}
	}
	switch name {
	case "tojson":
		o := jsonOpts{itemSep: ", ", keySep: ": "}
		o.ensureASCII = truthy(argOr(args, kw, 0, "ensure_ascii", false))
		switch ind := argOr(args, kw, 1, "indent", nil).(type) {
		case nil:
		case int64:
			o.hasIndent, o.indent, o.itemSep = true, strings.Repeat(" ", int(max(ind, 0))), ","
		case string:
			o.hasIndent, o.indent, o.itemSep = true, ind, ","
		default:
			return nil, fmt.Errorf("tojson indent must be an int or string, not %s", typeName(ind))
		}
		if sep := argOr(args, kw, 2, "separators", nil); sep != nil {
			items, err := iterate(sep)
			if err != nil || len(items) != 2 {
				return nil, errors.New("tojson separators must be a pair of strings")
			}
			a, aok := items[0].(string)
			b, bok := items[1].(string)
			if !aok || !bok {
				return nil, errors.New("tojson separators must be a pair of strings")
			}
			o.itemSep, o.keySep = a, b
		}
		o.sortKeys = truthy(argOr(args, kw, 3, "sort_keys", false))
		return toJSON(v, o)
	case "safe":
		return v, nil
	case "string":
		return toStr(v), nil
	case "trim":
		return pyStrip(toStr(v), argOr(args, kw, 0, "chars", nil), true, true), nil
	case "upper":
		return strings.ToUpper(toStr(v)), nil
	case "lower":
		return strings.ToLower(toStr(v)), nil
	case "capitalize":
		return pyCapitalize(toStr(v)), nil
	case "title":
		// Jinja's title: words start after whitespace, '-', '(', '{', '[' or '<'.
		var b strings.Builder
		start := true
		for _, c := range toStr(v) {
			if start {
				b.WriteRune(unicode.ToUpper(c))
			} else {
				b.WriteRune(unicode.ToLower(c))
			}
			start = pyIsSpace(c) || strings.ContainsRune("-({[<", c)
		}
		return b.String(), nil
	case "replace":
		s := toStr(v)
		o, n := toStr(argOr(args, kw, 0, "old", "")), toStr(argOr(args, kw, 1, "new", ""))
		c := argOr(args, kw, 2, "count", nil)
		if c == nil {
			return strings.ReplaceAll(s, o, n), nil
		}
		return strings.Replace(s, o, n, int(toInt(c))), nil
	case "default", "d":
		def := argOr(args, kw, 0, "default_value", "")
		if _, u := v.(undefined); u || truthy(argOr(args, kw, 1, "boolean", false)) && !truthy(v) {
			return def, nil
		}
		return v, nil
	case "length", "count":
		switch x := v.(type) {
		case string:
			return int64(len([]rune(x))), nil
		case *Dict:
			return int64(x.Len()), nil
		case undefined:
			return int64(0), nil
		}
		items, err := iterate(v)
		if err != nil {
			return nil, fmt.Errorf("object of type '%s' has no len()", typeName(v))
		}
		return int64(len(items)), nil
	case "list":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		return append([]any{}, items...), nil
	case "items":
		switch x := v.(type) {
		case undefined:
			return []any{}, nil
		case *Dict:
			return dictMethod(x, "items")(nil, nil)
		}
		return nil, fmt.Errorf("can only get item pairs from a mapping, not %s", typeName(v))
	case "join":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		sep := toStr(argOr(args, kw, 0, "d", ""))
		attr := argOr(args, kw, 1, "attribute", nil)
		parts := make([]string, len(items))
		for i, it := range items {
			if attr != nil {
				if it, err = getAttr(it, toStr(attr)); err != nil {
					return nil, err
				}
			}
			parts[i] = toStr(it)
		}
		return strings.Join(parts, sep), nil
	case "first", "last":
		if s, ok := v.(string); ok {
			rs := []rune(s)
			if len(rs) == 0 {
				return undefined{name: name}, nil
			}
			if name == "first" {
				return string(rs[0]), nil
			}
			return string(rs[len(rs)-1]), nil
		}
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return undefined{name: name}, nil
		}
		if name == "first" {
			return items[0], nil
		}
		return items[len(items)-1], nil
	case "reverse":
		if s, ok := v.(string); ok {
			rs := []rune(s)
			for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
				rs[i], rs[j] = rs[j], rs[i]
			}
			return string(rs), nil
		}
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			out[len(items)-1-i] = it
		}
		return out, nil
	case "sort", "dictsort", "unique":
		var items []any
		var err error
		if d, ok := v.(*Dict); ok && name == "dictsort" {
			iv, _ := dictMethod(d, "items")(nil, nil)
			items = iv.([]any)
		} else if items, err = iterate(v); err != nil {
			return nil, err
		}
		out := append([]any{}, items...)
		cs := truthy(argOr(args, kw, 1, "case_sensitive", false))
		if name == "unique" {
			cs = truthy(argOr(args, kw, 0, "case_sensitive", false))
			var uniq []any
			var seen []any
			for _, it := range out {
				k := sortKey(it, cs)
				dup := false
				for _, s := range seen {
					if equal(s, k) {
						dup = true
					}
				}
				if !dup {
					seen = append(seen, k)
					uniq = append(uniq, it)
				}
			}
			return uniq, nil
		}
		reverse := truthy(argOr(args, kw, 0, "reverse", false))
		attr := argOr(args, kw, 2, "attribute", nil)
		if name == "dictsort" {
			cs = truthy(argOr(args, kw, 0, "case_sensitive", false))
			reverse = truthy(argOr(args, kw, 2, "reverse", false))
		}
		key := func(it any) any {
			if name == "dictsort" {
				idx := 0
				if toStr(argOr(args, kw, 1, "by", "key")) == "value" {
					idx = 1
				}
				return sortKey(it.(tuple)[idx], cs)
			}
			if attr != nil {
				a, err := getAttr(it, toStr(attr))
				if err == nil {
					it = a
				}
			}
			return sortKey(it, cs)
		}
		var sortErr error
		sort.SliceStable(out, func(i, j int) bool {
			c, err := order(key(out[i]), key(out[j]))
			if err != nil {
				sortErr = err
			}
			if reverse {
				return c > 0
			}
			return c < 0
		})
		if sortErr != nil {
			return nil, errors.New("sort: values are not comparable")
		}
		return out, nil
	case "map", "select", "reject", "selectattr", "rejectattr":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		var out []any
		for _, it := range items {
			switch name {
			case "map":
				if a := argOr(nil, kw, 0, "attribute", nil); a != nil {
					x, err := getAttr(it, toStr(a))
					if err != nil {
						return nil, err
					}
					if _, u := x.(undefined); u && kw != nil && hasKey(kw, "default") {
						x = kw.m["default"]
					}
					out = append(out, x)
					continue
				}
				if len(args) == 0 {
					return nil, errors.New("map needs a filter name or attribute=")
				}
				x, err := r.applyFilter(toStr(args[0]), it, args[1:], nil)
				if err != nil {
					return nil, err
				}
				out = append(out, x)
			default:
				subject, rest := it, args
				if strings.HasSuffix(name, "attr") {
					if len(args) == 0 {
						return nil, fmt.Errorf("%s needs an attribute name", name)
					}
					if subject, err = getAttr(it, toStr(args[0])); err != nil {
						return nil, err
					}
					rest = args[1:]
				}
				ok := truthy(subject)
				if len(rest) > 0 {
					if ok, err = applyTest(toStr(rest[0]), subject, rest[1:]); err != nil {
						return nil, err
					}
				}
				if ok == strings.HasPrefix(name, "select") {
					out = append(out, it)
				}
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case "int":
		def := argOr(args, kw, 0, "default", int64(0))
		switch x := v.(type) {
		case int64, *big.Int:
			return x, nil
		case bool:
			return toInt(x), nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return def, nil
			}
			return int64(x), nil
		case string:
			s := strings.TrimSpace(x)
			if i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64); err == nil {
				return i, nil
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return int64(f), nil
			}
		}
		return def, nil
	case "float":
		def := argOr(args, kw, 0, "default", 0.0)
		switch x := v.(type) {
		case int64, float64, bool, *big.Int:
			return toFloat(x), nil
		case string:
			if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return f, nil
			}
		}
		return def, nil
	case "abs":
		switch x := v.(type) {
		case int64:
			if x < 0 {
				return -x, nil
			}
			return x, nil
		case float64:
			return math.Abs(x), nil
		}
		return nil, fmt.Errorf("bad operand type for abs(): '%s'", typeName(v))
	case "round":
		if !isNumber(v) {
			return nil, fmt.Errorf("round needs a number, got %s", typeName(v))
		}
		prec := int(toInt(argOr(args, kw, 0, "precision", int64(0))))
		method := toStr(argOr(args, kw, 1, "method", "common"))
		f := toFloat(v)
		switch method {
		case "floor", "ceil":
			p := math.Pow(10, float64(prec))
			if method == "floor" {
				return math.Floor(f*p) / p, nil
			}
			return math.Ceil(f*p) / p, nil
		}
		if prec < 0 {
			prec = 0
		}
		rf, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', prec, 64), 64)
		return rf, nil
	case "sum":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		total := argOr(args, kw, 1, "start", int64(0))
		attr := argOr(args, kw, 0, "attribute", nil)
		for _, it := range items {
			if attr != nil {
				if it, err = getAttr(it, toStr(attr)); err != nil {
					return nil, err
				}
			}
			if total, err = binOp("+", total, it); err != nil {
				return nil, err
			}
		}
		return total, nil
	case "max", "min":
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return undefined{name: name}, nil
		}
		best := items[0]
		for _, it := range items[1:] {
			c, err := order(sortKey(it, false), sortKey(best, false))
			if err != nil {
				return nil, fmt.Errorf("%s: values are not comparable", name)
			}
			if name == "max" && c > 0 || name == "min" && c < 0 {
				best = it
			}
		}
		return best, nil
	case "indent":
		s := toStr(v)
		w := argOr(args, kw, 0, "width", int64(4))
		ind, ok := w.(string)
		if !ok {
			ind = strings.Repeat(" ", int(toInt(w)))
		}
		first := truthy(argOr(args, kw, 1, "first", false))
		blank := truthy(argOr(args, kw, 2, "blank", false))
		lines := strings.Split(s, "\n")
		var b strings.Builder
		for i, l := range lines {
			if i > 0 {
				b.WriteByte('\n')
				if l != "" || blank {
					b.WriteString(ind)
				}
			}
			b.WriteString(l)
		}
		out := b.String()
		if first {
			out = ind + out
		}
		return out, nil
	case "wordcount":
		return int64(len(wordRe.FindAllString(toStr(v), -1))), nil
	case "escape", "e":
		s := toStr(v)
		return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s), nil
	}
	return nil, fmt.Errorf("no filter named '%s'", name)
}

// strftime implements the Python/glibc strftime codes chat templates use
// (including the "%-d" no-padding form).
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		pad := true
		if f[i] == '-' && i+1 < len(f) {
			pad = false
			i++
		}
		num := func(n, width int) {
			s := strconv.Itoa(n)
			if pad {
				for len(s) < width {
					s = "0" + s
				}
			}
			b.WriteString(s)
		}
		switch f[i] {
		case 'Y':
			num(t.Year(), 4)
		case 'y':
			num(t.Year()%100, 2)
		case 'm':
			num(int(t.Month()), 2)
		case 'd':
			num(t.Day(), 2)
		case 'e':
			s := strconv.Itoa(t.Day())
			if len(s) < 2 {
				s = " " + s
			}
			b.WriteString(s)
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, 2)
		case 'M':
			num(t.Minute(), 2)
		case 'S':
			num(t.Second(), 2)
		case 'j':
			num(t.YearDay(), 3)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
