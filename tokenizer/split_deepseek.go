package tokenizer

// DeepSeek-V3's pre-tokenizer is a sequence of three Split stages; each
// pattern gets a hand-written matcher, checked against regexp2 and Hugging
// Face in the tests.
const (
	digits3Pattern  = `\p{N}{1,3}`
	cjkRunPattern   = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
	deepseekPattern = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"
)

// gapSplitter splits like an Isolated regex Split: every match is a piece,
// and so is every maximal run of text where no match starts.
type gapSplitter struct {
	match func(s string, i int) int // length of the match at i, 0 if none
}

func (g gapSplitter) next(s string, i int) (int, bool) {
	if n := g.match(s, i); n > 0 {
		return i + n, true
	}
	_, w := decodeAt(s, i)
	j := i + w
	for j < len(s) && g.match(s, j) == 0 {
		_, w := decodeAt(s, j)
		j += w
	}
	return j, true
}

func (g gapSplitter) collect(s string, out []string) []string {
	g.split(s, func(p string) { out = append(out, p) })
	return out
}

func (g gapSplitter) split(s string, emit func(string)) {
	gap := 0
	for i := 0; i < len(s); {
		n := g.match(s, i)
		if n == 0 {
			_, w := decodeAt(s, i)
			i += w
			continue
		}
		if i > gap {
			emit(s[gap:i])
		}
		emit(s[i : i+n])
		i += n
		gap = i
	}
	if gap < len(s) {
		emit(s[gap:])
	}
}

func matchDigits3(s string, i int) int {
	j := i
	for k := 0; k < 3 && j < len(s); k++ {
		r, w := decodeAt(s, j)
		if classOf(r) != clsNumber {
			break
		}
		j += w
	}
	return j - i
}

func isCJKRun(r rune) bool {
	return (r >= 0x4e00 && r <= 0x9fa5) || (r >= 0x3040 && r <= 0x309f) || (r >= 0x30a0 && r <= 0x30ff)
}

func matchCJKRun(s string, i int) int {
	j := i
	for j < len(s) {
		r, w := decodeAt(s, j)
		if !isCJKRun(r) {
			break
		}
		j += w
	}
	return j - i
}

// Classes for the DeepSeek pattern: \p{L}, \p{M}, \p{P}|\p{S}, \s, other.
const (
	dsOther = iota
	dsLetter
	dsMark
	dsPunct
	dsSpace
)

func dsClassSlow(r rune) uint8 {
	switch {
	case isLetter(r):
		return dsLetter
	case isMark(r):
		return dsMark
	case isPunct(r) || isSymbol(r):
		return dsPunct
	case isSpace(r):
		return dsSpace
	}
	return dsOther
}

func dsClass(r rune) uint8 {
	if r < 0x10000 {
		return bmpClass[r] >> 4
	}
	return dsClassSlow(r)
}

func isASCIILetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func matchDeepseek(s string, i int) int {
	r, w := decodeAt(s, i)
	c := dsClass(r)
	// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
	if r < 128 && c == dsPunct && i+1 < len(s) && isASCIILetter(s[i+1]) {
		j := i + 1
		for j < len(s) && isASCIILetter(s[j]) {
			j++
		}
		return j - i
	}
	// [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
	if c == dsLetter || c == dsMark {
		return w + lettersMarks(s, i+w)
	}
	if c != dsPunct && r != '\r' && r != '\n' && i+w < len(s) {
		if n := lettersMarks(s, i+w); n > 0 {
			return w + n
		}
	}
	// ` ?[\p{P}\p{S}]+[\r\n]*`
	if c == dsPunct || (r == ' ' && i+1 < len(s) && dsClass(nextRune(s, i+1)) == dsPunct) {
		j := i
		if r == ' ' {
			j++
		}
		for j < len(s) {
			r2, w2 := decodeAt(s, j)
			if dsClass(r2) != dsPunct {
				break
			}
			j += w2
		}
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j - i
	}
	if c != dsSpace {
		return 0
	}
	return spaceRun(s, i, func(r rune) bool { return dsClass(r) == dsSpace })
}

func lettersMarks(s string, j int) int {
	start := j
	for j < len(s) {
		r, w := decodeAt(s, j)
		if c := dsClass(r); c != dsLetter && c != dsMark {
			break
		}
		j += w
	}
	return j - start
}

// spaceRun matches \s*[\r\n]+|\s+(?!\S)|\s+ at i, where s[i] is a space.
func spaceRun(s string, i int, space func(rune) bool) int {
	end, lastNL, prevEnd := i, -1, i
	for end < len(s) {
		r, w := decodeAt(s, end)
		if !space(r) {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = end + 1
		}
		prevEnd = end
		end += w
	}
	if lastNL > 0 {
		return lastNL - i
	}
	if end == len(s) || prevEnd == i {
		return end - i
	}
	return prevEnd - i
}
