package main

import (
	"bufio"
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

// A bad line no longer loses the good lines buffered before it: every line
// is answered in order (ids, or an error naming the line), and the run
// fails after the last line.
func TestTokenizeJSONLAnswersEveryLine(t *testing.T) {
	dir := smallTokenizerDir(t)
	tk, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := `{"text": "Hello world"}
{"text": "The answer is 42."}

{"text": 1}
{"ids": [1]}
{"text": "code()"}`
	for _, mode := range [][]string{nil, {"--count"}} {
		out, _, err := runTok(t, in, append([]string{"--tokenizer", dir, "--jsonl"}, mode...)...)
		if err == nil || !strings.Contains(err.Error(), "3 of 6 lines could not be tokenized") || !strings.Contains(err.Error(), "stdin line 3: blank line") {
			t.Fatalf("%v: err %v", mode, err)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 6 {
			t.Fatalf("%v: %d output lines for 6 input lines:\n%s", mode, len(lines), out)
		}
		for i, text := range map[int]string{0: "Hello world", 1: "The answer is 42.", 5: "code()"} {
			var rec struct {
				IDs   []int32 `json:"ids"`
				Count *int    `json:"count"`
			}
			if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
				t.Fatalf("line %d %q: %v", i+1, lines[i], err)
			}
			want := tk.Encode(text, false)
			if (mode == nil && !slices.Equal(rec.IDs, want)) || (mode != nil && (rec.Count == nil || *rec.Count != len(want))) {
				t.Errorf("%v: line %d = %s, want the ids of %q", mode, i+1, lines[i], text)
			}
		}
		for i, want := range map[int]string{2: "stdin line 3: blank line", 3: "stdin line 4: expected", 4: `stdin line 5: expected {\"text\"`} {
			if !strings.HasPrefix(lines[i], `{"error":"`) || !strings.Contains(lines[i], want) {
				t.Errorf("%v: line %d = %s, want an error with %q", mode, i+1, lines[i], want)
			}
		}
	}
	// Decoding answers every line the same way.
	out, _, err := runTok(t, "{\"ids\": [1, 2]}\nnope\n{\"ids\": [3]}\n", "--tokenizer", dir, "--jsonl", "--decode")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if err == nil || len(lines) != 3 || !strings.HasPrefix(lines[0], `{"text":`) || !strings.Contains(lines[1], "stdin line 2") || !strings.HasPrefix(lines[2], `{"text":`) {
		t.Fatalf("decode: err %v, out %q", err, out)
	}
}

// FuzzTokenizeJSONL: any input gives one output line per input line and
// no panic.
func FuzzTokenizeJSONL(f *testing.F) {
	corpus := []string{"The answer is 42.", "Hello world, hello tokenizer."}
	tk, err := tokenizer.Train(slices.Values(corpus), 280, []string{"<|endoftext|>"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{`{"text": "Hello"}`, "{\"text\": \"a\"}\n\n{\"ids\":[1,2]}", `{"ids": [1, -1, 99999]}`, "\r\n", `{"text": "\u00ff\ud800"}`, "{\"text\":\"x\"}\n{"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, decode bool) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		_ = tokenizeJSONL(context.Background(), tk, strings.NewReader(in), w, decode, false, false, false)
		w.Flush()
		want := strings.Count(in, "\n")
		if in != "" && !strings.HasSuffix(in, "\n") {
			want++
		}
		if got := strings.Count(out.String(), "\n"); got != want {
			t.Fatalf("%q: %d output lines for %d input lines: %q", in, got, want, out.String())
		}
	})
}
