package tokenizer

import "unicode"

// The class predicates below are Go's Unicode tables corrected by the
// generated flip tables (unicode_tables.go), so that characters newer than
// Go's Unicode version fall in the class Hugging Face's Oniguruma gives
// them.

func isLetter(r rune) bool { return unicode.IsLetter(r) != unicode.Is(flipL, r) }
func isNumber(r rune) bool { return unicode.IsNumber(r) != unicode.Is(flipN, r) }
func isMark(r rune) bool   { return unicode.IsMark(r) != unicode.Is(flipM, r) }
func isPunct(r rune) bool  { return unicode.IsPunct(r) != unicode.Is(flipP, r) }
func isSymbol(r rune) bool { return unicode.IsSymbol(r) != unicode.Is(flipS, r) }

// classifySlow puts r in one of the classes the GPT-4 style patterns use:
// \p{L}, \p{N}, \s or anything else.
func classifySlow(r rune) uint8 {
	switch {
	case isLetter(r):
		return clsLetter
	case isNumber(r):
		return clsNumber
	case isSpace(r):
		return clsSpace
	}
	return clsOther
}

// isSpace is \s as Oniguruma and regexp2 define it: Unicode White_Space.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}
