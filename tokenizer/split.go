package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// splitter cuts a string into pre-tokens, calling emit for each non-empty
// piece in order.
type splitter interface {
	split(s string, emit func(string))
	// collect appends the pieces of s to out; it is the allocation-free
	// path for splitters without a stateless stepper.
	collect(s string, out []string) []string
}

// stepper is a splitter that can find each piece from its start alone; the
// hand-written matchers are steppers, so encoding needs no piece buffers.
type stepper interface {
	// next returns the end of the piece that starts at i and whether it is
	// kept (false for matches a Removed split drops).
	next(s string, i int) (end int, keep bool)
}

// The pre-tokenizer patterns r1 has hand-written matchers for. Everything
// else goes through regexp2 in its default (backtracking, .NET-like) mode,
// which matched Hugging Face's Oniguruma where RE2 semantics did not.
const (
	// Llama-3 (and tiktoken cl100k): digits in runs of up to three.
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Qwen2/2.5/3: every digit alone.
	qwenPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// gpt2Pattern is what a ByteLevel pre-tokenizer with use_regex applies.
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

func newRegexSplitter(pattern string, removed bool) (splitter, error) {
	if !removed {
		switch pattern {
		case llama3Pattern:
			return gpt4Splitter{maxDigits: 3}, nil
		case qwenPattern:
			return gpt4Splitter{maxDigits: 1}, nil
		case digits3Pattern:
			return gapSplitter{matchDigits3}, nil
		case cjkRunPattern:
			return gapSplitter{matchCJKRun}, nil
		case deepseekPattern:
			return gapSplitter{matchDeepseek}, nil
		}
	}
	return compileRegexSplitter(pattern, removed)
}

func compileRegexSplitter(pattern string, removed bool) (*regexSplitter, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %v", truncate(pattern, 80), err)
	}
	return &regexSplitter{re: re, removed: removed}, nil
}

// regexSplitter is the general path: any pattern regexp2 compiles.
type regexSplitter struct {
	re      *regexp2.Regexp
	removed bool
}

func (r *regexSplitter) collect(s string, out []string) []string {
	r.matches(s, func(a, b int, matched bool) {
		if !matched || !r.removed {
			out = append(out, s[a:b])
		}
	})
	return out
}

func (r *regexSplitter) split(s string, emit func(string)) {
	r.matches(s, func(a, b int, matched bool) {
		if matched && r.removed {
			return
		}
		emit(s[a:b])
	})
}

// matches reports the pieces of s (byte offsets): each match and each gap
// between matches, in order.
func (r *regexSplitter) matches(s string, fn func(a, b int, matched bool)) {
	// regexp2 reports rune offsets; map them back to bytes.
	offs := make([]int, 0, len(s)+1)
	for i := range s {
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	last := 0
	m, err := r.re.FindStringMatch(s)
	for err == nil && m != nil {
		a, b := offs[m.Index], offs[m.Index+m.Length]
		if b > a {
			if a > last {
				fn(last, a, false)
			}
			fn(a, b, true)
			last = b
		}
		m, err = r.re.FindNextMatch(m)
	}
	if last < len(s) {
		fn(last, len(s), false)
	}
}

// literalSplitter splits on a fixed string.
type literalSplitter struct {
	lit     string
	removed bool
}

func newLiteralSplitter(lit string, removed bool) (splitter, error) {
	if lit == "" {
		return nil, fmt.Errorf("String: empty pattern")
	}
	return literalSplitter{lit, removed}, nil
}

func (l literalSplitter) collect(s string, out []string) []string {
	l.split(s, func(p string) { out = append(out, p) })
	return out
}

func (l literalSplitter) split(s string, emit func(string)) {
	for {
		i := strings.Index(s, l.lit)
		if i < 0 {
			break
		}
		if i > 0 {
			emit(s[:i])
		}
		if !l.removed {
			emit(l.lit)
		}
		s = s[i+len(l.lit):]
	}
	if s != "" {
		emit(s)
	}
}

// gpt4Splitter is a hand-written matcher for llama3Pattern and qwenPattern
// (they differ only in the digit run length). It returns the same pieces as
// the regex, checked against regexp2 and Hugging Face in the tests.
type gpt4Splitter struct {
	maxDigits int
}

// Rune classes, cached for ASCII.
const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

// bmpClass caches both pattern families' classes for the Basic
// Multilingual Plane: the GPT-4 class in the low nibble, the DeepSeek class
// in the high one. Filling it takes a few milliseconds at start-up and
// saves table searches on every non-ASCII rune.
var bmpClass [0x10000]uint8

func init() {
	for r := rune(0); r < 0x10000; r++ {
		bmpClass[r] = classifySlow(r) | dsClassSlow(r)<<4
	}
}

func classOf(r rune) uint8 {
	if r < 0x10000 {
		return bmpClass[r] & 0xF
	}
	return classifySlow(r)
}

func decodeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

func (g gpt4Splitter) next(s string, i int) (int, bool) { return i + g.match(s, i), true }

func (g gpt4Splitter) collect(s string, out []string) []string {
	for i := 0; i < len(s); {
		n := g.match(s, i)
		out = append(out, s[i:i+n])
		i += n
	}
	return out
}

func (g gpt4Splitter) split(s string, emit func(string)) {
	for i := 0; i < len(s); {
		n := g.match(s, i)
		emit(s[i : i+n])
		i += n
	}
}

// match returns the length of the piece starting at i.
func (g gpt4Splitter) match(s string, i int) int {
	r, w := decodeAt(s, i)
	c := classOf(r)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' && i+1 < len(s) {
		if n := contraction(s[i+1:]); n > 0 {
			return 1 + n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c == clsLetter {
		return w + letters(s, i+w)
	}
	if c != clsNumber && r != '\r' && r != '\n' && i+w < len(s) {
		r2, _ := decodeAt(s, i+w)
		if classOf(r2) == clsLetter {
			return w + letters(s, i+w)
		}
	}
	// \p{N}{1,k}
	if c == clsNumber {
		j, k := i, 0
		for j < len(s) && k < g.maxDigits {
			r2, w2 := decodeAt(s, j)
			if classOf(r2) != clsNumber {
				break
			}
			j += w2
			k++
		}
		return j - i
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	if c == clsOther || (r == ' ' && i+1 < len(s) && classOf(nextRune(s, i+1)) == clsOther) {
		j := i
		if r == ' ' {
			j++
		}
		for j < len(s) {
			r2, w2 := decodeAt(s, j)
			if classOf(r2) != clsOther {
				break
			}
			j += w2
		}
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j - i
	}
	// c is whitespace here.
	return spaceRun(s, i, func(r rune) bool { return classOf(r) == clsSpace })
}

func nextRune(s string, i int) rune {
	r, _ := decodeAt(s, i)
	return r
}

func letters(s string, j int) int {
	start := j
	for j < len(s) {
		r, w := decodeAt(s, j)
		if classOf(r) != clsLetter {
			break
		}
		j += w
	}
	return j - start
}

// contraction matches s|t|re|ve|m|ll|d case-insensitively at the start of s
// and returns its length, or 0.
func contraction(s string) int {
	lower := func(i int) byte {
		if i >= len(s) {
			return 0
		}
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		return c
	}
	switch lower(0) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if lower(1) == 'e' {
			return 2
		}
	case 'l':
		if lower(1) == 'l' {
			return 2
		}
	}
	return 0
}
