package chat

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token of a template.
type tokKind int

const (
	tkData       tokKind = iota // literal text outside tags
	tkVarBegin                  // {{
	tkVarEnd                    // }}
	tkBlockBegin                // {%
	tkBlockEnd                  // %}
	tkName
	tkString
	tkInt
	tkFloat
	tkOp
	tkEOF
)

type token struct {
	kind tokKind
	val  string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tkData:
		return "template text"
	case tkVarBegin:
		return "'{{'"
	case tkVarEnd:
		return "'}}'"
	case tkBlockBegin:
		return "'{%'"
	case tkBlockEnd:
		return "'%}'"
	case tkString:
		return fmt.Sprintf("string %q", t.val)
	case tkEOF:
		return "end of template"
	}
	return fmt.Sprintf("%q", t.val)
}

// pyIsSpace reports whether r is whitespace for Python's str.isspace / re's \s,
// which (unlike unicode.IsSpace) includes the ASCII separators \x1c-\x1f.
func pyIsSpace(r rune) bool {
	if r >= 0x1c && r <= 0x1f {
		return true
	}
	return unicode.IsSpace(r)
}

func isSpaceOnly(s string) bool {
	for _, r := range s {
		if !pyIsSpace(r) {
			return false
		}
	}
	return true
}

// lexer turns template source into tokens with Jinja2's whitespace rules as
// transformers configures them: trim_blocks and lstrip_blocks on,
// keep_trailing_newline off, newlines normalised to "\n".
type lexer struct {
	src          string
	pos          int
	line         int
	toks         []token
	lineStarting bool
}

func normalizeSource(src string) string {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	// keep_trailing_newline=False drops exactly one final newline.
	return strings.TrimSuffix(src, "\n")
}

func lex(src string) ([]token, error) {
	lx := &lexer{src: normalizeSource(src), line: 1, lineStarting: true}
	if err := lx.run(); err != nil {
		return nil, err
	}
	return lx.toks, nil
}

func (lx *lexer) errorf(format string, args ...any) error {
	return &TemplateError{Line: lx.line, Msg: fmt.Sprintf(format, args...)}
}

func (lx *lexer) emit(kind tokKind, val string, line int) {
	lx.toks = append(lx.toks, token{kind: kind, val: val, line: line})
}

// nextTagStart finds the next "{{", "{%" or "{#" at or after from.
func (lx *lexer) nextTagStart(from int) int {
	for i := from; ; {
		j := strings.IndexByte(lx.src[i:], '{')
		if j < 0 {
			return -1
		}
		k := i + j
		if k+1 < len(lx.src) {
			switch lx.src[k+1] {
			case '{', '%', '#':
				return k
			}
		}
		i = k + 1
	}
}

func (lx *lexer) run() error {
	for lx.pos < len(lx.src) {
		start := lx.nextTagStart(lx.pos)
		if start < 0 {
			lx.emitData(lx.src[lx.pos:])
			lx.pos = len(lx.src)
			break
		}
		text := lx.src[lx.pos:start]
		kind := lx.src[start+1]
		sign := byte(0)
		if start+2 < len(lx.src) && (lx.src[start+2] == '-' || lx.src[start+2] == '+') {
			sign = lx.src[start+2]
		}
		if sign == '-' {
			text = strings.TrimRightFunc(text, pyIsSpace)
		} else if sign != '+' && kind != '{' {
			l := strings.LastIndexByte(text, '\n') + 1
			if (l > 0 || lx.lineStarting) && l < len(text) && isSpaceOnly(text[l:]) {
				text = text[:l]
			}
		}
		lx.emitData(text)
		lx.line += strings.Count(lx.src[lx.pos:start], "\n")
		lx.pos = start + 2
		if sign != 0 {
			lx.pos++
		}
		var err error
		switch kind {
		case '#':
			err = lx.comment()
		case '%':
			err = lx.tag(tkBlockBegin, tkBlockEnd, '%')
		default:
			err = lx.tag(tkVarBegin, tkVarEnd, '}')
		}
		if err != nil {
			return err
		}
	}
	lx.emit(tkEOF, "", lx.line)
	return nil
}

func (lx *lexer) emitData(s string) {
	if s != "" {
		lx.emit(tkData, s, lx.line)
	}
}

// afterEnd applies the end-of-tag whitespace rules and records whether the
// consumed text ended a line (Jinja's line_starting, used by lstrip_blocks).
func (lx *lexer) afterEnd(sign byte, trim bool) {
	from := lx.pos
	switch {
	case sign == '-':
		for lx.pos < len(lx.src) {
			r, n := utf8.DecodeRuneInString(lx.src[lx.pos:])
			if !pyIsSpace(r) {
				break
			}
			lx.pos += n
		}
	case sign != '+' && trim && lx.pos < len(lx.src) && lx.src[lx.pos] == '\n':
		lx.pos++
	}
	consumed := lx.src[from:lx.pos]
	lx.line += strings.Count(consumed, "\n")
	if consumed != "" {
		lx.lineStarting = strings.HasSuffix(consumed, "\n")
	} else {
		lx.lineStarting = false
	}
}

func (lx *lexer) comment() error {
	end := strings.Index(lx.src[lx.pos:], "#}")
	if end < 0 {
		return lx.errorf("unclosed comment: missing '#}'")
	}
	body := lx.src[lx.pos : lx.pos+end]
	sign := byte(0)
	if strings.HasSuffix(body, "-") || strings.HasSuffix(body, "+") {
		sign = body[len(body)-1]
	}
	lx.line += strings.Count(body, "\n")
	lx.pos += end + 2
	lx.afterEnd(sign, true)
	return nil
}

const opChars = "+-*/%~=!<>()[]{},.:|"

// tag lexes the expression tokens of a {{ }} or {% %} tag up to its end marker.
func (lx *lexer) tag(begin, end tokKind, closer byte) error {
	startLine := lx.line
	lx.emit(begin, "", lx.line)
	if begin == tkBlockBegin {
		// {% raw %} copies text verbatim up to {% endraw %}.
		rest := strings.TrimLeftFunc(lx.src[lx.pos:], pyIsSpace)
		if strings.HasPrefix(rest, "raw") && len(rest) > 3 && (rest[3] == ' ' || rest[3] == '%' || rest[3] == '-' || rest[3] == '\t' || rest[3] == '\n') {
			return lx.raw()
		}
	}
	depth := 0 // open brackets: "}}" inside {'a': {}} does not end the tag
	for {
		for lx.pos < len(lx.src) {
			r, n := utf8.DecodeRuneInString(lx.src[lx.pos:])
			if !pyIsSpace(r) {
				break
			}
			if r == '\n' {
				lx.line++
			}
			lx.pos += n
		}
		if lx.pos >= len(lx.src) {
			return &TemplateError{Line: startLine, Msg: fmt.Sprintf("unclosed tag: missing '%c}'", closer)}
		}
		rest := lx.src[lx.pos:]
		// End marker, optionally with a whitespace-control sign.
		for _, sign := range []string{"", "-", "+"} {
			m := sign + string(closer) + "}"
			if depth == 0 && strings.HasPrefix(rest, m) {
				lx.emit(end, "", lx.line)
				lx.pos += len(m)
				var s byte
				if sign != "" {
					s = sign[0]
				}
				lx.afterEnd(s, end == tkBlockEnd)
				return nil
			}
		}
		c := rest[0]
		switch {
		case c == '\'' || c == '"':
			s, n, err := lx.stringLit(rest)
			if err != nil {
				return err
			}
			lx.emit(tkString, s, lx.line)
			lx.line += strings.Count(rest[:n], "\n")
			lx.pos += n
		case c >= '0' && c <= '9':
			n, isFloat := scanNumber(rest)
			kind := tkInt
			if isFloat {
				kind = tkFloat
			}
			lx.emit(kind, strings.ReplaceAll(rest[:n], "_", ""), lx.line)
			lx.pos += n
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			n := 1
			for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' || rest[n] >= '0' && rest[n] <= '9') {
				n++
			}
			lx.emit(tkName, rest[:n], lx.line)
			lx.pos += n
		case strings.IndexByte(opChars, c) >= 0:
			op := string(c)
			for _, two := range []string{"//", "**", "==", "!=", "<=", ">="} {
				if strings.HasPrefix(rest, two) {
					op = two
					break
				}
			}
			if op == "!" {
				return lx.errorf("unexpected character '!'")
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth > 0 {
					depth--
				}
			}
			lx.emit(tkOp, op, lx.line)
			lx.pos += len(op)
		default:
			r, _ := utf8.DecodeRuneInString(rest)
			return lx.errorf("unexpected character %q in tag", r)
		}
	}
}

// raw handles {% raw %}...{% endraw %}: the body becomes a data token.
func (lx *lexer) raw() error {
	// Skip to the end of the opening tag.
	end := strings.Index(lx.src[lx.pos:], "%}")
	if end < 0 {
		return lx.errorf("unclosed raw tag")
	}
	sign := byte(0)
	if end > 0 && (lx.src[lx.pos+end-1] == '-' || lx.src[lx.pos+end-1] == '+') {
		sign = lx.src[lx.pos+end-1]
	}
	lx.pos += end + 2
	lx.afterEnd(sign, true)
	// Drop the tkBlockBegin emitted for the raw tag.
	lx.toks = lx.toks[:len(lx.toks)-1]
	body := lx.src[lx.pos:]
	i := 0
	for {
		j := strings.Index(body[i:], "{%")
		if j < 0 {
			return lx.errorf("missing {%% endraw %%}")
		}
		k := i + j
		inner := body[k+2:]
		s := byte(0)
		if len(inner) > 0 && (inner[0] == '-' || inner[0] == '+') {
			s = inner[0]
			inner = inner[1:]
		}
		trimmed := strings.TrimLeftFunc(inner, pyIsSpace)
		if strings.HasPrefix(trimmed, "endraw") {
			text := body[:k]
			if s == '-' {
				text = strings.TrimRightFunc(text, pyIsSpace)
			}
			lx.emitData(text)
			lx.line += strings.Count(body[:k], "\n")
			closeAt := strings.Index(trimmed, "%}")
			if closeAt < 0 {
				return lx.errorf("unclosed endraw tag")
			}
			es := byte(0)
			if closeAt > 0 {
				if b := strings.TrimRightFunc(trimmed[:closeAt], pyIsSpace); strings.HasSuffix(b, "-") || strings.HasSuffix(b, "+") {
					es = b[len(b)-1]
				}
			}
			lx.pos += k + 2 + (len(body[k+2:]) - len(trimmed)) + closeAt + 2
			lx.afterEnd(es, true)
			return nil
		}
		i = k + 2
	}
}

func scanNumber(s string) (n int, isFloat bool) {
	digits := func(i int) int {
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '_') {
			i++
		}
		return i
	}
	n = digits(0)
	if n+1 < len(s) && s[n] == '.' && s[n+1] >= '0' && s[n+1] <= '9' {
		isFloat = true
		n = digits(n + 1)
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		j := n + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			isFloat = true
			n = digits(j)
		}
	}
	return n, isFloat
}

// stringLit decodes a quoted literal the way Jinja does (Python's
// unicode-escape: \n, \t, \xhh, \uhhhh, ...; unknown escapes stay as written).
func (lx *lexer) stringLit(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		if c == q {
			return b.String(), i + 1, nil
		}
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		e := s[i+1]
		i += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+width > len(s) {
				return "", 0, lx.errorf("truncated \\%c escape in string literal", e)
			}
			var r rune
			for _, h := range s[i : i+width] {
				d := hexVal(h)
				if d < 0 {
					return "", 0, lx.errorf("bad \\%c escape in string literal", e)
				}
				r = r*16 + rune(d)
			}
			b.WriteRune(r)
			i += width
		case '0', '1', '2', '3', '4', '5', '6', '7':
			r := rune(e - '0')
			for k := 0; k < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; k++ {
				r = r*8 + rune(s[i]-'0')
				i++
			}
			b.WriteRune(r)
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return "", 0, lx.errorf("unterminated string literal")
}

func hexVal(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'a' && r <= 'f':
		return int(r-'a') + 10
	case r >= 'A' && r <= 'F':
		return int(r-'A') + 10
	}
	return -1
}
