package model

import (
	"github.com/r1go/r1/autograd"
)

// Linear is a projection y = x·Wᵀ + b in the Hugging Face layout: Weight
// (Out,In), Bias (Out) or nil. Every projection of the decoder and of the
// heads goes through Forward, so an adapter (LoRA) that wraps the frozen
// weight changes this one method, not the forward pass.
type Linear struct {
	// Name is the HF module path ("model.layers.0.self_attn.q_proj"); the
	// weights are Name+".weight" and Name+".bias" in checkpoints and
	// Params, and an adapter names its own weights after it.
	Name   string
	Weight *autograd.Var // (Out,In)
	Bias   *autograd.Var // (Out); nil = no bias
	// LoRA is the low-rank adapter on this projection (lora.go); nil = none.
	LoRA *LoRA
}

// Forward computes y (…,Out) from x (…,In), recording on tp: through the
// adapter when one is attached and enabled.
func (l *Linear) Forward(tp *autograd.Tape, x *autograd.Var) *autograd.Var {
	if l.LoRA != nil && !l.LoRA.adapter.Disabled {
		return l.LoRA.forward(tp, l, x)
	}
	return tp.Linear(x, l.Weight, l.Bias)
}

// Out is the number of output features.
func (l *Linear) Out() int { return l.Weight.Val.Rows() }
