package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/r1go/r1/chat"
)

// Preference pairs are what reward models (rm) and DPO (dpo) train on. The
// formats users have are all read here, into one Pair:
//
//   - {"chosen", "rejected"} as strings: Anthropic hh-rlhf transcripts
//     ("\n\nHuman: …\n\nAssistant: …", split into turns and rendered with
//     the chat template when there is one), or any two texts;
//   - {"chosen", "rejected"} as message lists: the shared leading messages
//     are the prompt (TRL's implicit prompt);
//   - {"prompt", "chosen", "rejected"}, each a string or a message list
//     (TRL's explicit prompt), "chosen"/"rejected" also a single message;
//   - LLaMA-Factory's ShareGPT preference rows, {"conversations":
//     [{"from", "value"}…], "chosen": {"from", "value"}, "rejected": …},
//     optionally with "system" — in JSONL or a JSON array file (.json) —
//     and its Alpaca rows {"instruction", "input", "chosen", "rejected"}.
//
// A row may carry "margin" (a number): Llama 2's rating-dependent margin
// m(r), which the reward model's loss subtracts.

// PairFormats names the accepted row formats, for messages.
const PairFormats = `{"chosen","rejected"} (strings, hh-rlhf "Human:/Assistant:" transcripts or message lists), {"prompt","chosen","rejected"}, or LLaMA-Factory's {"conversations","chosen","rejected"} / {"instruction","input","chosen","rejected"}`

// Pair is one preference: Prompt+Chosen is the preferred sequence and
// Prompt+Rejected the other, as text ready to tokenize (chat template
// applied). Prompt may be empty (two free texts).
type Pair struct {
	// Source is "file:line", for messages about the pair.
	Source   string
	Prompt   string
	Chosen   string
	Rejected string
	// Margin is the row's "margin" (0 when absent).
	Margin float64
}

// BadRow is a row a reader skipped, and why.
type BadRow struct {
	Source string
	Err    error
}

// ReadPairs reads preference pairs from a JSONL file (gzip-compressed when
// the name ends in .gz) or a JSON array file (.json, LLaMA-Factory's
// layout). Message lists are rendered with tmpl (nil: rows with messages
// are malformed). A malformed row — a missing or empty side, chosen
// identical to rejected, an unknown shape — is an error naming the file,
// the line and the field, unless skipBad is set: then it is returned among
// the skipped rows.
func ReadPairs(path string, tmpl *chat.Template, skipBad bool) ([]Pair, []BadRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var in io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		in = gz
	}
	var out []Pair
	var bad []BadRow
	add := func(line int, raw []byte) error {
		src := fmt.Sprintf("%s:%d", path, line)
		p, err := ParsePair(raw, tmpl)
		if err != nil {
			if !skipBad {
				return fmt.Errorf("%s: %w (use --skip-bad-rows to skip such rows)", src, err)
			}
			bad = append(bad, BadRow{src, err})
			return nil
		}
		p.Source = src
		out = append(out, p)
		return nil
	}
	br := bufio.NewReaderSize(in, 1<<16)
	if first, _ := firstNonSpace(br); first == '[' {
		err = eachArrayElement(br, path, add)
	} else {
		err = eachJSONLLine(br, path, add)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(out) == 0 {
		return nil, bad, fmt.Errorf("%s: no usable preference pairs (want %s)", path, PairFormats)
	}
	return out, bad, nil
}

// firstNonSpace peeks at the first non-blank byte without consuming it.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' && b != 0xEF && b != 0xBB && b != 0xBF {
			return b, br.UnreadByte()
		}
	}
}

func eachJSONLLine(r io.Reader, path string, fn func(line int, raw []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if err := fn(line, text); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// eachArrayElement calls fn with each element of a JSON array and the line
// the element starts on.
func eachArrayElement(r io.Reader, path string, fn func(line int, raw []byte) error) error {
	var buf bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(r, &buf))
	if _, err := dec.Token(); err != nil { // [
		return fmt.Errorf("%s: %w", path, err)
	}
	line, counted := 1, 0
	for dec.More() {
		var raw json.RawMessage
		start := int(dec.InputOffset())
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, line+bytes.Count(buf.Bytes()[counted:min(start, buf.Len())], []byte("\n")), err)
		}
		// The element starts at the first non-blank, non-comma byte after start.
		b := buf.Bytes()
		for start < len(b) && (b[start] == ',' || b[start] == ' ' || b[start] == '\t' || b[start] == '\r' || b[start] == '\n') {
			start++
		}
		line += bytes.Count(b[counted:start], []byte("\n"))
		counted = start
		if err := fn(line, raw); err != nil {
			return err
		}
	}
	return nil
}

// side is a chosen/rejected/prompt value: text or messages.
type side struct {
	text string
	msgs []chat.Message // nil for text
}

// ParsePair reads one row (a JSON object) into a pair, rendering messages
// with tmpl. Errors name the field.
func ParsePair(raw []byte, tmpl *chat.Template) (Pair, error) {
	var row map[string]json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return Pair{}, fmt.Errorf("expected a JSON object: %w", err)
	}
	var p Pair
	if m, ok := row["margin"]; ok {
		if err := json.Unmarshal(m, &p.Margin); err != nil {
			return Pair{}, fmt.Errorf(`field "margin": expected a number`)
		}
	}
	for _, f := range []string{"chosen", "rejected"} {
		if v, ok := row[f]; !ok || string(v) == "null" {
			return Pair{}, fmt.Errorf("field %q: missing (want %s)", f, PairFormats)
		}
	}
	var prompt, chosen, rejected side
	var err error
	switch {
	case row["conversations"] != nil:
		if prompt.msgs, err = shareGPT(row["conversations"], "conversations"); err != nil {
			return Pair{}, err
		}
		if sys, ok := row["system"]; ok {
			var s string
			if err := json.Unmarshal(sys, &s); err != nil {
				return Pair{}, fmt.Errorf(`field "system": expected a string`)
			}
			if s != "" {
				prompt.msgs = append([]chat.Message{{Role: "system", Content: s}}, prompt.msgs...)
			}
		}
	case row["instruction"] != nil:
		var ins, input string
		if err := json.Unmarshal(row["instruction"], &ins); err != nil || ins == "" {
			return Pair{}, fmt.Errorf(`field "instruction": expected a non-empty string`)
		}
		if v, ok := row["input"]; ok {
			if err := json.Unmarshal(v, &input); err != nil {
				return Pair{}, fmt.Errorf(`field "input": expected a string`)
			}
		}
		if input != "" {
			ins += "\n" + input
		}
		prompt.msgs = []chat.Message{{Role: "user", Content: ins}}
	case row["prompt"] != nil:
		if prompt, err = readSide(row["prompt"], "prompt"); err != nil {
			return Pair{}, err
		}
	}
	if chosen, err = readSide(row["chosen"], "chosen"); err != nil {
		return Pair{}, err
	}
	if rejected, err = readSide(row["rejected"], "rejected"); err != nil {
		return Pair{}, err
	}
	if p.Prompt, p.Chosen, p.Rejected, err = renderPair(prompt, chosen, rejected, tmpl); err != nil {
		return Pair{}, err
	}
	switch {
	case strings.TrimSpace(p.Chosen) == "":
		return Pair{}, fmt.Errorf(`field "chosen": empty response`)
	case strings.TrimSpace(p.Rejected) == "":
		return Pair{}, fmt.Errorf(`field "rejected": empty response`)
	case p.Chosen == p.Rejected:
		return Pair{}, fmt.Errorf(`field "rejected": identical to "chosen" (a pair needs two different responses)`)
	}
	return p, nil
}

// readSide reads a string, a message list or one message (LLaMA-Factory's
// {"from","value"}, or {"role","content"}).
func readSide(raw json.RawMessage, field string) (side, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return side{text: s}, nil
	}
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && t[0] == '{' {
		raw = append(append([]byte{'['}, t...), ']')
	}
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		return side{}, fmt.Errorf("field %q: expected a string, a message list or a message", field)
	}
	if len(list) > 0 && list[0]["from"] != nil {
		msgs, err := shareGPT(raw, field)
		return side{msgs: msgs}, err
	}
	msgs, err := chat.DecodeMessages(raw)
	if err != nil {
		return side{}, fmt.Errorf("field %q: %w", field, err)
	}
	if len(msgs) == 0 {
		return side{}, fmt.Errorf("field %q: empty message list", field)
	}
	for i, m := range msgs {
		if m.Role == "" {
			return side{}, fmt.Errorf("field %q: messages[%d]: no role", field, i)
		}
	}
	return side{msgs: msgs}, nil
}

// shareGPTRoles maps ShareGPT speakers to chat roles.
var shareGPTRoles = map[string]string{"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}

func shareGPT(raw json.RawMessage, field string) ([]chat.Message, error) {
	var turns []struct {
		From  string  `json:"from"`
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(raw, &turns); err != nil {
		return nil, fmt.Errorf(`field %q: expected a list of {"from","value"} turns`, field)
	}
	if len(turns) == 0 {
		return nil, fmt.Errorf("field %q: no turns", field)
	}
	msgs := make([]chat.Message, len(turns))
	for i, t := range turns {
		role, ok := shareGPTRoles[t.From]
		if !ok {
			return nil, fmt.Errorf("field %q: [%d].from: %q is not human, gpt or system", field, i, t.From)
		}
		if t.Value == nil {
			return nil, fmt.Errorf("field %q: [%d].value: missing", field, i)
		}
		msgs[i] = chat.Message{Role: role, Content: *t.Value}
	}
	return msgs, nil
}

// hhTurns splits an hh-rlhf transcript ("\n\nHuman: …\n\nAssistant: …")
// into messages; ok is false when s is not one.
func hhTurns(s string) ([]chat.Message, bool) {
	const human, asst = "\n\nHuman:", "\n\nAssistant:"
	if !strings.HasPrefix(s, human) && !strings.HasPrefix(s, "Human:") {
		return nil, false
	}
	s = "\n\n" + strings.TrimPrefix(s, "\n\n")
	var msgs []chat.Message
	for len(s) > 0 {
		var role string
		switch {
		case strings.HasPrefix(s, human):
			role, s = "user", s[len(human):]
		case strings.HasPrefix(s, asst):
			role, s = "assistant", s[len(asst):]
		default:
			return nil, false
		}
		end := len(s)
		for _, m := range []string{human, asst} {
			if i := strings.Index(s, m); i >= 0 && i < end {
				end = i
			}
		}
		msgs = append(msgs, chat.Message{Role: role, Content: strings.TrimSpace(s[:end])})
		s = s[end:]
	}
	return msgs, len(msgs) > 0
}

// renderPair turns the three sides into prompt, chosen and rejected text.
func renderPair(prompt, chosen, rejected side, tmpl *chat.Template) (string, string, string, error) {
	// hh-rlhf transcripts become conversations when a template can render
	// them; without one they stay text, split after the last shared
	// "Assistant:".
	if prompt.msgs == nil && prompt.text == "" && chosen.msgs == nil && rejected.msgs == nil {
		hc, okc := hhTurns(chosen.text)
		hr, okr := hhTurns(rejected.text)
		switch {
		case okc && okr && tmpl != nil:
			chosen, rejected = side{msgs: hc}, side{msgs: hr}
		case okc && okr:
			n := commonPrefix(chosen.text, rejected.text)
			cut := strings.LastIndex(chosen.text[:n], "Assistant:")
			if cut < 0 {
				return chosen.text[:0], chosen.text, rejected.text, nil
			}
			cut += len("Assistant:")
			return chosen.text[:cut], chosen.text[cut:], rejected.text[cut:], nil
		}
	}
	if prompt.msgs == nil && chosen.msgs == nil && rejected.msgs == nil {
		return prompt.text, chosen.text, rejected.text, nil
	}
	if tmpl == nil {
		return "", "", "", fmt.Errorf("message lists need a chat template and the model has none (tokenizer_config.json chat_template)")
	}
	// Every side as messages: a text prompt is a user turn, a text
	// response an assistant turn.
	if prompt.msgs == nil && prompt.text != "" {
		prompt.msgs = []chat.Message{{Role: "user", Content: prompt.text}}
	}
	for _, s := range []*side{&chosen, &rejected} {
		if s.msgs == nil {
			s.msgs = []chat.Message{{Role: "assistant", Content: s.text}}
		}
	}
	if prompt.msgs == nil {
		// Implicit prompt: the messages both sides share.
		k := 0
		for k < len(chosen.msgs)-1 && k < len(rejected.msgs)-1 && reflect.DeepEqual(chosen.msgs[k], rejected.msgs[k]) {
			k++
		}
		prompt.msgs = chosen.msgs[:k]
		chosen.msgs, rejected.msgs = chosen.msgs[k:], rejected.msgs[k:]
	}
	for i, s := range []side{chosen, rejected} {
		if last := s.msgs[len(s.msgs)-1].Role; last != "assistant" {
			return "", "", "", fmt.Errorf("field %q: the response must end with an assistant message, not %q", [2]string{"chosen", "rejected"}[i], last)
		}
	}
	var p string
	if len(prompt.msgs) > 0 {
		var err error
		if p, err = tmpl.Render(prompt.msgs, chat.Options{AddGenerationPrompt: true}); err != nil {
			return "", "", "", fmt.Errorf("field \"prompt\": chat template: %w", err)
		}
	}
	resp := func(f string, s side) (string, error) {
		full, err := tmpl.Render(append(append([]chat.Message(nil), prompt.msgs...), s.msgs...), chat.Options{})
		if err != nil {
			return "", fmt.Errorf("field %q: chat template: %w", f, err)
		}
		if !strings.HasPrefix(full, p) {
			return "", fmt.Errorf("field %q: the chat template does not render the conversation as prompt + response, so the response cannot be located", f)
		}
		return full[len(p):], nil
	}
	c, err := resp("chosen", chosen)
	if err != nil {
		return "", "", "", err
	}
	r, err := resp("rejected", rejected)
	return p, c, r, err
}

// commonPrefix is the length of the longest common byte prefix.
func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
