package tokenizer

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Loading a tokenizer.json is dominated by decoding its vocabulary and
// merges (hundreds of thousands of short strings); encoding/json spends most
// of that in reflection. These scanners handle exactly the two shapes
// involved and report errFallback on anything unusual, in which case the
// caller uses encoding/json, which also words the errors.

var errFallback = errors.New("fast JSON path not applicable")

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a JSON string; escapes are decoded by encoding/json.
func (s *jsonScanner) str() (string, error) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", errFallback
	}
	start := s.i
	escaped := false
	for j := start + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			s.i = j + 1
			if !escaped {
				raw := s.b[start+1 : j]
				if !utf8.Valid(raw) {
					return "", errFallback
				}
				return string(raw), nil
			}
			var out string
			if err := json.Unmarshal(s.b[start:j+1], &out); err != nil {
				return "", errFallback
			}
			return out, nil
		case c < 0x20:
			return "", errFallback
		}
	}
	return "", errFallback
}

func (s *jsonScanner) integer() (int, error) {
	s.ws()
	j := s.i
	for j < len(s.b) && (s.b[j] >= '0' && s.b[j] <= '9' || (j == s.i && s.b[j] == '-')) {
		j++
	}
	n, err := strconv.Atoi(string(s.b[s.i:j]))
	if err != nil {
		return 0, errFallback
	}
	s.i = j
	return n, nil
}

func (s *jsonScanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errFallback
	}
	return nil
}

// fastStringArray decodes a JSON array of strings.
func fastStringArray(b []byte) ([]string, error) {
	s := &jsonScanner{b: b}
	if !s.consume('[') {
		return nil, errFallback
	}
	out := make([]string, 0, len(b)/16)
	if s.consume(']') {
		return out, s.end()
	}
	for {
		v, err := s.str()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return out, s.end()
		}
		return nil, errFallback
	}
}

// fastStringIntObject decodes a JSON object of string → integer.
func fastStringIntObject(b []byte) (map[string]int, error) {
	s := &jsonScanner{b: b}
	if !s.consume('{') {
		return nil, errFallback
	}
	out := make(map[string]int, len(b)/16)
	if s.consume('}') {
		return out, s.end()
	}
	for {
		k, err := s.str()
		if err != nil {
			return nil, err
		}
		if !s.consume(':') {
			return nil, errFallback
		}
		v, err := s.integer()
		if err != nil {
			return nil, err
		}
		out[k] = v
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return out, s.end()
		}
		return nil, errFallback
	}
}

// fastMerges decodes model.merges in either spelling: ["a b", ...] or
// [["a", "b"], ...].
func fastMerges(b []byte) ([][2]string, error) {
	s := &jsonScanner{b: b}
	if !s.consume('[') {
		return nil, errFallback
	}
	out := make([][2]string, 0, len(b)/16)
	if s.consume(']') {
		return out, s.end()
	}
	for {
		var m [2]string
		if s.consume('[') {
			var err error
			if m[0], err = s.str(); err != nil {
				return nil, err
			}
			if !s.consume(',') {
				return nil, errFallback
			}
			if m[1], err = s.str(); err != nil {
				return nil, err
			}
			if !s.consume(']') {
				return nil, errFallback
			}
		} else {
			v, err := s.str()
			if err != nil {
				return nil, err
			}
			a, b, ok := strings.Cut(v, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, errFallback
			}
			m = [2]string{a, b}
		}
		out = append(out, m)
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return out, s.end()
		}
		return nil, errFallback
	}
}
