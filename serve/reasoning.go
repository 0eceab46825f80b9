package serve

import (
	"strings"

	"github.com/r1go/r1/chat"
)

// Reasoning models write their chain of thought between <think> and
// </think>, then the answer; R1-Zero-format models (the built-in tiny
// model) write "<think> … </think> <answer> … </answer>". The API returns
// the thought in reasoning_content and the answer in content, as
// DeepSeek's API and vLLM's reasoning parsers do.
const (
	answerOpen  = "<answer>"
	answerClose = "</answer>"
)

// tags are the markers a streamed text must not be cut inside.
var tags = []string{chat.ThinkOpen, chat.ThinkClose, answerOpen, answerClose}

// splitReasoning splits a completion into reasoning and content. open says
// the prompt already opened the thought (a chat template that ends its
// generation prompt with <think>). Otherwise the completion is reasoning
// only if it starts with <think>. The reasoning ends at the first </think>
// (all of an unterminated thought is reasoning); the content is what
// follows with the <answer> tags removed. Both are trimmed of surrounding
// white space. The split of a prefix of a text is a prefix of the split of
// the text, part by part (which is what lets streaming send deltas).
func splitReasoning(text string, open bool) (reasoning, content string) {
	if !open {
		s := strings.TrimLeft(text, " \t\r\n")
		if !strings.HasPrefix(s, chat.ThinkOpen) {
			return "", answerOf(text)
		}
		text = s[len(chat.ThinkOpen):]
	}
	i := strings.Index(text, chat.ThinkClose)
	if i < 0 {
		return strings.TrimSpace(text), ""
	}
	return strings.TrimSpace(text[:i]), answerOf(text[i+len(chat.ThinkClose):])
}

// answerOf drops the <answer> tags of the R1-Zero format.
func answerOf(s string) string {
	s = strings.ReplaceAll(s, answerOpen, "")
	s = strings.ReplaceAll(s, answerClose, "")
	return strings.TrimSpace(s)
}

// stream turns the text of a growing completion into deltas of reasoning
// and content. It holds back a tail that may still become a tag or a stop
// string, and cuts the text at the first stop string.
type stream struct {
	open      bool
	split     bool // false: the raw text is the content (/v1/completions)
	stops     []string
	text      strings.Builder
	reasoning string // sent so far
	content   string // sent so far
	stopped   bool   // a stop string was found: the rest is ignored
}

// push adds decoded text and returns the new reasoning and content. final
// flushes what was held back (the sample has ended).
func (s *stream) push(piece string, final bool) (dr, dc string) {
	if s.stopped {
		return "", ""
	}
	s.text.WriteString(piece)
	t := s.text.String()
	if i, ok := firstStop(t, s.stops); ok {
		t, s.stopped, final = t[:i], true, true
	}
	if !final {
		t = t[:len(t)-heldBack(t, s.stops, s.split)]
	}
	var r, c string
	if s.split {
		r, c = splitReasoning(t, s.open)
		if !final { // trailing spaces may precede a tag that is removed
			r, c = strings.TrimRight(r, " \t\r\n"), strings.TrimRight(c, " \t\r\n")
		}
	} else {
		c = t
	}
	// The split of a longer text extends the split of a shorter one; if a
	// held-back tail turns out otherwise, send nothing rather than a
	// contradiction.
	if strings.HasPrefix(r, s.reasoning) {
		dr, s.reasoning = r[len(s.reasoning):], r
	}
	if strings.HasPrefix(c, s.content) {
		dc, s.content = c[len(s.content):], c
	}
	return dr, dc
}

// firstStop is the position of the earliest stop string in t.
func firstStop(t string, stops []string) (int, bool) {
	best, ok := len(t), false
	for _, st := range stops {
		if i := strings.Index(t, st); i >= 0 && i < best {
			best, ok = i, true
		}
	}
	return best, ok
}

// heldBack is the length of the longest tail of t that is a proper prefix
// of a stop string (or, when splitting, of a tag).
func heldBack(t string, stops []string, split bool) int {
	n := 0
	check := func(m string) {
		for k := min(len(m)-1, len(t)); k > n; k-- {
			if strings.HasSuffix(t, m[:k]) {
				n = k
				return
			}
		}
	}
	for _, st := range stops {
		check(st)
	}
	if split {
		for _, tg := range tags {
			check(tg)
		}
	}
	return n
}
