package model

import "github.com/r1go/r1/tensor"

// PackWeights has the backend keep the weights of every product Forward
// runs (projections, LoRA factors, LM head) in its GEMM's packed layout
// until release is called, when the backend can (tensor.WeightPacker; a
// no-op otherwise). Decoding then reads each weight once per step without
// repacking it, and every row of a step is computed independently of the
// others: a sequence's tokens do not depend on the batch it shares, which
// lets prefills of different requests run as one step. The weights must not
// change until release; holders nest (the weights stay packed until the
// last one releases). The packed copy costs the weights' size again, so
// models whose weights exceed MaxPackBytes are not packed.
func (m *Model) PackWeights() (release func()) {
	wp, ok := m.Dev.(tensor.WeightPacker)
	if !ok {
		return func() {}
	}
	if m.Config.WeightBytes() > MaxPackBytes {
		return func() {}
	}
	ws := m.inferenceWeights()
	m.packMu.Lock()
	defer m.packMu.Unlock()
	all := true
	for _, w := range ws {
		if !wp.PackWeight(w) {
			all = false
		}
	}
	if m.packs == 0 {
		m.allPacked = all
	}
	m.packs++
	released := false
	return func() {
		m.packMu.Lock()
		defer m.packMu.Unlock()
		if released {
			return
		}
		released = true
		for _, w := range ws {
			wp.UnpackWeight(w)
		}
		m.packs--
	}
}

// MaxPackBytes bounds the model size (Config.WeightBytes) PackWeights packs: a
// copy of a 0.5B model's 2 GB fits next to it on most machines, one of a
// 1.5B model's 6 GB would double what a laptop must hold.
var MaxPackBytes int64 = 2 << 30

// WeightsPacked reports whether a PackWeights holder is live and the
// backend packed every weight: Forward's rows are then independent of each other.
func (m *Model) WeightsPacked() bool {
	m.packMu.Lock()
	defer m.packMu.Unlock()
	return m.packs > 0 && m.allPacked
}

// inferenceWeights are the right-hand operands of Forward's products.
func (m *Model) inferenceWeights() []*tensor.Tensor {
	var ws []*tensor.Tensor
	add := func(l *Linear) {
		if l == nil {
			return
		}
		ws = append(ws, l.Weight.Val)
		if l.LoRA != nil {
			ws = append(ws, l.LoRA.A.Val, l.LoRA.B.Val)
		}
	}
	for _, l := range m.projections() {
		add(l)
	}
	add(m.LMHead)
	return ws
}
