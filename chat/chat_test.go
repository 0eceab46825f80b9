package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tokenizerDir is ../shared/data/tokenizers relative to the repository root.
func tokenizerDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "data", "tokenizers")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not present: %v", err)
	}
	return dir
}

type expectedFile struct {
	Templates []struct {
		Name   string            `json:"name"`
		Path   string            `json:"path"`
		Tokens map[string]string `json:"tokens"`
	} `json:"templates"`
	Cases []struct {
		Template            string  `json:"template"`
		Conversation        string  `json:"conversation"`
		AddGenerationPrompt bool    `json:"add_generation_prompt"`
		Output              *string `json:"output"`
		Error               string  `json:"error"`
	} `json:"cases"`
	Conversations []json.RawMessage `json:"conversations"`
	Snippets      []struct {
		Name     string          `json:"name"`
		Template string          `json:"template"`
		Context  json.RawMessage `json:"context"`
		Output   *string         `json:"output"`
		Error    string          `json:"error"`
	} `json:"snippets"`
}

func loadExpected(t *testing.T) *expectedFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ef expectedFile
	if err := json.Unmarshal(data, &ef); err != nil {
		t.Fatalf("testdata/expected.json: %v", err)
	}
	return &ef
}

var fixedNow = func() time.Time { return time.Date(2026, 11, 25, 0, 2, 3, 0, time.UTC) }

type conversation struct {
	name           string
	messages       []Message
	tools          []any
	enableThinking *bool
	kwargs         map[string]any
}

// parseConversation turns make_expected.py's JSON conversation into
// Messages with DecodeMessages, as a caller would.
func parseConversation(t *testing.T, raw json.RawMessage) conversation {
	t.Helper()
	var c struct {
		Name           string                     `json:"name"`
		Messages       json.RawMessage            `json:"messages"`
		Tools          json.RawMessage            `json:"tools"`
		EnableThinking *bool                      `json:"enable_thinking"`
		Kwargs         map[string]json.RawMessage `json:"kwargs"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	msgs, err := DecodeMessages(c.Messages)
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	out := conversation{name: c.Name, messages: msgs, enableThinking: c.EnableThinking}
	if len(c.Tools) > 0 {
		tv, err := ParseJSON(c.Tools)
		if err != nil {
			t.Fatal(err)
		}
		out.tools = tv.([]any)
	}
	for k, v := range c.Kwargs {
		pv, err := ParseJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		if out.kwargs == nil {
			out.kwargs = map[string]any{}
		}
		out.kwargs[k] = pv
	}
	return out
}

func TestTemplatesMatchTransformers(t *testing.T) {
	dir := tokenizerDir(t)
	ef := loadExpected(t)
	templates := map[string]*Template{}
	for _, tm := range ef.Templates {
		p := filepath.Join(dir, tm.Path)
		var tpl *Template
		var err error
		if strings.HasSuffix(p, ".jinja") {
			src, rerr := os.ReadFile(p)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tpl, err = Parse(tm.Path, string(src)); err == nil {
				tpl.Tokens = tm.Tokens
			}
		} else {
			tpl, err = FromTokenizerConfig(p)
			if err == nil {
				for k, v := range tm.Tokens {
					if tpl.Tokens[k] != v {
						t.Errorf("%s: token %s = %q, want %q", tm.Name, k, tpl.Tokens[k], v)
					}
				}
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", tm.Name, err)
		}
		templates[tm.Name] = tpl
	}
	convs := map[string]conversation{}
	for _, raw := range ef.Conversations {
		c := parseConversation(t, raw)
		convs[c.name] = c
	}
	if len(ef.Cases) < 8*len(ef.Templates) {
		t.Fatalf("only %d cases", len(ef.Cases))
	}
	for _, tc := range ef.Cases {
		name := tc.Template + "/" + tc.Conversation
		if tc.AddGenerationPrompt {
			name += "/gen"
		}
		t.Run(name, func(t *testing.T) {
			c := convs[tc.Conversation]
			got, err := templates[tc.Template].Render(c.messages, Options{
				AddGenerationPrompt: tc.AddGenerationPrompt, Tools: c.tools, EnableThinking: c.enableThinking, Extra: c.kwargs, Now: fixedNow})
			if tc.Output == nil {
				if err == nil {
					t.Fatalf("rendered %q, want an error like %q", got, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != *tc.Output {
				t.Errorf("mismatch\n got: %q\nwant: %q", got, *tc.Output)
			}
		})
	}
}

func TestSnippetsMatchJinja2(t *testing.T) {
	ef := loadExpected(t)
	for _, sn := range ef.Snippets {
		t.Run(sn.Name, func(t *testing.T) {
			ctx, err := ParseJSON(sn.Context)
			if err != nil {
				t.Fatal(err)
			}
			tpl, err := Parse(sn.Name, sn.Template)
			var got string
			if err == nil {
				got, err = tpl.execute(ctx.(*Dict), fixedNow)
			}
			if sn.Output == nil {
				if err == nil {
					t.Fatalf("rendered %q, want an error like %q", got, sn.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != *sn.Output {
				t.Errorf("mismatch\n got: %q\nwant: %q", got, *sn.Output)
			}
		})
	}
}

func TestErrorsNameTemplateAndLine(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		want      string
	}{
		{"unclosed", "a\n{% if x %}\nb", 3, "missing {% endif %}"},
		{"raise", "x\n\n{{ raise_exception('no system role') }}", 3, "no system role"},
		{"bad_concat", "{% set a = 1 %}\n{{ 'x' + a }}", 2, "can only concatenate"},
		{"unknown_tag", "{% include 'x' %}", 1, "unsupported tag"},
		{"undefined_attr", "\n{{ nope.x }}", 2, "'nope' is undefined"},
		{"bad_char", "{{ a ! b }}", 1, "unexpected character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse("my-template", tc.src)
			if err == nil {
				_, err = tpl.Render(nil, Options{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TemplateError", err)
			}
			if te.Name != "my-template" || te.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q (line %d), want line %d containing %q", err, te.Line, tc.line, tc.want)
			}
			if !strings.Contains(err.Error(), `"my-template"`) {
				t.Errorf("error %q does not name the template", err)
			}
		})
	}
}

func TestRaiseErrorIsReachable(t *testing.T) {
	_, err := Render("{{ raise_exception('boom') }}", nil, Options{})
	var re *RaiseError
	if !errors.As(err, &re) || re.Message != "boom" {
		t.Fatalf("got %v, want a RaiseError with message boom", err)
	}
}

func TestFromTokenizerConfigVariants(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, body, pick string
		want             string // rendered output for one user message "hi"
		wantErr          string
	}{
		{"string", `{"chat_template": "{{ bos_token }}{{ messages[0].content }}", "bos_token": "<s>"}`, "", "<s>hi", ""},
		{"object_token", `{"chat_template": "{{ eos_token }}", "eos_token": {"content": "</s>", "lstrip": false}}`, "", "</s>", ""},
		{"list_default", `{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`, "", "D", ""},
		{"list_named", `{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`, "tool_use", "T", ""},
		{"list_missing", `{"chat_template": [{"name": "default", "template": "D"}]}`, "rag", "", `no template named "rag"`},
		{"no_template", `{"bos_token": "<s>"}`, "", "", "field chat_template: missing"},
		{"bad_token", `{"chat_template": "x", "bos_token": 5}`, "", "", "field bos_token"},
		{"not_json", `{`, "", "", "not a JSON object"},
		{"syntax", `{"chat_template": "a\n{{ x"}`, "", "", "line 2"},
		{"runtime_error_names_file", `{"chat_template": "{{ raise_exception('nope') }}"}`, "", "", "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name+".json", tc.body)
			var pick []string
			if tc.pick != "" {
				pick = []string{tc.pick}
			}
			tpl, err := FromTokenizerConfig(p, pick...)
			var got string
			if err == nil {
				got, err = tpl.Render([]Message{{Role: "user", Content: "hi"}}, Options{})
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got err %v, want one containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromTokenizerConfigPrefersChatTemplateJinja(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"chat_template": "old", "eos_token": "</s>"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte("new{{ eos_token }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := FromTokenizerConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render(nil, Options{})
	if err != nil || got != "new</s>" {
		t.Errorf("got %q, %v; want %q", got, err, "new</s>")
	}
}

func TestBadInputNeverPanics(t *testing.T) {
	srcs := []string{"{{", "{%", "{#", "{{ }}", "{% for %}", "{% set %}", "{{ a[ }}", "{{ a. }}", "{{ 'x }}", "{{ (1, }}",
		"{% if %}{% endif %}", "{{ a | }}", "{{ a is }}", "{% macro m( %}", "{{ {1: 2} }}", "{{ x[::0] }}", "{{ 1 // 0 }}",
		"{% for a, b in [1] %}{% endfor %}", "{% break %}", "{{ range(10000000) | length }}", "{{ '\\u12' }}", "{% raw %}x"}
	for _, s := range srcs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%q panicked: %v", s, r)
				}
			}()
			tpl, err := Parse("bad", s)
			if err == nil {
				_, _ = tpl.Render([]Message{{Role: "user", Content: "x"}}, Options{})
			}
		}()
	}
}

func BenchmarkRenderQwen3(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "..", "shared", "data", "tokenizers", "chat_templates", "Qwen-Qwen3-0.6B.jinja"))
	if err != nil {
		b.Skip(err)
	}
	tpl, err := Parse("qwen3", string(src))
	if err != nil {
		b.Fatal(err)
	}
	msgs := []Message{{Role: "system", Content: "You are a careful math tutor."}}
	for i := 0; i < 5; i++ {
		msgs = append(msgs, Message{Role: "user", Content: "What is 2+2? Explain step by step."},
			Message{Role: "assistant", Content: "<think>\nTwo plus two is four.\n</think>\n\nThe answer is 4."})
	}
	msgs = append(msgs, Message{Role: "user", Content: "And 3+3?"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tpl.Render(msgs, Options{AddGenerationPrompt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseQwen3(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "..", "shared", "data", "tokenizers", "chat_templates", "Qwen-Qwen3-0.6B.jinja"))
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("qwen3", string(src)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRender checks that no template source makes Parse or Render panic.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"{{ messages[0].content | trim }}", "{% for m in messages[::-1] %}{{ loop.index }}{% endfor %}",
		"{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}", "{{ {'a': [1, (2, 3)]} | tojson(indent=2) }}",
		"{%- if x is defined -%}{{ x.split(',')[1:] }}{% else %}{{ raise_exception('no') }}{% endif %}",
		"{% macro m(a, b=2) %}{{ a ~ b }}{% endmacro %}{{ m(1) }}", "{% raw %}{{ x }}{% endraw %}", "{{ 'a' * 3 }}{{ 7 // -2 }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Parse("fuzz", src)
		if err != nil {
			return
		}
		_, _ = tpl.Render([]Message{{Role: "system", Content: "s"}, {Role: "user", Content: "u"}}, Options{AddGenerationPrompt: true})
	})
}

func TestResourceLimits(t *testing.T) {
	srcs := map[string]string{
		"string_doubling": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
		"output_flood":    "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
		"huge_range":      "{{ range(100000000) | length }}",
	}
	for name, src := range srcs {
		if _, err := Render(src, nil, Options{}); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("%s: got %v, want a 'too large' error", name, err)
		}
	}
}
