package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

type vector struct {
	I    int     `json:"i"`
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func readVectors(t *testing.T, path string) []vector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestVectors checks the Hugging Face encodings shipped in shared data.
func TestVectors(t *testing.T) {
	for _, tc := range []struct{ tok, file string }{
		{"qwen3", "qwen2.jsonl"},
		{"llama3", "llama-bpe.jsonl"},
	} {
		t.Run(tc.tok, func(t *testing.T) {
			tk := sharedTokenizer(t, tc.tok)
			vs := readVectors(t, filepath.Join(sharedData(t), "tokenizers", "test_vectors", tc.file))
			if len(vs) == 0 {
				t.Fatal("no vectors")
			}
			pass := 0
			for _, v := range vs {
				got := tk.Encode(v.Text, false)
				if !slices.Equal(got, v.IDs) {
					t.Errorf("vector %d %q: got %v, want %v", v.I, v.Text, got, v.IDs)
					continue
				}
				pass++
				if dec := tk.Decode(got, false); dec != normalizeFor(tk, v.Text) {
					t.Errorf("vector %d: decode %q, want %q", v.I, dec, v.Text)
				}
			}
			t.Logf("%s: %d/%d vectors identical", tc.file, pass, len(vs))
		})
	}
}

func normalizeFor(tk *Tokenizer, s string) string {
	if tk.normalize != nil {
		return tk.normalize(s)
	}
	return s
}

// TestSplitterMatchesRegex checks the hand-written pre-tokenizers against
// regexp2 running the original patterns.
func TestSplitterMatchesRegex(t *testing.T) {
	texts := append(corpus(3000, 1, []string{"<|im_start|>"}), randomRunes(3000, 2)...)
	texts = append(texts, "$abc", "'é", "❤️x", "a\u200db", "12ab", "x\u0301\u0301", "", "a", " ", "  a", "\n \n", "a  \n\n b", "'S'll'", "x \u00a0y", "1 2  3   4", " !!\n\n", "\xff\xfe bad utf8 \xe2\x82")
	for _, tc := range []struct {
		name    string
		pattern string
	}{{"llama3", llama3Pattern}, {"qwen", qwenPattern}, {"digits3", digits3Pattern}, {"cjk", cjkRunPattern}, {"deepseek", deepseekPattern}} {
		t.Run(tc.name, func(t *testing.T) {
			fast, err := newRegexSplitter(tc.pattern, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := fast.(*regexSplitter); ok {
				t.Fatalf("pattern did not select the hand-written splitter: %T", fast)
			}
			slow, err := compileRegexSplitter(tc.pattern, false)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for _, s := range texts {
				if !knownToGo(s) {
					// regexp2 uses Go's older Unicode tables; Hugging Face is
					// the reference for these (TestEveryCodePointHF).
					continue
				}
				if !utf8.ValidString(s) {
					// regexp2 sees U+FFFD for bad bytes; only check no panic and full coverage.
					if got := strings.Join(pieces(fast, s), ""); got != s {
						t.Errorf("%q: pieces do not cover the input: %q", s, got)
					}
					continue
				}
				a, b := pieces(fast, s), pieces(slow, s)
				if !slices.Equal(a, b) {
					bad++
					if bad < 5 {
						t.Errorf("%q:\n fast %q\n regex %q", s, a, b)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d/%d strings split differently", bad, len(texts))
			}
		})
	}
}

func pieces(sp splitter, s string) []string {
	var out []string
	sp.split(s, func(p string) { out = append(out, p) })
	return out
}

func TestDecodeAndStream(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3", "deepseek_v3"} {
		t.Run(name, func(t *testing.T) {
			tk := sharedTokenizer(t, name)
			var specials []string
			for _, a := range tk.src.AddedTokens[:min(5, len(tk.src.AddedTokens))] {
				specials = append(specials, a.Content)
			}
			for i, s := range corpus(300, 7, specials) {
				ids := tk.Encode(s, false)
				want := normalizeFor(tk, s)
				if got := tk.Decode(ids, false); got != want {
					t.Fatalf("string %d %q: decode gave %q", i, s, got)
				}
				d := tk.NewDecoder(false)
				var b strings.Builder
				for _, id := range ids {
					piece := d.Push(id)
					if !utf8.ValidString(piece) || strings.ContainsRune(piece, utf8.RuneError) && !strings.ContainsRune(want, utf8.RuneError) {
						t.Fatalf("string %d: Push(%d) returned a broken piece %q", i, id, piece)
					}
					b.WriteString(piece)
				}
				b.WriteString(d.Flush())
				if b.String() != want {
					t.Fatalf("string %d: streaming decode %q, want %q", i, b.String(), want)
				}
			}
		})
	}
}

func TestLossyUTF8(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", "abc"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte sequence: one replacement
		{"\xe2\x82a", "\uFFFDa"},               // ... followed by ASCII
		{"\xff\xfe", "\uFFFD\uFFFD"},           // two bad bytes: two replacements
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated emoji
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: each byte
		{"€", "€"},
	} {
		if got := string(appendLossyUTF8(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("lossy(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSkipSpecialAndIDs(t *testing.T) {
	tk := sharedTokenizer(t, "qwen3")
	ids := tk.Encode("<|im_start|>user\nhi<|im_end|>", false)
	start, ok := tk.TokenID("<|im_start|>")
	if !ok || ids[0] != start {
		t.Fatalf("special token not split out first: %v (id %d)", ids, start)
	}
	if got := tk.Decode(ids, true); got != "user\nhi" {
		t.Errorf("Decode skipSpecial = %q", got)
	}
	if tk.EOS < 0 || tk.PAD < 0 || tk.ChatTemplate == "" {
		t.Errorf("config not applied: EOS %d PAD %d template %d bytes", tk.EOS, tk.PAD, len(tk.ChatTemplate))
	}
	if s, ok := tk.IDToken(ids[0]); !ok || s != "<|im_start|>" {
		t.Errorf("IDToken(%d) = %q, %v", ids[0], s, ok)
	}
	if _, ok := tk.IDToken(-1); ok {
		t.Error("IDToken(-1) should fail")
	}
	if got, want := tk.VocabSize(), 151669; got != want {
		t.Errorf("VocabSize = %d, want %d", got, want)
	}
	ds := sharedTokenizer(t, "deepseek_v3")
	if !ds.AddBOS || ds.BOS != 0 {
		t.Fatalf("deepseek: AddBOS %v BOS %d", ds.AddBOS, ds.BOS)
	}
	if got := ds.Encode("hi", true); len(got) < 2 || got[0] != 0 {
		t.Errorf("deepseek addSpecial: %v, want BOS first", got)
	}
	if got := ds.Encode("hi", false); got[0] == 0 {
		t.Errorf("deepseek without addSpecial: %v", got)
	}
}

func TestEncodeBatchMatchesEncode(t *testing.T) {
	tk := sharedTokenizer(t, "llama3")
	texts := corpus(200, 3, []string{"<|eot_id|>"})
	got := tk.EncodeBatch(texts, false)
	for i, s := range texts {
		if !slices.Equal(got[i], tk.Encode(s, false)) {
			t.Fatalf("batch result %d differs", i)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, json, want string
	}{
		{"wordpiece", `{"model":{"type":"WordPiece","vocab":{}}}`, `model.type: "WordPiece" is not supported`},
		{"unigram", `{"model":{"type":"Unigram","vocab":[]}}`, `"Unigram" is not supported`},
		{"garbage", `{not json`, "not a tokenizer.json"},
		{"badmerge", `{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"},"decoder":{"type":"ByteLevel"}}`, "model.merges[0]"},
		{"nobytelevel", `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"decoder":{"type":"ByteLevel"}}`, "no ByteLevel stage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			if err := os.WriteFile(p, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load error = %v, want one naming %s and containing %q", err, p, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Load of a missing path succeeded")
	}
}

// knownToGo reports whether no rune of s is one whose class r1 corrects
// from Go's Unicode tables.
func knownToGo(s string) bool {
	for _, r := range s {
		for _, tab := range []*unicode.RangeTable{flipL, flipN, flipM, flipP, flipS, flipspace} {
			if unicode.Is(tab, r) {
				return false
			}
		}
	}
	return true
}
