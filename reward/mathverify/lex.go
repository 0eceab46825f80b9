package mathverify

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind classifies a lexical token of an answer.
type tokKind uint8

const (
	tEOF   tokKind = iota
	tNum           // digits with an optional decimal part
	tWord          // a run of ASCII letters (split into symbols by the parser)
	tCmd           // a LaTeX command without its backslash, e.g. "frac"
	tText          // the raw content of \text{...} and friends
	tPunct         // one operator or bracket character (or "\{", "\}")
	tBegin         // \begin{env}; text holds env
	tEnd           // \end{env}
)

// token is one lexical unit. space records whitespace right before it, glue
// records a LaTeX thin space (\! \,) right before it; both matter when
// telling "1,000" (a number) from "1, 000" (a list).
type token struct {
	kind  tokKind
	text  string
	space bool
	glue  bool
}

// maxTokens bounds the work any single answer can cause.
const maxTokens = 4000

// textCommands hold literal text in their braced argument.
var textCommands = map[string]bool{
	"text": true, "textbf": true, "textit": true, "textrm": true, "textnormal": true,
	"mbox": true, "textsf": true, "texttt": true, "textup": true, "hbox": true,
}

// ignoredCommands carry no meaning for the value of an answer.
var ignoredCommands = map[string]bool{
	"left": true, "right": true, "big": true, "Big": true, "bigg": true, "Bigg": true,
	"bigl": true, "bigr": true, "Bigl": true, "Bigr": true, "biggl": true, "biggr": true,
	"displaystyle": true, "textstyle": true, "scriptstyle": true, "limits": true,
	"quad": true, "qquad": true, "hline": true, "nonumber": true, "notag": true,
	"mathrm": true, "mathbf": true, "mathit": true, "mathsf": true, "mathtt": true,
	"boldsymbol": true, "bm": true, "mathbb": true, "mathcal": true, "operatorname": true,
	"boxed": true, "fbox": true, "overline": true, "underline": true, "vec": true, "hat": true,
	"bar": true, "tilde": true, "widehat": true, "overrightarrow": true, "mathring": true,
	"dollar": true, "$": true, "cr": true,
	"centering": true, "strut": true, "phantom": true, "ensuremath": true, "enspace": true,
	"thinspace": true, "negthinspace": true, "medspace": true, "thickspace": true,
	"allowbreak": true, "displaylimits": true,
}

// unicodeReplace maps common Unicode math characters to their ASCII/LaTeX
// spelling so that the lexer only deals with one form.
var unicodeReplace = map[rune]string{
	'−': "-", '–': "-", '—': "-", '×': "*", '·': "*", '⋅': "*", '÷': "/", '≤': "<=", '≥': ">=",
	'≠': "!=", '≈': "=", 'π': `\pi `, '∞': `\infty `, '√': `\sqrt `, '°': "", '∪': `\cup `,
	'∩': `\cap `, '∈': `\in `, '±': `\pm `, '²': "^2", '³': "^3", '€': "", '£': "", '¥': "",
	'₹': "", '：': ":", '，': ",", '（': "(", '）': ")", '⩽': "<=", '⩾': ">=", '∅': `\emptyset `,
	'\u00a0': " ", '\u2009': " ", '\u202f': " ", 'θ': `\theta `, 'α': `\alpha `, 'β': `\beta `,
}

// lex splits s into tokens. It never fails: unknown characters are dropped.
func lex(s string) []token {
	// "14{,}916" is a thousands separator written for LaTeX spacing.
	s = strings.ReplaceAll(s, "{,}", "")
	s = strings.ReplaceAll(s, "{, }", "")
	var toks []token
	space, glue := false, false
	emit := func(k tokKind, text string) {
		toks = append(toks, token{kind: k, text: text, space: space, glue: glue})
		space, glue = false, false
	}
	i := 0
	for i < len(s) && len(toks) < maxTokens {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '~':
			space = true
			i++
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j < len(s) && s[j] == '.' && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9' {
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			emit(tNum, s[i:j])
			i = j
		case isLetter(c):
			j := i
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			emit(tWord, s[i:j])
			i = j
		case c == '\\':
			if i+1 >= len(s) {
				i++
				continue
			}
			d := s[i+1]
			if d == '\\' && i+2 < len(s) && isLetter(s[i+2]) {
				// "\\le" in over-escaped input means the command \le.
				if name := leadingLetters(s[i+2:]); knownDoubled[name] {
					i++
					continue
				}
			}
			if !isLetter(d) {
				i += 2
				switch d {
				case '{', '}':
					emit(tPunct, `\`+string(d))
				case '\\':
					emit(tPunct, `\\`)
				case '%':
					emit(tPunct, "%")
				case '!', ',', ';', ':', '>':
					glue = true
				case ' ':
					space = true
				case '|':
					emit(tPunct, "|")
				}
				continue
			}
			j := i + 1
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			name := s[i+1 : j]
			i = j
			switch {
			case textCommands[name]:
				body, next, ok := bracedArg(s, i)
				if !ok {
					continue
				}
				i = next
				emit(tText, body)
			case name == "begin" || name == "end":
				body, next, ok := bracedArg(s, i)
				if !ok {
					continue
				}
				i = next
				env := strings.TrimSuffix(strings.TrimSpace(body), "*")
				if name == "begin" {
					emit(tBegin, env)
					if env == "array" || env == "tabular" {
						// Skip the column spec {cc|c}.
						if _, n2, ok := bracedArg(s, i); ok {
							i = n2
						}
					}
				} else {
					emit(tEnd, env)
				}
			case name == "color" || name == "textcolor" || name == "label" || name == "tag":
				if _, next, ok := bracedArg(s, i); ok {
					i = next
				}
			case ignoredCommands[name]:
				if name == "quad" || name == "qquad" {
					space = true
				}
				if name == "left" || name == "right" {
					// "\left." is an invisible delimiter.
					k := i
					for k < len(s) && s[k] == ' ' {
						k++
					}
					if k < len(s) && s[k] == '.' {
						i = k + 1
					}
				}
			default:
				emit(tCmd, name)
			}
		case c < utf8.RuneSelf:
			i++
			switch c {
			case '$', '\'', '"', '?', '`', '#', '@':
				// Currency, quotes and markdown carry no value here; a
				// prime is dropped rather than misread.
				if c == '\'' {
					emit(tPunct, "'")
				}
			case '&':
				emit(tPunct, "&")
			default:
				emit(tPunct, string(c))
			}
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			if rep, ok := unicodeReplace[r]; ok {
				if rep != "" {
					sub := lex(rep)
					if len(sub) > 0 {
						sub[0].space = space
						space = false
					}
					toks = append(toks, sub...)
				}
				continue
			}
			if unicode.IsSpace(r) {
				space = true
			} else if unicode.IsLetter(r) {
				emit(tWord, string(r))
			}
		}
	}
	toks = append(toks, token{kind: tEOF, space: space})
	return toks
}

// knownDoubled are commands recognised after a doubled backslash.
var knownDoubled = map[string]bool{"le": true, "leq": true, "ge": true, "geq": true, "frac": true, "in": true,
	"lt": true, "gt": true, "neq": true, "dfrac": true, "tfrac": true, "cdot": true, "times": true, "text": true, "sqrt": true, "left": true, "right": true, "pi": true, "cup": true, "infty": true}

func leadingLetters(s string) string {
	j := 0
	for j < len(s) && isLetter(s[j]) {
		j++
	}
	return s[:j]
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// bracedArg reads "{...}" (after optional spaces) starting at i and returns
// its content and the index after the closing brace.
func bracedArg(s string, i int) (string, int, bool) {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t') {
		i++
	}
	if i >= len(s) || s[i] != '{' {
		return "", i, false
	}
	end := matchBrace(s, i)
	if end < 0 {
		return "", i, false
	}
	return s[i+1 : end], end + 1, true
}

// matchBrace returns the index of the '}' that closes the '{' at s[open],
// honouring escaped braces, or -1.
func matchBrace(s string, open int) int {
	depth := 0
	for k := open; k < len(s); k++ {
		switch s[k] {
		case '\\':
			k++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}
