// Package sft is supervised fine-tuning on the shared training core:
// conversations, prompt/completion pairs and plain text, rendered with the
// model's chat template, with the loss on assistant/completion tokens only
// by default, and optional packing of several samples into one row.
package sft

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/tokenizer"
)

// Piece is a span of a sample's text; Loss marks the spans the model is
// trained to produce (assistant turns, completions).
type Piece struct {
	Text string
	Loss bool
}

// Example is one training sample as rendered text pieces.
type Example struct {
	// Source is "file:line", for messages about the sample.
	Source string
	Pieces []Piece
}

// Format names the row formats ReadFile accepts, for messages.
const Format = `{"messages": [{"role", "content"}…]} (rendered with the chat template), {"prompt", "completion"} (strings or message lists), or {"text"}`

// Renderer turns rows into examples: the model's chat template (nil when
// the model has none; messages rows then fail) and the EOS text appended to
// plain-text and string completions so the model learns to stop, as TRL
// does.
type Renderer struct {
	Template *chat.Template
	EOS      string
}

// NewRenderer takes the chat template from the model directory's
// tokenizer_config.json; a model without one (the built-in tiny model) gets
// ChatML, whose <|im_start|>/<|im_end|> tokens r1's own tokenizers have.
func NewRenderer(modelDir string, tok *tokenizer.Tokenizer) (*Renderer, error) {
	r := &Renderer{}
	if tok.EOS >= 0 {
		r.EOS, _ = tok.IDToken(tok.EOS)
	}
	tmpl, err := chat.FromTokenizerConfig(modelDir)
	if err == nil && tmpl.Source != "" {
		r.Template = tmpl
		return r, nil
	}
	if _, ok := tok.TokenID("<|im_start|>"); !ok {
		return r, nil
	}
	tmpl, err = chat.Parse("chatml", chatML)
	if err != nil {
		return nil, err
	}
	r.Template = tmpl
	return r, nil
}

// chatML is the ChatML template (Qwen's without tools).
const chatML = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// Example renders one decoded JSON row.
func (r *Renderer) Example(row map[string]json.RawMessage) (Example, error) {
	switch {
	case row["messages"] != nil:
		msgs, err := chat.DecodeMessages(row["messages"])
		if err != nil {
			return Example{}, fmt.Errorf("field \"messages\": %w", err)
		}
		return r.conversation(nil, msgs)
	case row["prompt"] != nil || row["completion"] != nil:
		if row["prompt"] == nil || row["completion"] == nil {
			return Example{}, fmt.Errorf(`a prompt/completion row needs both "prompt" and "completion"`)
		}
		var ps, cs string
		pErr, cErr := json.Unmarshal(row["prompt"], &ps), json.Unmarshal(row["completion"], &cs)
		if pErr == nil && cErr == nil {
			if cs == "" {
				return Example{}, fmt.Errorf(`field "completion": empty`)
			}
			return Example{Pieces: []Piece{{ps, false}, {cs + r.EOS, true}}}, nil
		}
		pm, err := chat.DecodeMessages(row["prompt"])
		if err != nil {
			return Example{}, fmt.Errorf(`field "prompt": want a string or a message list: %w`, err)
		}
		cm, err := chat.DecodeMessages(row["completion"])
		if err != nil {
			return Example{}, fmt.Errorf(`field "completion": want a string or a message list (like "prompt"): %w`, err)
		}
		return r.conversation(pm, cm)
	case row["text"] != nil:
		var s string
		if err := json.Unmarshal(row["text"], &s); err != nil || s == "" {
			return Example{}, fmt.Errorf(`field "text": want a non-empty string`)
		}
		return Example{Pieces: []Piece{{s + r.EOS, true}}}, nil
	}
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	return Example{}, fmt.Errorf("unknown row format (fields %v); want %s", keys, Format)
}

// conversation renders prompt+msgs with the chat template; the assistant
// turns of msgs carry the loss (with prompt == nil, every assistant turn
// of the conversation does). Each assistant turn's span runs from the end
// of the conversation before it rendered with the generation prompt to the
// end of the conversation including it, so it holds the turn's end token
// (<|im_end|>, <|eot_id|>): the model learns to stop.
func (r *Renderer) conversation(prompt, msgs []chat.Message) (Example, error) {
	if r.Template == nil {
		return Example{}, fmt.Errorf("message lists need a chat template and the model has none (tokenizer_config.json chat_template)")
	}
	all := append(append([]chat.Message(nil), prompt...), msgs...)
	full, err := r.Template.Render(all, chat.Options{})
	if err != nil {
		return Example{}, fmt.Errorf("chat template: %w", err)
	}
	var ex Example
	done := 0 // bytes of full already in pieces
	trained := false
	for i := len(prompt); i < len(all); i++ {
		if all[i].Role != "assistant" {
			continue
		}
		before, err := r.Template.Render(all[:i], chat.Options{AddGenerationPrompt: true})
		if err != nil {
			return Example{}, fmt.Errorf("chat template: %w", err)
		}
		upto, err := r.Template.Render(all[:i+1], chat.Options{})
		if err != nil {
			return Example{}, fmt.Errorf("chat template: %w", err)
		}
		if !strings.HasPrefix(full, upto) || !strings.HasPrefix(upto, before) || len(before) < done {
			// Templates that rewrite earlier turns (e.g. dropping old
			// reasoning) have no stable prefix to split at.
			return Example{}, fmt.Errorf("messages[%d]: the chat template does not render the conversation as a growing prefix, so the assistant turn cannot be located", i)
		}
		if len(before) > done {
			ex.Pieces = append(ex.Pieces, Piece{full[done:len(before)], false})
		}
		ex.Pieces = append(ex.Pieces, Piece{full[len(before):len(upto)], true})
		done = len(upto)
		trained = true
	}
	if !trained {
		return Example{}, fmt.Errorf("no assistant message to train on")
	}
	if done < len(full) {
		ex.Pieces = append(ex.Pieces, Piece{full[done:], false})
	}
	return ex, nil
}

// BadRow is a row ReadFile skipped, and why.
type BadRow struct {
	Source string
	Err    error
}

// ReadFile reads examples from a JSONL file (gzip-compressed when the name
// ends in .gz). A malformed row is an error naming the file, the line and
// the field, unless skipBad is set: then it is returned among the skipped.
func (r *Renderer) ReadFile(path string, skipBad bool) ([]Example, []BadRow, error) {
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
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	var out []Example
	var bad []BadRow
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		src := fmt.Sprintf("%s:%d", path, line)
		var row map[string]json.RawMessage
		err := json.Unmarshal([]byte(text), &row)
		var ex Example
		if err == nil {
			ex, err = r.Example(row)
		}
		if err != nil {
			if !skipBad {
				return nil, nil, fmt.Errorf("%s: %w (use --skip-bad-rows to skip such rows)", src, err)
			}
			bad = append(bad, BadRow{src, err})
			continue
		}
		ex.Source = src
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, bad, fmt.Errorf("%s: no usable rows (want %s)", path, Format)
	}
	return out, bad, nil
}

// Sample is a tokenized example.
type Sample struct {
	IDs  []int32
	Loss []bool // per token: its prediction is trained
	// Truncated is set when the example was cut to the maximum length.
	Truncated bool
}

// Tokenize encodes the pieces one by one (so the loss boundary is a token
// boundary, as TRL tokenizes prompt and completion separately). With
// completionOnly false every token carries loss. The tokenizer's BOS is
// prepended when it asks for one and the text does not start with it
// (chat templates write their own). Longer samples keep their first maxLen
// tokens (truncation on the right, TRL's default).
func Tokenize(ex Example, tok *tokenizer.Tokenizer, completionOnly bool, maxLen int) Sample {
	var s Sample
	for i, p := range ex.Pieces {
		ids := tok.Encode(p.Text, false)
		if i == 0 && tok.AddBOS && tok.BOS >= 0 && (len(ids) == 0 || ids[0] != tok.BOS) {
			s.IDs = append(s.IDs, tok.BOS)
			s.Loss = append(s.Loss, !completionOnly)
		}
		for range ids {
			s.Loss = append(s.Loss, p.Loss || !completionOnly)
		}
		s.IDs = append(s.IDs, ids...)
	}
	if maxLen > 0 && len(s.IDs) > maxLen {
		s.IDs, s.Loss, s.Truncated = s.IDs[:maxLen], s.Loss[:maxLen], true
	}
	return s
}

// Targets is the number of tokens that are trained: positions t whose next
// token t+1 has Loss set (the first token is never a target).
func (s Sample) Targets() int {
	n := 0
	for _, l := range s.Loss[min(1, len(s.Loss)):] {
		if l {
			n++
		}
	}
	return n
}
