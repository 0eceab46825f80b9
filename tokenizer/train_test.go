package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gsm8kTexts returns the first n GSM8K training questions and answers.
func gsm8kTexts(t testing.TB, n int) []string {
	f, err := os.Open(filepath.Join(sharedData(t), "gsm8k", "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		var r struct{ Question, Answer string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r.Question+"\n"+r.Answer)
	}
	return out
}

func trainSmall(t testing.TB, vocab int) (*Tokenizer, []string) {
	texts := gsm8kTexts(t, 400)
	tk, err := Train(slices.Values(texts), vocab, []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"})
	if err != nil {
		t.Fatal(err)
	}
	return tk, texts
}

func TestTrainRoundTrip(t *testing.T) {
	tk, texts := trainSmall(t, 1000)
	if got := tk.VocabSize(); got != 1000 {
		t.Fatalf("VocabSize = %d, want 1000", got)
	}
	if id, ok := tk.TokenID("<|im_end|>"); !ok || id != 2 || !tk.IsSpecial(id) {
		t.Fatalf("special token id %d %v", id, ok)
	}
	// Frequent words must have become single tokens.
	for _, w := range []string{" the", " of", "####"} {
		if ids := tk.Encode(w, false); len(ids) != 1 {
			t.Errorf("%q encodes to %d tokens %v, want 1", w, len(ids), ids)
		}
	}
	tk.EOS, _ = tk.TokenID("<|endoftext|>")
	tk.PAD = tk.EOS
	tk.ChatTemplate = "{{ messages }}"
	dir := filepath.Join(t.TempDir(), "tok")
	if err := tk.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatalf("Load of saved tokenizer: %v", err)
	}
	if back.EOS != tk.EOS || back.PAD != tk.PAD || back.ChatTemplate != tk.ChatTemplate || back.VocabSize() != tk.VocabSize() {
		t.Errorf("config did not round-trip: EOS %d PAD %d template %q size %d", back.EOS, back.PAD, back.ChatTemplate, back.VocabSize())
	}
	total, bytes := 0, 0
	for _, s := range append(texts[:50], "<|im_start|>user\nWhat is 12+30?<|im_end|>", "naïve 中文 👍") {
		a, b := tk.Encode(s, false), back.Encode(s, false)
		if !slices.Equal(a, b) {
			t.Fatalf("%q: trained %v, reloaded %v", s, a, b)
		}
		if got := back.Decode(b, false); got != s {
			t.Fatalf("decode %q, want %q", got, s)
		}
		total += len(a)
		bytes += len(s)
	}
	if float64(bytes)/float64(total) < 2.0 {
		t.Errorf("compression %.2f bytes/token is too low for a 1000-token vocabulary", float64(bytes)/float64(total))
	}
	// A saved tokenizer.json path works too.
	if err := tk.Save(filepath.Join(t.TempDir(), "x.json")); err != nil {
		t.Fatal(err)
	}
}

func TestTrainDeterministic(t *testing.T) {
	a, _ := trainSmall(t, 600)
	b, _ := trainSmall(t, 600)
	if !slices.Equal(a.src.Model.Merges, b.src.Model.Merges) {
		t.Fatal("two trainings on the same corpus gave different merges")
	}
}

func TestTrainErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vocab    int
		specials []string
		want     string
	}{
		{"too small", 100, nil, "below 256"},
		{"empty special", 300, []string{""}, "empty or repeated"},
		{"repeated special", 300, []string{"<a>", "<a>"}, "empty or repeated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Train(slices.Values([]string{"x"}), tc.vocab, tc.specials)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTrainSingleDigits(t *testing.T) {
	corpus := slices.Values([]string{"12 + 345 = 357", "What is 1234 + 99? 1333", "7 * 8 = 56, 56 + 100 = 156"})
	tok, err := TrainWith(corpus, 300, []string{"<|endoftext|>"}, TrainOptions{SingleDigits: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range [][]*Tokenizer{{tok}, {back}} {
		ids := tk[0].Encode("1234 + 99", false)
		for _, id := range ids {
			s, _ := tk[0].IDToken(id)
			digits := 0
			for _, r := range s {
				if r >= '0' && r <= '9' {
					digits++
				}
			}
			if digits > 1 {
				t.Fatalf("token %q holds %d digits", s, digits)
			}
		}
	}
}
