package sft

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/tokenizer"
)

const tinyDir = "../assets/tiny"

func tinyRenderer(t testing.TB) (*Renderer, *tokenizer.Tokenizer) {
	t.Helper()
	tok, err := tokenizer.Load(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(tinyDir, tok)
	if err != nil {
		t.Fatal(err)
	}
	if r.Template == nil || r.EOS != "<|endoftext|>" {
		t.Fatalf("tiny model: template %v, EOS %q", r.Template, r.EOS)
	}
	return r, tok
}

func row(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// lossText decodes the tokens that carry loss, span by span.
func lossText(tok *tokenizer.Tokenizer, s Sample) []string {
	var spans []string
	var cur []int32
	for i, id := range s.IDs {
		if s.Loss[i] {
			cur = append(cur, id)
			continue
		}
		if len(cur) > 0 {
			spans = append(spans, tok.Decode(cur, false))
			cur = nil
		}
	}
	if len(cur) > 0 {
		spans = append(spans, tok.Decode(cur, false))
	}
	return spans
}

// Rendering a conversation with the chat template puts the loss on exactly
// the assistant turns, each with its end-of-turn token, and nothing else;
// the whole sample decodes back to the template's rendering.
func TestLabelMaskOfAConversation(t *testing.T) {
	r, tok := tinyRenderer(t)
	ex, err := r.Example(row(t, `{"messages": [
		{"role": "system", "content": "You add numbers."},
		{"role": "user", "content": "What is 2 + 3?"},
		{"role": "assistant", "content": "<think>2 + 3 = 5</think> <answer>5</answer>"},
		{"role": "user", "content": "And 4 + 4?"},
		{"role": "assistant", "content": "<answer>8</answer>"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := Tokenize(ex, tok, true, 0)
	got := lossText(tok, s)
	want := []string{"<think>2 + 3 = 5</think> <answer>5</answer><|im_end|>\n", "<answer>8</answer><|im_end|>\n"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("loss on %q, want %q", got, want)
	}
	full := tok.Decode(s.IDs, false)
	if !strings.HasPrefix(full, "<|im_start|>system\nYou add numbers.<|im_end|>\n<|im_start|>user\n") ||
		!strings.Contains(full, "<|im_start|>assistant\n<think>") || strings.Count(full, "<|im_start|>") != 5 {
		t.Fatalf("rendered %q", full)
	}
	all := Tokenize(ex, tok, false, 0)
	for i, l := range all.Loss {
		if !l {
			t.Fatalf("completion_only_loss off: token %d carries no loss", i)
		}
	}
}

// With a real model template (Qwen2.5, whose system prompt is inserted by
// the template itself) the assistant turn is still located exactly.
func TestLabelMaskWithQwenTemplate(t *testing.T) {
	src, err := os.ReadFile("../../shared/data/tokenizers/chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja")
	if err != nil {
		t.Skipf("no shared data: %v", err)
	}
	tmpl, err := chat.Parse("qwen2.5", string(src))
	if err != nil {
		t.Fatal(err)
	}
	r := &Renderer{Template: tmpl, EOS: "<|endoftext|>"}
	ex, err := r.Example(row(t, `{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello!"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var loss, rest string
	for _, p := range ex.Pieces {
		if p.Loss {
			loss += p.Text
		} else {
			rest += p.Text
		}
	}
	if loss != "Hello!<|im_end|>\n" || !strings.HasSuffix(rest, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") || !strings.Contains(rest, "You are Qwen") {
		t.Fatalf("loss %q, prompt %q", loss, rest)
	}
}

func TestPromptCompletionAndText(t *testing.T) {
	r, tok := tinyRenderer(t)
	ex, err := r.Example(row(t, `{"prompt": "Q: 7 + 1 =", "completion": " 8"}`))
	if err != nil {
		t.Fatal(err)
	}
	s := Tokenize(ex, tok, true, 0)
	if got := lossText(tok, s); len(got) != 1 || got[0] != " 8<|endoftext|>" {
		t.Fatalf("prompt/completion loss on %q", got)
	}
	ex, err = r.Example(row(t, `{"text": "12 + 30 = 42"}`))
	if err != nil {
		t.Fatal(err)
	}
	s = Tokenize(ex, tok, true, 0)
	if got := lossText(tok, s); len(got) != 1 || got[0] != "12 + 30 = 42<|endoftext|>" {
		t.Fatalf("text loss on %q", got)
	}
	// Truncation keeps the first maxLen tokens.
	short := Tokenize(ex, tok, true, 3)
	if len(short.IDs) != 3 || !short.Truncated || short.IDs[0] != s.IDs[0] {
		t.Fatalf("truncated to %v", short.IDs)
	}
}

// Malformed rows name the file, the line and the field; with skipBad they
// are returned, never dropped silently; .jsonl.gz is read too.
func TestReadFileErrors(t *testing.T) {
	r, _ := tinyRenderer(t)
	dir := t.TempDir()
	lines := []string{
		`{"prompt": "a", "completion": "b"}`,
		`{"prompt": "a"}`,
		`{"text": 3}`,
		`{"messages": [{"role": "user", "content": "no answer"}]}`,
		`{"question": "x"}`,
		`not json`,
		``,
		`{"text": "fine"}`,
	}
	path := filepath.Join(dir, "d.jsonl.gz")
	f, _ := os.Create(path)
	gz := gzip.NewWriter(f)
	gz.Write([]byte(strings.Join(lines, "\n") + "\n"))
	gz.Close()
	f.Close()
	_, _, err := r.ReadFile(path, false)
	if err == nil || !strings.Contains(err.Error(), "d.jsonl.gz:2") || !strings.Contains(err.Error(), "completion") {
		t.Fatalf("strict read: %v", err)
	}
	exs, bad, err := r.ReadFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 2 || len(bad) != 5 {
		t.Fatalf("%d examples, %d bad: %v", len(exs), len(bad), bad)
	}
	for i, want := range []string{":2", ":3", ":4", ":5", ":6"} {
		if !strings.HasSuffix(bad[i].Source, want) {
			t.Errorf("bad row %d from %s, want line %s", i, bad[i].Source, want)
		}
	}
	for _, want := range []string{`"text"`, "assistant", "unknown row format"} {
		found := false
		for _, b := range bad {
			found = found || strings.Contains(b.Err.Error(), want)
		}
		if !found {
			t.Errorf("no bad-row reason mentions %s: %v", want, bad)
		}
	}
}

// FuzzExample: any JSONL line is an example or an error naming why, never
// a panic; an example tokenizes with loss flags lined up with its ids.
func FuzzExample(f *testing.F) {
	f.Add(`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}`)
	f.Add(`{"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "assistant", "content": null}]}`)
	f.Add(`{"prompt": "a", "completion": "b"}`)
	f.Add(`{"text": "x"}`)
	f.Add(`{"messages": [{"role": "assistant", "content": [1, 2]}], "text": 1}`)
	f.Add(`{"messages": "nope"}`)
	r, tok := tinyRenderer(f)
	f.Fuzz(func(t *testing.T, line string) {
		var row map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &row) != nil {
			return
		}
		ex, err := r.Example(row)
		if err != nil {
			return
		}
		s := Tokenize(ex, tok, true, 64)
		if len(s.IDs) != len(s.Loss) || len(s.IDs) > 64 {
			t.Fatalf("%d ids, %d loss flags", len(s.IDs), len(s.Loss))
		}
	})
}
