package tokenizer

import (
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzEncode checks, for any input, that encoding never panics, that the
// hand-written pre-tokenizers agree with regexp2, and that valid UTF-8
// decodes back to its normalized self. `go test` runs the seeds; run
// `go test -fuzz FuzzEncode ./tokenizer` to explore.
func FuzzEncode(f *testing.F) {
	for _, s := range append(corpus(40, 3, []string{"<|im_start|>", "<think>"}), randomRunes(20, 4)...) {
		f.Add(s)
	}
	f.Add("\xff\xfe\xe2\x82")
	tk := sharedTokenizer(f, "qwen3")
	fastSplitters := []splitter{gpt4Splitter{maxDigits: 1}, gpt4Splitter{maxDigits: 3}, gapSplitter{matchDeepseek}, gapSplitter{matchDigits3}, gapSplitter{matchCJKRun}}
	var slowSplitters []splitter
	for _, p := range []string{qwenPattern, llama3Pattern, deepseekPattern, digits3Pattern, cjkRunPattern} {
		sp, err := compileRegexSplitter(p, false)
		if err != nil {
			f.Fatal(err)
		}
		slowSplitters = append(slowSplitters, sp)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s, false)
		if !utf8.ValidString(s) {
			return
		}
		if got, want := tk.Decode(ids, false), tk.normalize(s); got != want {
			t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
		}
		if !knownToGo(s) {
			return // regexp2 has Go's older Unicode tables
		}
		for i := range fastSplitters {
			a, b := pieces(fastSplitters[i], s), pieces(slowSplitters[i], s)
			if !slices.Equal(a, b) {
				t.Fatalf("splitter %d on %q:\n fast %q\n regex %q", i, s, a, b)
			}
		}
	})
}
