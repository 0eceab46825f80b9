package rm

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/r1go/r1/autograd"
	"github.com/r1go/r1/chat"
	"github.com/r1go/r1/model"
	"github.com/r1go/r1/sft"
	"github.com/r1go/r1/tensor"
	"github.com/r1go/r1/tokenizer"
)

// Scorer scores texts with a reward model (as r1 rm train writes it),
// batched: the "rm" reward, r1 rm score and the reward-model trainer's
// evaluation run on it. It is safe for concurrent use (calls are
// serialised: the model's tables grow on demand).
type Scorer struct {
	Model *model.Model
	Tok   *tokenizer.Tokenizer
	// Template renders message lists (the model's chat template, or ChatML
	// for r1's own tokenizers); nil when the model has none.
	Template *chat.Template
	// MaxLen keeps the last MaxLen tokens of a longer text (the score is
	// read at the end); 0 = the model's context.
	MaxLen int
	// Batch is how many texts go through one forward pass.
	Batch int

	mu sync.Mutex
}

// LoadScorer loads the reward model in dir (a *ForSequenceClassification
// checkpoint with num_labels 1) and its tokenizer.
func LoadScorer(dir string, dev tensor.Backend) (*Scorer, error) {
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	if !cfg.ScoreHead() || cfg.NumLabels != 1 {
		return nil, fmt.Errorf("%s is not a reward model: config.json's architectures %v (want a *ForSequenceClassification with num_labels 1, as r1 rm train writes)", dir, cfg.Architectures)
	}
	m, err := model.Load(dir, dev)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	r, err := sft.NewRenderer(dir, tok)
	if err != nil {
		return nil, err
	}
	return &Scorer{Model: m, Tok: tok, Template: r.Template, MaxLen: m.Config.MaxPositions, Batch: 16}, nil
}

// Encode tokenizes a text as the scorer reads it: special tokens as the
// tokenizer adds them, cut to the last maxLen tokens.
func Encode(tok *tokenizer.Tokenizer, text string, maxLen int) (ids []int32, truncated bool) {
	ids = tok.Encode(text, true)
	if maxLen > 0 && len(ids) > maxLen {
		return ids[len(ids)-maxLen:], true
	}
	return ids, false
}

// Score returns one score per text, in order.
func (s *Scorer) Score(texts []string) ([]float64, error) {
	rows := make([][]int32, len(texts))
	for i, t := range texts {
		rows[i], _ = Encode(s.Tok, t, s.MaxLen)
		if len(rows[i]) == 0 {
			return nil, fmt.Errorf("text %d: no tokens", i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ScoreIDs(s.Model, rows, max(s.Tok.PAD, 0), max(1, s.Batch))
}

// ScoreIDs scores token rows with m's score head, batch rows per forward
// pass; the scores come back in the rows' order. Where the backend's
// attention takes segment masks (tensor.SegmentMasks), rows that begin
// alike — the samples of one prompt, which RL scores together — share a
// forward row with their common first tokens stored once (sharedScores);
// elsewhere rows are grouped by length (less padding).
func ScoreIDs(m *model.Model, rows [][]int32, pad int32, batch int) ([]float64, error) {
	if tensor.SegmentMasks(m.Dev) {
		return sharedScores(m, rows, pad, batch)
	}
	return paddedScores(m, rows, pad, batch)
}

// paddedScores is ScoreIDs with one padded row per row, grouped by length.
func paddedScores(m *model.Model, rows [][]int32, pad int32, batch int) ([]float64, error) {
	byLen := func(a, b []int32) int { return cmp.Compare(len(a), len(b)) }
	return scoreSorted(m, rows, batch, byLen, func(tp *autograd.Tape, part [][]int32) (*autograd.Var, error) {
		return m.Scores(tp, model.NewBatch(part, pad))
	})
}

// scoreSorted scores rows batch at a time in the order order sorts them
// (stably), score giving a batch's (len(part), 1) scores on a no-grad
// tape; the scores come back in the rows' order.
func scoreSorted(m *model.Model, rows [][]int32, batch int, order func(a, b []int32) int,
	score func(tp *autograd.Tape, part [][]int32) (*autograd.Var, error)) ([]float64, error) {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return order(rows[a], rows[b]) })
	out := make([]float64, len(rows))
	for lo := 0; lo < len(idx); lo += batch {
		chunk := idx[lo:min(lo+batch, len(idx))]
		part := make([][]int32, len(chunk))
		for k, i := range chunk {
			part[k] = rows[i]
		}
		tp := m.NewTape()
		tp.NoGrad = true
		sc, err := score(tp, part)
		if err != nil {
			tp.Reset()
			return nil, err
		}
		vals := m.Dev.Download(sc.Val) // (len(part), 1)
		tp.Reset()
		for k, i := range chunk {
			out[i] = float64(vals[k])
		}
	}
	return out, nil
}

// LineFormats names the rows `r1 rm score` reads.
const LineFormats = `{"text"}, {"prompt","response"} (or "completion"; strings, or a message list and a string) or {"messages"}`

// Text is what a scoring row asks to score: "text" as it is;
// "prompt"+"response" ("completion" too, as r1 sample writes) concatenated
// when both are strings, rendered with the chat template as a conversation
// when the prompt is a message list; "messages" rendered with the
// template. Errors name the field.
func Text(row map[string]json.RawMessage, tmpl *chat.Template) (string, error) {
	str := func(f string) (string, bool) {
		var s string
		return s, json.Unmarshal(row[f], &s) == nil
	}
	render := func(msgs []chat.Message) (string, error) {
		if tmpl == nil {
			return "", fmt.Errorf("message lists need a chat template and the model has none")
		}
		return tmpl.Render(msgs, chat.Options{})
	}
	switch {
	case row["text"] != nil:
		s, ok := str("text")
		if !ok || s == "" {
			return "", fmt.Errorf(`field "text": expected a non-empty string`)
		}
		return s, nil
	case row["messages"] != nil:
		msgs, err := chat.DecodeMessages(row["messages"])
		if err != nil {
			return "", fmt.Errorf(`field "messages": %w`, err)
		}
		if len(msgs) == 0 {
			return "", fmt.Errorf(`field "messages": empty`)
		}
		return render(msgs)
	case row["prompt"] != nil:
		rf := "response"
		if row[rf] == nil {
			rf = "completion"
		}
		if row[rf] == nil {
			return "", fmt.Errorf(`field "response": missing (a "prompt" row needs "response" or "completion")`)
		}
		resp, ok := str(rf)
		if !ok {
			return "", fmt.Errorf("field %q: expected a string", rf)
		}
		if p, ok := str("prompt"); ok {
			return p + resp, nil
		}
		msgs, err := chat.DecodeMessages(row["prompt"])
		if err != nil {
			return "", fmt.Errorf(`field "prompt": expected a string or a message list: %w`, err)
		}
		return render(append(msgs, chat.Message{Role: "assistant", Content: resp}))
	}
	return "", fmt.Errorf("unknown row (want %s)", LineFormats)
}

// sharedScores is ScoreIDs with shared prefixes: the rows sorted by their
// tokens, so that rows beginning alike are neighbours, cut into groups
// (shareGroups) and laid out by model.LayoutShared — a group's common first
// tokens once, each row's rest its own segment after them, at the
// positions it has alone — and scored at each row's last token. Each
// score is the row's alone up to float rounding. A batch holding a
// one-token row is scored padded (a row needs two tokens in its segment).
func sharedScores(m *model.Model, rows [][]int32, pad int32, batch int) ([]float64, error) {
	return scoreSorted(m, rows, batch, slices.Compare[[]int32], func(tp *autograd.Tape, part [][]int32) (*autograd.Var, error) {
		for _, r := range part {
			if len(r) < 2 {
				return m.Scores(tp, model.NewBatch(part, pad))
			}
		}
		b, _, pos := model.LayoutShared(part, shareGroups(part))
		h, err := m.Hidden(tp, b)
		if err != nil {
			return nil, err
		}
		return m.ScoresAt(tp, h, model.LastPositions(pos))
	})
}

// shareGroups returns model.LayoutShared's promptLen for sorted rows of at
// least two tokens: the rows cut into runs of neighbours, each run's
// common first tokens (all but two of its shortest row's, so every row
// keeps a segment of two) its shared prefix. A run of n rows sharing s
// tokens computes s·(n−1) fewer than n rows apart; the cut maximises that
// saving over all cuts (by dynamic programming: sorted rows share with a
// non-neighbour the least of the common prefixes between them), so the
// samples of one prompt share their prompt and prompts that share only a
// chat template's first tokens do not force each other down to it.
func shareGroups(rows [][]int32) []int {
	n := len(rows)
	adj := make([]int, n) // adj[i]: the common prefix of rows i−1 and i
	for i := 1; i < n; i++ {
		adj[i] = commonPrefix(rows[i-1], rows[i])
	}
	// best[j] is the largest saving over rows[:j]: its last run is
	// from[j]..j, sharing share[j] tokens.
	best, from, share := make([]int, n+1), make([]int, n+1), make([]int, n+1)
	for j := 1; j <= n; j++ {
		best[j] = -1
		s := len(rows[j-1]) - 2 // shared tokens of the run rows[i:j]
		for i := j - 1; i >= 0; i-- {
			if i < j-1 {
				s = min(s, len(rows[i])-2, adj[i+1])
			}
			if v := best[i] + (j-i-1)*s; v > best[j] {
				best[j], from[j], share[j] = v, i, s
			}
		}
	}
	promptLen := make([]int, n)
	for j := n; j > 0; j = from[j] {
		s := share[j]
		if j-from[j] == 1 {
			s = 0 // a row alone shares nothing
		}
		for k := from[j]; k < j; k++ {
			promptLen[k] = s + 1 // the shared prefix is promptLen−1 tokens
		}
	}
	return promptLen
}

// commonPrefix is the number of equal leading tokens of a and b.
func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
