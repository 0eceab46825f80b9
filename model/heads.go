package model

import (
	"fmt"
	"strings"

	"github.com/r1go/r1/autograd"
)

// Heads read the final hidden states (B,T,C) of Hidden. Each has a method
// on a batch (running the decoder) and one on hidden states already
// computed (the …Of methods), so that one decoder pass can feed several
// heads: PPO's policy log-probs and values, for instance.

// describeHeads names the heads the model has, for error messages.
func (m *Model) describeHeads() string {
	var hs []string
	if m.LMHead != nil {
		hs = append(hs, "LM head")
	}
	if m.Score != nil {
		hs = append(hs, fmt.Sprintf("score head (%d labels)", m.Score.Out()))
	}
	if m.Value != nil {
		hs = append(hs, "value head")
	}
	if len(hs) == 0 {
		return "model has no head"
	}
	return "model has a " + strings.Join(hs, " and a ")
}

// needHead reports a missing head: what (a method) needs head.
func (m *Model) needHead(l *Linear, head, what string) error {
	if l == nil {
		return fmt.Errorf("model: %s needs a %s; this %s", what, head, m.describeHeads())
	}
	return nil
}

// checkHidden checks that h holds rows hidden states (…,C).
func (m *Model) checkHidden(h *autograd.Var, rows int, what string) error {
	if h.Val.Cols() != m.Config.Hidden || h.Val.Rows() != rows {
		return fmt.Errorf("model: %s of hidden states %v: want %d rows of %d", what, h.Shape(), rows, m.Config.Hidden)
	}
	return nil
}

// Logits returns the full (B,T,V) logits. Training and log-prob scoring use
// TokenLogProbs instead, which never holds B·T·V floats at once.
func (m *Model) Logits(tp *autograd.Tape, b Batch) (*autograd.Var, error) {
	if err := m.needHead(m.LMHead, "LM head", "Logits"); err != nil {
		return nil, err
	}
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, err
	}
	return m.LMHead.Forward(tp, h), nil
}

// TokenLogProbs returns log p(target) and the entropy at every position of
// the batch. target (B,T) holds the next token at each position, −1 where no
// loss applies (padding, prompt tokens, the last position); both outputs are
// 0 there, since those rows skip the LM head.
func (m *Model) TokenLogProbs(tp *autograd.Tape, b Batch, target []int32) (logp, entropy *autograd.Var, err error) {
	if err := m.needHead(m.LMHead, "LM head", "TokenLogProbs"); err != nil {
		return nil, nil, err
	}
	if len(target) != b.B*b.T {
		return nil, nil, fmt.Errorf("model: %d targets for a %d×%d batch", len(target), b.B, b.T)
	}
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, nil, err
	}
	return m.TokenLogProbsOf(tp, h, target)
}

// TokenLogProbsOf is TokenLogProbs on hidden states h (B,T,C) from Hidden:
// logp and entropy (B·T). The LM head's weight goes straight into the
// chunked log-softmax (the logits are never stored), not through
// Linear.Forward.
func (m *Model) TokenLogProbsOf(tp *autograd.Tape, h *autograd.Var, target []int32) (logp, entropy *autograd.Var, err error) {
	if err := m.needHead(m.LMHead, "LM head", "TokenLogProbsOf"); err != nil {
		return nil, nil, err
	}
	n := len(target)
	if err := m.checkHidden(h, n, fmt.Sprintf("TokenLogProbsOf with %d targets", n)); err != nil {
		return nil, nil, err
	}
	h2 := tp.Reshape(h, n, m.Config.Hidden)
	// Only rows with a target go through the LM head: in RL the prompt is
	// most of each sequence, and with a 150k vocabulary its logits would
	// dominate the cost.
	var rows, tgt []int32
	for i, t := range target {
		if t >= 0 {
			rows = append(rows, int32(i))
			tgt = append(tgt, t)
		}
	}
	w := m.LMHead.Weight
	if len(rows) == n || len(rows) == 0 {
		logp, entropy = tp.TokenLogProbs(h2, w, tp.Own(m.Dev.UploadInt32(target, n)), 0)
		return logp, entropy, nil
	}
	idx := tp.Own(m.Dev.UploadInt32(rows, len(rows)))
	lp, ent := tp.TokenLogProbs(tp.GatherRows(h2, idx), w, tp.Own(m.Dev.UploadInt32(tgt, len(tgt))), 0)
	logp = tp.Reshape(tp.ScatterRows(tp.Reshape(lp, len(rows), 1), idx, n), n)
	entropy = tp.Reshape(tp.ScatterRows(tp.Reshape(ent, len(rows), 1), idx, n), n)
	return logp, entropy, nil
}

// Scores runs a sequence classifier (a reward model when num_labels is 1):
// the score head at the last real token of each row, (B,num_labels) —
// transformers' *ForSequenceClassification pooling. Padding may be on
// either side; the mask says which tokens are real.
func (m *Model) Scores(tp *autograd.Tape, b Batch) (*autograd.Var, error) {
	if err := m.needHead(m.Score, "score head", "Scores"); err != nil {
		return nil, err
	}
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, err
	}
	return m.ScoresOf(tp, h, b)
}

// ScoresOf is Scores on hidden states h (B,T,C) of b from Hidden. Only the
// B pooled rows go through the head.
func (m *Model) ScoresOf(tp *autograd.Tape, h *autograd.Var, b Batch) (*autograd.Var, error) {
	if err := m.needHead(m.Score, "score head", "ScoresOf"); err != nil {
		return nil, err
	}
	if err := m.checkHidden(h, b.B*b.T, fmt.Sprintf("ScoresOf a %d×%d batch", b.B, b.T)); err != nil {
		return nil, err
	}
	return m.ScoresAt(tp, h, b.lastReal())
}

// ScoresAt is the score head at the flat positions idx (row·T + t) of
// hidden states h (B,T,C): (len(idx), num_labels). ScoresOf reads each
// row's last real token; a layout with several sequences in a row
// (LayoutShared) names each sequence's last token.
func (m *Model) ScoresAt(tp *autograd.Tape, h *autograd.Var, idx []int32) (*autograd.Var, error) {
	if err := m.needHead(m.Score, "score head", "ScoresAt"); err != nil {
		return nil, err
	}
	n := h.Val.Rows()
	for _, i := range idx {
		if i < 0 || int(i) >= n {
			return nil, fmt.Errorf("model: ScoresAt position %d outside the %d hidden states", i, n)
		}
	}
	at := tp.Own(m.Dev.UploadInt32(idx, len(idx)))
	return m.Score.Forward(tp, tp.GatherRows(h, at)), nil // (len(idx),L)
}

// Values runs TRL's value head: one scalar per position, (B,T), from the
// final hidden states (TRL's summary dropout is not applied).
func (m *Model) Values(tp *autograd.Tape, b Batch) (*autograd.Var, error) {
	if err := m.needHead(m.Value, "value head", "Values"); err != nil {
		return nil, err
	}
	h, err := m.Hidden(tp, b)
	if err != nil {
		return nil, err
	}
	return m.ValuesOf(tp, h)
}

// ValuesOf is Values on hidden states h (B,T,C) from Hidden.
func (m *Model) ValuesOf(tp *autograd.Tape, h *autograd.Var) (*autograd.Var, error) {
	if err := m.needHead(m.Value, "value head", "ValuesOf"); err != nil {
		return nil, err
	}
	if err := m.checkHidden(h, h.Val.Rows(), "ValuesOf"); err != nil {
		return nil, err
	}
	s := h.Shape()
	return tp.Reshape(m.Value.Forward(tp, h), s[:len(s)-1]...), nil // (B,T)
}
