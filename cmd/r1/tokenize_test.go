package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/r1go/r1/tokenizer"
)

func qwenDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data", "tokenizers", "qwen3")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared tokenizer not found at %s", dir)
	}
	return dir
}

// smallTokenizerDir trains a tiny tokenizer for the tests that do not need
// a real vocabulary; it loads in milliseconds where Qwen's takes a second.
func smallTokenizerDir(t *testing.T) string {
	t.Helper()
	corpus := []string{"The answer is 42.", "Hello world, hello tokenizer.", "Да! 日本語 👍", "  indented\n\tcode()"}
	tk, err := tokenizer.Train(slices.Values(corpus), 300, []string{"<|endoftext|>"})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tok")
	if err := tk.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runTok(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runTokenize(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestTokenizeHelp(t *testing.T) {
	_, stderr, err := runTok(t, "", "-h")
	if !errors.Is(err, errHelp) {
		t.Fatalf("-h returned %v, want errHelp", err)
	}
	for _, flag := range []string{"-tokenizer", "-jsonl", "-decode", "-count", "-add-special", "-skip-special"} {
		if !strings.Contains(stderr, flag) {
			t.Errorf("help lacks %s:\n%s", flag, stderr)
		}
	}
}

func TestTokenizeCLI(t *testing.T) {
	dir := qwenDir(t)
	tk, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Hello world", "", "<|im_start|>user\n你好 👍🏽", "  indented\n\tcode()"}
	var in strings.Builder
	for _, s := range texts {
		b, _ := json.Marshal(map[string]string{"text": s})
		in.Write(b)
		in.WriteByte('\n')
	}

	t.Run("jsonl", func(t *testing.T) {
		out, _, err := runTok(t, in.String(), "--tokenizer", dir, "--jsonl")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(texts) {
			t.Fatalf("got %d lines for %d inputs:\n%s", len(lines), len(texts), out)
		}
		for i, l := range lines {
			var rec struct{ IDs []int32 }
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("line %d %q: %v", i, l, err)
			}
			if want := tk.Encode(texts[i], false); !slices.Equal(rec.IDs, want) && !(len(want) == 0 && len(rec.IDs) == 0) {
				t.Errorf("line %d: ids %v, want %v", i, rec.IDs, want)
			}
		}
	})
	t.Run("tokenizer.json path, count", func(t *testing.T) {
		out, _, err := runTok(t, in.String(), "--tokenizer", filepath.Join(dir, "tokenizer.json"), "--jsonl", "--count")
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for _, s := range texts {
			b, _ := json.Marshal(map[string]int{"count": len(tk.Encode(s, false))})
			want.Write(b)
			want.WriteByte('\n')
		}
		if out != want.String() {
			t.Errorf("counts:\n%s\nwant\n%s", out, want.String())
		}
	})
	small := smallTokenizerDir(t)
	t.Run("plain and decode round trip", func(t *testing.T) {
		dir := small
		tk, err := tokenizer.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		text := "The answer is 42.\nДа! 日本語"
		out, _, err := runTok(t, text, "--tokenizer", dir)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int32
		if err := json.Unmarshal([]byte(out), &ids); err != nil || !slices.Equal(ids, tk.Encode(text, false)) {
			t.Fatalf("plain output %q (err %v)", out, err)
		}
		back, _, err := runTok(t, out, "--tokenizer", dir, "--decode")
		if err != nil || back != text {
			t.Fatalf("decode gave %q (err %v), want %q", back, err, text)
		}
		line, _ := json.Marshal(map[string][]int32{"ids": ids})
		back, _, err = runTok(t, string(line)+"\n", "--tokenizer", dir, "--decode", "--jsonl")
		var rec struct{ Text string }
		if err != nil || json.Unmarshal([]byte(back), &rec) != nil || rec.Text != text {
			t.Fatalf("jsonl decode gave %q (err %v)", back, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		dir := small
		for _, tc := range []struct {
			name, stdin string
			args        []string
			want        string
			usage       bool
		}{
			{"no tokenizer", "", nil, "--tokenizer is required", true},
			{"missing file", "", []string{"--tokenizer", filepath.Join(t.TempDir(), "nope")}, "no such file", false},
			{"bad jsonl", "{\"text\": 1}\n", []string{"--tokenizer", dir, "--jsonl"}, "stdin line 1", false},
			{"missing field", "{\"txt\": \"a\"}\n", []string{"--tokenizer", dir, "--jsonl"}, `field "text" missing`, false},
			{"bad ids", "[1, x]", []string{"--tokenizer", dir, "--decode"}, `"x"`, false},
			{"decode and count", "", []string{"--tokenizer", dir, "--decode", "--count"}, "cannot be combined", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, stderr, err := runTok(t, tc.stdin, tc.args...)
				if err == nil {
					t.Fatal("expected an error")
				}
				if tc.usage != errors.Is(err, errUsage) {
					t.Fatalf("err %v: usage error = %v, want %v", err, errors.Is(err, errUsage), tc.usage)
				}
				if !strings.Contains(err.Error()+stderr, tc.want) {
					t.Fatalf("error %q / stderr %q lacks %q", err, stderr, tc.want)
				}
			})
		}
	})
}
