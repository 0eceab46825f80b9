package tokenizer

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// sharedData is /work/shared/data seen from this package; tests that need
// it skip when it is absent.
func sharedData(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not found at %s", dir)
	}
	return dir
}

var (
	loadMu sync.Mutex
	loaded = map[string]*Tokenizer{}
)

// sharedTokenizer loads ../shared/data/tokenizers/<name> once per test binary.
func sharedTokenizer(t testing.TB, name string) *Tokenizer {
	t.Helper()
	dir := filepath.Join(sharedData(t), "tokenizers", name)
	loadMu.Lock()
	defer loadMu.Unlock()
	if tk, ok := loaded[name]; ok {
		return tk
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	loaded[name] = tk
	return tk
}

// Pieces the generated strings are built from: the places where byte-level
// BPE tokenizers disagree when an implementation is slightly off.
var corpusPieces = [][]string{
	// words, case, contractions
	{"hello", "World", "THE", "naïve", "façade", "Straße", "don't", "I'M", "we're", "They'LL", "it's", "you've", "'s", "'T", "'Re", "'d", "o'clock", "rock'n'roll", "ſ", "'ſ"},
	// Unicode whitespace
	{" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u1680", "\u2003", "\u200a", "\u202f", "\u205f", "\v", "\f", " \u00a0 ", "\u3000\u3000", "\u200b", "\u180e", "\x1c", "\x1f"},
	// CJK and other scripts
	{"中文", "你好，世界", "日本語", "ひらがな", "カタカナ", "한국어", "Привет", "مرحبا", "שלום", "ไทย", "Ελληνικά", "龥", "〇", "ー"},
	// emoji with modifiers and joiners
	{"👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "❤️", "🤖", "😀😃", "✋🏿", "🧑🏻‍💻"},
	// combining marks (NFC matters for Qwen)
	{"e\u0301", "a\u0308", "n\u0303o", "\u0301", "o\u0302\u0323", "क्षि", "Å", "A\u030a", "\u1100\u1161", "ﬁ"},
	// code and indentation
	{"    def f(x):\n        return x + 1\n", "\tif (a && b) {\n\t\treturn;\n\t}", "#include <stdio.h>", "x=y+1;", "for i in range(10):", "  ", "\n    ", "}\n\n", "{}", "=>", "...", "!=", "//", "/* */", "$$", "@@"},
	// digits
	{"0", "12", "123", "1234", "12345678901", "3.14159", "1,000,000", "٣٤٥", "१२३", "Ⅻ", "½", "²", "1st", "x2", "2x"},
	// punctuation
	{"!", "?!", "...", "—", "–", "«»", "“quoted”", "(", ")", "[", "]", "'", "\"", ",", ".", ":", ";", "#", "%", "&", "*", "\\", "|", "~", "`", "^", "_"},
}

// corpus returns n deterministic strings mixing corpusPieces with the given
// special tokens.
func corpus(n int, seed uint64, specials []string) []string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	groups := append([][]string{}, corpusPieces...)
	if len(specials) > 0 {
		sp := append([]string{}, specials...)
		// Near misses must not be taken for the token.
		for _, s := range specials {
			if utf8.RuneCountInString(s) > 2 {
				_, w := utf8.DecodeLastRuneInString(s)
				sp = append(sp, s[:len(s)-w], " "+s, s+"\n")
			}
		}
		groups = append(groups, sp)
	}
	seps := []string{"", "", " ", " ", "\n", "  ", "\t", "\u00a0"}
	out := make([]string, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		k := 1 + rng.IntN(12)
		for j := 0; j < k; j++ {
			g := groups[rng.IntN(len(groups))]
			b.WriteString(g[rng.IntN(len(g))])
			b.WriteString(seps[rng.IntN(len(seps))])
		}
		out[i] = b.String()
	}
	return out
}

// randomRunes returns n deterministic strings of random code points from
// every plane (weighted towards the BMP and ASCII), where Unicode-table
// differences between implementations would show.
func randomRunes(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x7a2d))
	out := make([]string, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		for j := 0; j < 1+rng.IntN(20); j++ {
			var r rune
			switch rng.IntN(4) {
			case 0:
				r = rune(rng.IntN(0x3000))
			case 1:
				r = rune(rng.IntN(0x30000))
			case 2:
				r = rune(0x20 + rng.IntN(0x60))
			default:
				r = rune(rng.IntN(0x110000))
			}
			if !utf8.ValidRune(r) {
				r = 'x'
			}
			b.WriteRune(r)
		}
		out[i] = b.String()
	}
	return out
}
