package reward

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Params reads a reward's parameters from a config with type checks and
// errors that name the parameter. Values may come from YAML, JSON or the
// command line, so numbers may arrive as int, float64, json.Number or
// string, and each getter accepts all of them.
type Params struct {
	m    map[string]any
	used map[string]bool
}

// NewParams wraps params (nil is fine).
func NewParams(params map[string]any) *Params {
	return &Params{m: params, used: map[string]bool{}}
}

// Has reports whether key is set.
func (p *Params) Has(key string) bool {
	_, ok := p.m[key]
	return ok
}

// Float returns params[key] as a finite number, or def when absent.
func (p *Params) Float(key string, def float64) (float64, error) {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok || v == nil {
		return def, nil
	}
	f, err := ToFloat(v)
	if err != nil {
		return 0, fmt.Errorf("param %q: %w", key, err)
	}
	return f, nil
}

// Int returns params[key] as an integer, or def when absent.
func (p *Params) Int(key string, def int) (int, error) {
	f, err := p.Float(key, float64(def))
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("param %q: expected an integer, got %v", key, f)
	}
	return int(f), nil
}

// String returns params[key] as a string, or def when absent.
func (p *Params) String(key, def string) (string, error) {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok || v == nil {
		return def, nil
	}
	switch s := v.(type) {
	case string:
		return s, nil
	case fmt.Stringer:
		return s.String(), nil
	}
	return "", fmt.Errorf("param %q: expected a string, got %T", key, v)
}

// Bool returns params[key] as a boolean, or def when absent.
func (p *Params) Bool(key string, def bool) (bool, error) {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok || v == nil {
		return def, nil
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		r, err := strconv.ParseBool(b)
		if err != nil {
			return false, fmt.Errorf("param %q: expected true or false, got %q", key, b)
		}
		return r, nil
	}
	return false, fmt.Errorf("param %q: expected true or false, got %T", key, v)
}

// Map returns params[key] as a map, or nil when absent.
func (p *Params) Map(key string) (map[string]any, error) {
	p.used[key] = true
	v, ok := p.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("param %q: expected a map, got %T", key, v)
}

// Done reports parameters that no getter asked for, so that a typo in a
// config ("max_lenght") fails loudly instead of silently using a default.
func (p *Params) Done() error {
	var unknown []string
	for k := range p.m {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	known := make([]string, 0, len(p.used))
	for k := range p.used {
		known = append(known, k)
	}
	sort.Strings(known)
	return fmt.Errorf("unknown param(s) %s (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
}

// ToFloat converts a decoded JSON/YAML number (or numeric string) to a
// finite float64.
func ToFloat(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int8:
		f = float64(x)
	case int16:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		g, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("expected a number, got %q", x.String())
		}
		f = g
	case string:
		g, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("expected a number, got %q", x)
		}
		f = g
	default:
		return 0, fmt.Errorf("expected a number, got %T", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("expected a finite number, got %v", f)
	}
	return f, nil
}
