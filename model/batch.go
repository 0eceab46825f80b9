package model

import "fmt"

// Batch is a (B,T) block of token ids on the host with its attention mask
// and positions. Left padding is the convention for generation: positions
// count real tokens only, as transformers' generate computes them.
type Batch struct {
	B, T      int
	IDs       []int32 // (B,T)
	Mask      []int32 // (B,T) 1 = real token, 0 = padding; nil = all real
	Positions []int32 // (B,T); nil = cumsum(mask)−1 clamped at 0
}

// NewBatch pads rows on the left with pad to a common length.
func NewBatch(rows [][]int32, pad int32) Batch {
	t := 0
	for _, r := range rows {
		t = max(t, len(r))
	}
	b := Batch{B: len(rows), T: t, IDs: make([]int32, len(rows)*t), Mask: make([]int32, len(rows)*t)}
	for i, r := range rows {
		off := i*t + t - len(r)
		for j := i * t; j < off; j++ {
			b.IDs[j] = pad
		}
		copy(b.IDs[off:], r)
		for j := off; j < (i+1)*t; j++ {
			b.Mask[j] = 1
		}
	}
	return b
}

func (b *Batch) positions() []int32 {
	if b.Positions != nil {
		return b.Positions
	}
	pos := make([]int32, b.B*b.T)
	for i := 0; i < b.B; i++ {
		var n int32
		for j := 0; j < b.T; j++ {
			k := i*b.T + j
			if b.Mask == nil || b.Mask[k] != 0 {
				pos[k] = n
				n++
			}
		}
	}
	return pos
}

func (b *Batch) check(vocab int) error {
	if len(b.IDs) != b.B*b.T || (b.Mask != nil && len(b.Mask) != b.B*b.T) || (b.Positions != nil && len(b.Positions) != b.B*b.T) {
		return fmt.Errorf("model: batch of %d×%d has %d ids, %d mask entries, %d positions", b.B, b.T, len(b.IDs), len(b.Mask), len(b.Positions))
	}
	for _, id := range b.IDs {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("model: token id %d outside the vocabulary [0,%d)", id, vocab)
		}
	}
	return nil
}

// NextTokenTargets shifts ids left by one within each row: target[t] =
// ids[t+1] where both are real tokens, −1 elsewhere (the causal-LM labels).
func NextTokenTargets(b Batch) []int32 {
	tg := make([]int32, b.B*b.T)
	for i := range tg {
		tg[i] = -1
	}
	for r := 0; r < b.B; r++ {
		for t := 0; t+1 < b.T; t++ {
			k := r*b.T + t
			if b.Mask == nil || (b.Mask[k] != 0 && b.Mask[k+1] != 0) {
				tg[k] = b.IDs[k+1]
			}
		}
	}
	return tg
}

// lastReal returns, for each row, the flat index (row·T + t) of its last
// real token: where a sequence classifier reads its score. A row without
// real tokens gives its first position, as transformers' argmax does.
func (b *Batch) lastReal() []int32 {
	idx := make([]int32, b.B)
	for i := range idx {
		idx[i] = int32(i * b.T)
		for j := b.T - 1; j >= 0; j-- {
			if b.Mask == nil || b.Mask[i*b.T+j] != 0 {
				idx[i] = int32(i*b.T + j)
				break
			}
		}
	}
	return idx
}
