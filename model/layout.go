package model

import "slices"

// Layouts of prompt+completion sequences for the losses that score the
// completion tokens (GRPO, PPO, DPO): the padded layout, one row per
// sequence, and the shared one, one row per prompt.

// LayoutPadded lays prompt+completion sequences out left-padded, the
// layout every RL loss uses: the batch, the (B·T) targets (the next token
// at completion positions, −1 elsewhere) and, per sequence, the flat
// positions whose targets are its completion tokens, in order. Position
// pos[i][t] holds the log-prob of completion token t and the hidden state
// of the prefix before it (where a value head estimates V(s_t)). With
// promptLen 0 the first token, which has no predecessor, gets no log-prob.
func LayoutPadded(ids [][]int32, promptLen []int) (Batch, []int32, [][]int) {
	b := NewBatch(ids, 0)
	target := make([]int32, b.B*b.T)
	for i := range target {
		target[i] = -1
	}
	pos := make([][]int, len(ids))
	for i, s := range ids {
		off := b.T - len(s)
		for p := max(promptLen[i], 1) - 1; p+1 < len(s); p++ {
			at := i*b.T + off + p
			target[at] = s[p+1]
			pos[i] = append(pos[i], at)
		}
	}
	return b, target, pos
}

// LayoutShared lays prompt+completion sequences out with one row per
// distinct prompt (rows in order of first appearance, right-padded): the
// prompt but its last token once, as a shared prefix (mask −1, seen by
// every sample after it), then each sequence of that prompt as its own
// segment (mask 1, 2, …): the prompt's last token and the completion, at
// the positions they have alone. Every token computes what it computes in
// LayoutPadded's row — it sees the same tokens at the same positions — so
// the log-probs and their gradients are the same up to float rounding,
// while the prompt runs once per row instead of once per sequence. The
// results are LayoutPadded's: the batch, the (B·T) targets and, per
// sequence, the flat positions of its completion tokens' log-probs.
// Sequences with promptLen < 2 get no shared prefix: a row each.
func LayoutShared(ids [][]int32, promptLen []int) (Batch, []int32, [][]int) {
	type row struct {
		prefix []int32 // the shared prompt tokens
		seqs   []int   // indices into ids
		n      int     // tokens
	}
	var rows []*row
	for i, s := range ids {
		cut := max(promptLen[i]-1, 0)
		var r *row
		for _, o := range rows {
			if cut > 0 && slices.Equal(o.prefix, s[:cut]) {
				r = o
				break
			}
		}
		if r == nil {
			r = &row{prefix: s[:cut], n: cut}
			rows = append(rows, r)
		}
		r.seqs = append(r.seqs, i)
		r.n += len(s) - cut
	}
	t := 0
	for _, r := range rows {
		t = max(t, r.n)
	}
	b := Batch{B: len(rows), T: t, IDs: make([]int32, len(rows)*t), Mask: make([]int32, len(rows)*t), Positions: make([]int32, len(rows)*t)}
	target := make([]int32, b.B*b.T)
	for i := range target {
		target[i] = -1
	}
	pos := make([][]int, len(ids))
	for ri, r := range rows {
		at := ri * t
		for j, id := range r.prefix {
			b.IDs[at], b.Mask[at], b.Positions[at] = id, -1, int32(j)
			at++
		}
		for seg, i := range r.seqs {
			s, cut := ids[i], len(r.prefix)
			for j := cut; j < len(s); j++ {
				b.IDs[at], b.Mask[at], b.Positions[at] = s[j], int32(seg+1), int32(j)
				if j+1 < len(s) && j+1 >= promptLen[i] {
					target[at] = s[j+1]
					pos[i] = append(pos[i], at)
				}
				at++
			}
		}
	}
	return b, target, pos
}

// LastPositions is, for each sequence of a layout (LayoutPadded's or
// LayoutShared's pos), the flat position of its last token: the one after
// its last log-prob position. Every sequence needs a log-prob position
// (more tokens than its promptLen); a score head reads it there.
func LastPositions(pos [][]int) []int32 {
	last := make([]int32, len(pos))
	for i, ps := range pos {
		last[i] = int32(ps[len(ps)-1] + 1)
	}
	return last
}
