package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Message is one chat turn. ReasoningContent and ToolCalls appear in the
// template's message dict only when set, as with transformers' dicts;
// Extra adds or overrides keys (e.g. "content": nil for a tool-call turn).
type Message struct {
	Role             string
	Content          string
	ReasoningContent string
	ToolCalls        []ToolCall
	Extra            map[string]any
}

// ToolCall is an assistant's function call, shown to templates as
// {"type": "function", "function": {"name": ..., "arguments": ...}} (with
// "id" first when set). Arguments is usually a *Dict (see ParseJSON) or a
// JSON string.
type ToolCall struct {
	ID        string
	Type      string
	Name      string
	Arguments any
}

// Options are apply_chat_template's keyword arguments.
type Options struct {
	AddGenerationPrompt bool
	// BosToken and EosToken override the template's own tokens when set.
	BosToken, EosToken string
	// Tools are JSON-schema tool descriptions; nil renders tools=None.
	// tojson prints a *Dict's keys in insertion order (use ParseJSON to keep
	// a schema's order); plain Go maps are printed with sorted keys.
	Tools []any
	// EnableThinking sets enable_thinking (Qwen3) when non-nil.
	EnableThinking *bool
	// Extra holds further template variables (date_string, custom_tools...).
	Extra map[string]any
	// Now is the clock for strftime_now; nil means time.Now.
	Now func() time.Time
}

// Template is a parsed chat template.
type Template struct {
	Name   string
	Source string
	// BosToken and EosToken come from tokenizer_config.json when loaded
	// with FromTokenizerConfig.
	BosToken, EosToken string
	// Tokens holds every special token variable (bos/eos/unk/pad_token)
	// found in the config; BosToken/EosToken are copies of two of them.
	Tokens map[string]string
	body   []stmt
}

// Parse compiles a chat template; name appears in error messages.
func Parse(name, source string) (*Template, error) {
	body, err := parse(source)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			te.Name = name
		}
		return nil, err
	}
	return &Template{Name: name, Source: source, body: body}, nil
}

// Render parses template and renders messages, like apply_chat_template(
// messages, tokenize=False).
func Render(template string, messages []Message, opts Options) (string, error) {
	t, err := Parse("template", template)
	if err != nil {
		return "", err
	}
	return t.Render(messages, opts)
}

func (m Message) toDict() *Dict {
	d := NewDict()
	d.Set("role", m.Role)
	d.Set("content", m.Content)
	if m.ReasoningContent != "" {
		d.Set("reasoning_content", m.ReasoningContent)
	}
	if len(m.ToolCalls) > 0 {
		calls := make([]any, len(m.ToolCalls))
		for i, tc := range m.ToolCalls {
			c := NewDict()
			if tc.ID != "" {
				c.Set("id", tc.ID)
			}
			typ := tc.Type
			if typ == "" {
				typ = "function"
			}
			c.Set("type", typ)
			f := NewDict()
			f.Set("name", tc.Name)
			f.Set("arguments", fromGo(tc.Arguments))
			c.Set("function", f)
			calls[i] = c
		}
		d.Set("tool_calls", calls)
	}
	keys := make([]string, 0, len(m.Extra))
	for k := range m.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.Set(k, fromGo(m.Extra[k]))
	}
	return d
}

// Render renders messages with this template.
func (t *Template) Render(messages []Message, opts Options) (string, error) {
	vars := NewDict()
	for _, k := range sortedKeys(t.Tokens) {
		vars.Set(k, t.Tokens[k])
	}
	if t.BosToken != "" {
		vars.Set("bos_token", t.BosToken)
	}
	if t.EosToken != "" {
		vars.Set("eos_token", t.EosToken)
	}
	if opts.BosToken != "" {
		vars.Set("bos_token", opts.BosToken)
	}
	if opts.EosToken != "" {
		vars.Set("eos_token", opts.EosToken)
	}
	for _, k := range sortedKeys(opts.Extra) {
		vars.Set(k, fromGo(opts.Extra[k]))
	}
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = m.toDict()
	}
	vars.Set("messages", msgs)
	if opts.Tools != nil {
		vars.Set("tools", fromGo(opts.Tools))
	} else {
		vars.Set("tools", nil)
	}
	vars.Set("documents", nil)
	vars.Set("add_generation_prompt", opts.AddGenerationPrompt)
	if opts.EnableThinking != nil {
		vars.Set("enable_thinking", *opts.EnableThinking)
	}
	return t.execute(vars, opts.Now)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// execute renders with the given top-level variables.
func (t *Template) execute(vars *Dict, now func() time.Time) (string, error) {
	if now == nil {
		now = time.Now
	}
	r := &renderer{now: now}
	root := newScope(nil)
	for k, v := range r.globals() {
		root.vars[k] = v
	}
	sc := newScope(root)
	for _, k := range vars.keys {
		sc.vars[k] = vars.m[k]
	}
	var out strings.Builder
	err := r.execBody(&out, t.body, sc)
	if err == errBreak || err == errContinue {
		return "", &TemplateError{Name: t.Name, Msg: err.Error()}
	}
	if err != nil {
		te := &TemplateError{Name: t.Name, Msg: err.Error()}
		var le *lineError
		if errors.As(err, &le) {
			te.Line = le.line
			te.Msg = le.err.Error()
		}
		var re *RaiseError
		if errors.As(err, &re) {
			return "", fmt.Errorf("%w: %w", te, re)
		}
		return "", te
	}
	return out.String(), nil
}

// FromTokenizerConfig loads the chat template and special tokens from a
// tokenizer_config.json (path to the file, or a model directory holding
// it). chat_template may be a string or a list of {"name", "template"}; name
// picks one of the list ("" means "default", else the first). A sibling
// chat_template.jinja file, as newer transformers writes, takes precedence.
func FromTokenizerConfig(path string, name ...string) (*Template, error) {
	file := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		file = filepath.Join(path, "tokenizer_config.json")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("chat: %s: not a JSON object: %w", file, err)
	}
	want := ""
	if len(name) > 0 {
		want = name[0]
	}
	tokens := map[string]string{}
	for _, k := range []string{"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"} {
		raw, ok := cfg[k]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			tokens[k] = s
			continue
		}
		var obj struct {
			Content *string `json:"content"`
		}
		if json.Unmarshal(raw, &obj) != nil || obj.Content == nil {
			return nil, fmt.Errorf("chat: %s: field %s: expected a string or an object with \"content\"", file, k)
		}
		tokens[k] = *obj.Content
	}
	source, tname := "", ""
	if jf := filepath.Join(filepath.Dir(file), "chat_template.jinja"); want == "" {
		if b, err := os.ReadFile(jf); err == nil {
			source, tname = string(b), jf
		}
	}
	if source == "" {
		raw, ok := cfg["chat_template"]
		if !ok || string(raw) == "null" {
			return nil, fmt.Errorf("chat: %s: field chat_template: missing (the model has no chat template)", file)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if want != "" && want != "default" {
				return nil, fmt.Errorf("chat: %s: field chat_template: is a single template, no template named %q", file, want)
			}
			source, tname = s, file+":chat_template"
		} else {
			var list []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
				return nil, fmt.Errorf("chat: %s: field chat_template: expected a string or a list of {\"name\", \"template\"}", file)
			}
			pick := -1
			for i, e := range list {
				if e.Name == want || want == "" && e.Name == "default" {
					pick = i
				}
			}
			if pick < 0 && want == "" {
				pick = 0
			}
			if pick < 0 {
				names := make([]string, len(list))
				for i, e := range list {
					names[i] = e.Name
				}
				return nil, fmt.Errorf("chat: %s: field chat_template: no template named %q (have %s)", file, want, strings.Join(names, ", "))
			}
			source, tname = list[pick].Template, fmt.Sprintf("%s:chat_template[%s]", file, list[pick].Name)
		}
	}
	t, err := Parse(tname, source)
	if err != nil {
		return nil, err
	}
	t.Tokens = tokens
	t.BosToken, t.EosToken = tokens["bos_token"], tokens["eos_token"]
	return t, nil
}
