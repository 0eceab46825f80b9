package tokenizer

import (
	"unicode/utf8"
)

// byteToRune and runeToByte are GPT-2's byte-level alphabet: every byte maps
// to a printable rune so that BPE vocabularies can be stored as JSON strings.
// Printable Latin-1 bytes map to themselves; the rest are shifted to U+0100+.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevelString maps raw bytes to their byte-level rune spelling.
func byteLevelString(raw string) string {
	buf := make([]rune, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		buf = append(buf, byteToRune[raw[i]])
	}
	return string(buf)
}

// byteLevelDecode maps a byte-level spelled token back to raw bytes. ok is
// false when some rune is outside the alphabet; Hugging Face then keeps the
// token's own UTF-8 bytes, which is how added tokens such as "<｜User｜>" decode.
func byteLevelDecode(tok string) (raw string, ok bool) {
	buf := make([]byte, 0, len(tok))
	for _, r := range tok {
		b, in := runeToByte[r]
		if !in {
			return tok, false
		}
		buf = append(buf, b)
	}
	return string(buf), true
}

// appendLossyUTF8 appends b to dst, replacing each invalid sequence the way
// Rust's String::from_utf8_lossy does (one U+FFFD per maximal invalid prefix),
// because that is what Hugging Face's decoder returns and Go's
// strings.ToValidUTF8 collapses runs differently.
func appendLossyUTF8(dst []byte, b []byte) []byte {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			dst = append(dst, b[i])
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, b[i:i+size]...)
			i += size
			continue
		}
		dst = append(dst, "\uFFFD"...)
		i += invalidPrefixLen(b[i:])
	}
	return dst
}

// invalidPrefixLen is the length of the maximal prefix of b that starts a
// well-formed UTF-8 sequence but is cut short (at least 1).
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k > 0 {
			lo, hi = 0x80, 0xBF
		}
		if x < lo || x > hi {
			break
		}
		n++
	}
	return n
}

// completePrefix returns how many leading bytes of b can be emitted now: all
// of it except a trailing sequence that is a valid but unfinished UTF-8 start.
func completePrefix(b []byte) int {
	// A UTF-8 sequence is at most 4 bytes, so only the last 3 can be pending.
	for back := 1; back <= 3 && back <= len(b); back++ {
		start := len(b) - back
		c := b[start]
		if c < 0x80 {
			return len(b)
		}
		if c >= 0xC0 { // a lead byte
			tail := b[start:]
			if utf8.FullRune(tail) {
				return len(b)
			}
			if invalidPrefixLen(tail) == len(tail) {
				return start
			}
			return len(b)
		}
	}
	return len(b)
}
