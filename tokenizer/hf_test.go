package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hfDir holds the Node script that runs Hugging Face's Rust tokenizer
// (@anush008/tokenizers); scripts/test.sh runs npm install there.
var hfDir = filepath.Join("testdata", "hf")

// hfAvailable skips the test unless node and the installed package exist.
func hfAvailable(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found; the Hugging Face differential test needs it")
	}
	if _, err := os.Stat(filepath.Join(hfDir, "node_modules", "@anush008", "tokenizers")); err != nil {
		t.Skipf("%s/node_modules missing; run npm install there (scripts/test.sh does)", hfDir)
	}
}

// hfEncode runs Hugging Face's tokenizer on texts (no special tokens added).
func hfEncode(t testing.TB, tokenizerJSON string, texts []string) [][]int32 {
	t.Helper()
	return hfEncodeOpt(t, tokenizerJSON, texts, false)
}

func hfEncodeOpt(t testing.TB, tokenizerJSON string, texts []string, addSpecial bool) [][]int32 {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, s := range texts {
		if err := enc.Encode(map[string]string{"text": s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(tokenizerJSON)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"hf.js", "encode", abs, in}
	if addSpecial {
		args = append(args, "special")
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = hfDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node hf.js encode %s: %v\n%s", abs, err, stderr.String())
	}
	var res [][]int32
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r struct {
			IDs []int32 `json:"ids"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("node output line %d: %v", len(res)+1, err)
		}
		res = append(res, r.IDs)
	}
	if len(res) != len(texts) {
		t.Fatalf("node returned %d encodings for %d texts", len(res), len(texts))
	}
	return res
}

// TestDifferentialHF compares r1's ids with Hugging Face's Rust tokenizer on
// generated strings mixing Unicode whitespace, CJK, emoji, combining marks,
// code, digits, contractions and special tokens.
func TestDifferentialHF(t *testing.T) {
	hfAvailable(t)
	for _, tc := range []struct {
		name     string
		specials []string
	}{
		{"qwen3", []string{"<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<tool_call>"}},
		{"llama3", []string{"<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|reserved_special_token_5|>"}},
		{"deepseek_v3", []string{"<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "<｜fim▁hole｜>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := sharedTokenizer(t, tc.name)
			texts := corpus(3000, 42, tc.specials)
			texts = append(texts, randomRunes(1000, 9)...)
			generated := len(texts)
			texts = append(texts, realTexts(t)...)
			want := hfEncode(t, tk.path, texts)
			same, diff := 0, 0
			for i, s := range texts {
				got := tk.Encode(s, false)
				if slices.Equal(got, want[i]) {
					same++
				} else if diff++; diff <= 5 {
					t.Errorf("text %d %q:\n r1 %v\n hf %v", i, s, got, want[i])
				}
			}
			t.Logf("%s: %d/%d identical (%d generated, %d real GSM8K/MATH-500/MBPP texts)", tc.name, same, len(texts), generated, len(texts)-generated)
			if same != len(texts) {
				t.Errorf("%s: %d of %d strings differ from Hugging Face", tc.name, len(texts)-same, len(texts))
			}
		})
	}
}

// TestTrainedLoadsInHF saves a tokenizer trained by r1 and checks that
// Hugging Face loads it and encodes exactly as r1 does.
func TestTrainedLoadsInHF(t *testing.T) {
	hfAvailable(t)
	tk, texts := trainSmall(t, 1500)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tk.Save(path); err != nil {
		t.Fatal(err)
	}
	inputs := append(corpus(1000, 5, []string{"<|im_start|>", "<|endoftext|>"}), texts[:100]...)
	want := hfEncode(t, path, inputs)
	diff := 0
	for i, s := range inputs {
		if got := tk.Encode(s, false); !slices.Equal(got, want[i]) {
			if diff++; diff <= 3 {
				t.Errorf("%q:\n r1 %v\n hf %v", s, got, want[i])
			}
		}
	}
	t.Logf("trained tokenizer: %d/%d identical in Hugging Face", len(inputs)-diff, len(inputs))
}

// realTexts is a slice of real data (English word problems, LaTeX, Python)
// to go with the generated strings.
func realTexts(t testing.TB) []string {
	out := gsm8kTexts(t, 300)
	for _, f := range []struct{ file, field string }{{"math500/test.jsonl", "solution"}, {"code/mbpp.jsonl", "code"}} {
		data, err := os.ReadFile(filepath.Join(sharedData(t), f.file))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			if i >= 300 {
				break
			}
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil {
				if s, ok := rec[f.field].(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// TestAddedTokenFlagsHF checks lstrip, rstrip and single_word added tokens
// against Hugging Face on a trained tokenizer extended with such tokens.
func TestAddedTokenFlagsHF(t *testing.T) {
	hfAvailable(t)
	tk, _ := trainSmall(t, 800)
	f := *tk.src
	n := tk.VocabSize()
	f.AddedTokens = append(append([]addedTokenJSON{}, f.AddedTokens...),
		addedTokenJSON{ID: n, Content: "<mask>", LStrip: true, Special: true},
		addedTokenJSON{ID: n + 1, Content: "<r>", RStrip: true},
		addedTokenJSON{ID: n + 2, Content: "<both>", LStrip: true, RStrip: true, Special: true},
		addedTokenJSON{ID: n + 3, Content: "sw", SingleWord: true, Special: true},
		addedTokenJSON{ID: n + 4, Content: "<up>", Normalized: true, Special: true},
		addedTokenJSON{ID: n + 5, Content: "<Raw>"},
		addedTokenJSON{ID: n + 6, Content: "<low>", Normalized: true},
	)
	// A normalizer makes the normalized/raw distinction visible.
	f.Normalizer = json.RawMessage(`{"type":"Lowercase"}`)
	ext, err := build(&f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := ext.Save(path); err != nil {
		t.Fatal(err)
	}
	inputs := corpus(1500, 11, []string{"<mask>", "<r>", "<both>", "sw", " sw ", "swim", "a sw\u00a0", "\u3000<mask>", "<r>\n\n", "<UP>", "<up>", "<Raw>", "<RAW>", "<raw>", "<LOW>", "SW"})
	// Random neighbours decide whether "sw" is a single word. Code points
	// Go's Unicode tables (15.0) leave unassigned are left out: Rust's regex
	// knows newer scripts (see the package's known limits).
	rr := randomRunes(1000, 12)
	for i := 0; i+1 < len(rr); i += 2 {
		a, _ := utf8.DecodeLastRuneInString(rr[i])
		b, _ := utf8.DecodeRuneInString(rr[i+1])
		if assigned(a) && assigned(b) {
			inputs = append(inputs, string(a)+"sw"+string(b), string(a)+"<both>"+string(b))
		}
	}
	want := hfEncode(t, path, inputs)
	diff := 0
	for i, s := range inputs {
		if got := ext.Encode(s, false); !slices.Equal(got, want[i]) {
			if diff++; diff <= 3 {
				t.Errorf("%q:\n r1 %v\n hf %v", s, got, want[i])
			}
		}
	}
	t.Logf("lstrip/rstrip/single_word/normalized tokens: %d/%d identical", len(inputs)-diff, len(inputs))
}

func assigned(r rune) bool {
	return unicode.IsGraphic(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Co)
}

// TestTemplateProcessingHF checks Encode(text, true) against Hugging Face
// for a TemplateProcessing post-processor (BOS before, EOS after).
func TestTemplateProcessingHF(t *testing.T) {
	hfAvailable(t)
	tk, _ := trainSmall(t, 600)
	f := *tk.src
	f.PostProcessor = json.RawMessage(`{"type":"TemplateProcessing",
		"single":[{"SpecialToken":{"id":"<|im_start|>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"<|im_end|>","type_id":0}}],
		"pair":[{"Sequence":{"id":"A","type_id":0}},{"Sequence":{"id":"B","type_id":1}}],
		"special_tokens":{"<|im_start|>":{"id":"<|im_start|>","ids":[1],"tokens":["<|im_start|>"]},"<|im_end|>":{"id":"<|im_end|>","ids":[2],"tokens":["<|im_end|>"]}}}`)
	ext, err := build(&f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := ext.Save(path); err != nil {
		t.Fatal(err)
	}
	inputs := append(corpus(200, 13, nil), "")
	want := hfEncodeOpt(t, path, inputs, true)
	for i, s := range inputs {
		got := ext.Encode(s, true)
		if !slices.Equal(got, want[i]) {
			t.Fatalf("%q:\n r1 %v\n hf %v", s, got, want[i])
		}
		if got[0] != 1 || got[len(got)-1] != 2 {
			t.Fatalf("%q: %v lacks the template tokens", s, got)
		}
	}
}

// TestDecodeHF compares Decode with Hugging Face's on random id sequences,
// which often cut UTF-8 characters (U+FFFD placement) and include special
// tokens (skipSpecial).
func TestDecodeHF(t *testing.T) {
	hfAvailable(t)
	for _, name := range []string{"qwen3", "deepseek_v3"} {
		tk := sharedTokenizer(t, name)
		rng := rand.New(rand.NewPCG(21, 0))
		var seqs [][]int32
		for i := 0; i < 500; i++ {
			ids := make([]int32, 1+rng.IntN(12))
			for j := range ids {
				switch rng.IntN(6) {
				case 0, 1:
					ids[j] = int32(128 + rng.IntN(256)) // single-byte tokens: broken UTF-8
				case 2:
					ids[j] = int32(tk.src.AddedTokens[rng.IntN(len(tk.src.AddedTokens))].ID)
				default:
					ids[j] = int32(rng.IntN(tk.VocabSize()))
				}
			}
			seqs = append(seqs, ids)
		}
		in := filepath.Join(t.TempDir(), "ids.jsonl")
		var buf bytes.Buffer
		for _, s := range seqs {
			b, _ := json.Marshal(map[string][]int32{"ids": s})
			buf.Write(b)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("node", "hf.js", "decode", mustAbs(t, tk.path), in)
		cmd.Dir = hfDir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node hf.js decode: %v", err)
		}
		lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
		if len(lines) != len(seqs) {
			t.Fatalf("node returned %d lines for %d inputs", len(lines), len(seqs))
		}
		diff := 0
		for i, l := range lines {
			var r struct{ Text, Skipped string }
			if err := json.Unmarshal(l, &r); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				skip bool
				want string
			}{{false, r.Text}, {true, r.Skipped}} {
				if got := tk.Decode(seqs[i], c.skip); got != c.want {
					if diff++; diff <= 3 {
						t.Errorf("%s skip=%v %v:\n r1 %q\n hf %q", name, c.skip, seqs[i], got, c.want)
					}
				}
			}
		}
		t.Logf("%s decode (with and without skipSpecial): %d/%d identical", name, 2*len(seqs)-diff, 2*len(seqs))
	}
}

func mustAbs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestFallbackPreTokenizersHF checks pre-tokenizer setups without a
// hand-written matcher (regexp2 path, GPT-2 style ByteLevel with a prefix
// space, literal and Removed splits) against Hugging Face.
func TestFallbackPreTokenizersHF(t *testing.T) {
	hfAvailable(t)
	tk, texts := trainSmall(t, 700)
	inputs := append(corpus(400, 17, []string{"<|im_start|>"}), texts[:50]...)
	for _, tc := range []struct{ name, pre string }{
		{"gpt2 bytelevel", `{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true}`},
		{"regex isolated", `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\d+|[^\\s\\d]+"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}`},
		{"regex removed", `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\s+"},"behavior":"Removed","invert":false},{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":false,"use_regex":false}]}`},
		{"literal", `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"String":", "},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":true}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := *tk.src
			f.PreTokenizer = json.RawMessage(tc.pre)
			ext, err := build(&f)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := ext.Save(path); err != nil {
				t.Fatal(err)
			}
			want := hfEncode(t, path, inputs)
			diff := 0
			for i, s := range inputs {
				if got := ext.Encode(s, false); !slices.Equal(got, want[i]) {
					if diff++; diff <= 3 {
						t.Errorf("%q:\n r1 %v\n hf %v", s, got, want[i])
					}
				}
			}
			t.Logf("%s: %d/%d identical", tc.name, len(inputs)-diff, len(inputs))
		})
	}
}
