package tokenizer

import (
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestEveryCodePointHF puts every code point of planes 0–3 and 14 in the contexts
// that decide the pre-tokenizer classes (after a space, before a letter,
// before a digit, before punctuation) and compares with Hugging Face. It
// takes minutes, so it runs only with R1_TOKENIZER_EXHAUSTIVE=1.
func TestEveryCodePointHF(t *testing.T) {
	if os.Getenv("R1_TOKENIZER_EXHAUSTIVE") != "1" {
		t.Skip("set R1_TOKENIZER_EXHAUSTIVE=1 to compare every code point with Hugging Face")
	}
	hfAvailable(t)
	var texts []string
	var b strings.Builder
	for c := rune(0); c < 0xE1000; c++ {
		if !utf8.ValidRune(c) || (c >= 0x40000 && c < 0xE0000) {
			continue // planes 4–13 are unassigned
		}
		b.WriteString(" ")
		b.WriteRune(c)
		b.WriteString("a")
		b.WriteRune(c)
		b.WriteString("1")
		b.WriteRune(c)
		b.WriteString("'s")
		b.WriteRune(c)
		b.WriteString("\n")
		if c%8 == 7 {
			texts = append(texts, b.String())
			b.Reset()
		}
	}
	for _, name := range []string{"qwen3", "llama3", "deepseek_v3"} {
		tk := sharedTokenizer(t, name)
		want := hfEncode(t, tk.path, texts)
		diff := 0
		for i, s := range texts {
			if got := tk.Encode(s, false); !slices.Equal(got, want[i]) {
				if diff++; diff <= 5 {
					t.Errorf("%s %+q:\n r1 %v\n hf %v", name, s, got, want[i])
				}
			}
		}
		t.Logf("%s: %d/%d strings (8 code points each) identical", name, len(texts)-diff, len(texts))
	}
}
