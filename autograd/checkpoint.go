package autograd

import (
	"fmt"

	"github.com/r1go/r1/tensor"
)

// Gradient checkpointing (activation recomputation; Chen et al. 2016,
// "Training Deep Nets with Sublinear Memory Cost"): a segment of the
// forward pass — one decoder layer — runs on a sub-tape whose
// intermediates are freed as soon as it returns; only the segment's input
// and output stay alive. Its backward step runs the segment again on a
// fresh sub-tape, seeds the output's gradient there and backpropagates
// through it. A model of L layers then keeps L residual streams instead
// of L layers' activations, for one more forward pass per step. The
// recomputation calls the same kernels on the same values, so values and
// gradients are bit-identical to the unsegmented tape's.

// Checkpoint returns fn(tp, x) without keeping fn's intermediates: only x
// (which the caller keeps alive) and the returned value (owned by tp). fn
// is called again during Backward and must compute the same thing from
// the same x: state it draws from (a dropout RNG) must be rewound by fn on
// the second call. fn must return a value it computed, not a view or x.
// Weights fn reads are the caller's Vars: their gradients accumulate as
// they would on tp. On a NoGrad tape fn simply runs on tp.
func (tp *Tape) Checkpoint(x *Var, fn func(tp *Tape, x *Var) *Var) *Var {
	if tp.NoGrad {
		return fn(tp, x)
	}
	sub := tp.segment()
	y := fn(sub, sub.input(x))
	val, err := sub.Detach(y)
	if err != nil {
		panic(fmt.Sprintf("autograd: Checkpoint: the segment must return a value it computed (%v)", err))
	}
	sub.Reset() // the segment's intermediates: recomputed in Backward
	out := &Var{Val: tp.Own(val), tape: tp}
	if !y.RequiresGrad {
		return out
	}
	out.RequiresGrad = true
	tp.backward = append(tp.backward, step{run: func() {
		if out.Grad != nil {
			tp.recompute(x, out, fn)
		}
	}, outs: []*Var{out}})
	return out
}

// segment is an empty sub-tape recording like tp.
func (tp *Tape) segment() *Tape { return &Tape{Dev: tp.Dev, DType: tp.DType} }

// input is x seen from the sub-tape tp: the same value, which tp does not
// own, and a gradient buffer of tp's, so that the first op to write it
// takes its buffer over as on the outer tape.
func (tp *Tape) input(x *Var) *Var { return &Var{Val: x.Val, RequiresGrad: x.RequiresGrad, tape: tp} }

// recompute is Checkpoint's backward step: fn again on a sub-tape, out's
// gradient handed to the recomputed output, the sub-tape's backward pass,
// and the input's gradient handed back to x.
func (tp *Tape) recompute(x, out *Var, fn func(tp *Tape, x *Var) *Var) {
	sub := tp.segment()
	defer sub.Reset()
	xin := sub.input(x)
	y := fn(sub, xin)
	if !tensor.SameShape(y.Val.Shape, out.Val.Shape) {
		panic(fmt.Sprintf("autograd: Checkpoint: the segment returned %v, then %v on recomputation", out.Val.Shape, y.Val.Shape))
	}
	// out's buffer moves to the sub-tape (no copy), where the segment's
	// last op may take it over as it would on tp; a buffer other Vars
	// still share is only read.
	if b := out.gbuf; b != nil && b.refs == 1 && tp.disown(b.t) {
		sub.Own(b.t)
		y.Grad, y.gbuf = out.Grad, b
		out.gbuf = nil
	} else {
		y.Grad = out.Grad
	}
	sub.Backward()
	if xin.Grad == nil {
		return
	}
	if b := xin.gbuf; b != nil && b.refs == 1 && sub.disown(b.t) {
		tp.Own(b.t)
		xin.gbuf = nil
		if !tp.accumulateOwned(x, xin.Grad, &gradBuf{t: b.t}) {
			tp.release(b.t)
		}
		return
	}
	tp.accumulate(x, xin.Grad)
}
