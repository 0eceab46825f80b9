// Package autograd records a forward pass as a list of ops and replays their
// backward kernels in reverse. Each op is a forward/backward pair (llm.c
// style) written against tensor.Backend, so the same tape drives the CPU and
// the CUDA backend. Gradients always accumulate (+=): a weight used twice
// (tied embeddings) or a gradient-accumulation step adds up without special
// cases.
package autograd

import (
	"fmt"

	"github.com/r1go/r1/tensor"
)

// Var is a tensor on the tape, with its gradient when it needs one.
type Var struct {
	Val  *tensor.Tensor
	Grad *tensor.Tensor // nil until a backward pass writes to it
	// RequiresGrad marks parameters and everything computed from them.
	RequiresGrad bool
	// parent is set for views (Reshape): the gradient is a view of the
	// parent's gradient, so writes land in one buffer.
	parent *Var
}

// Param wraps a trainable tensor.
func Param(t *tensor.Tensor) *Var { return &Var{Val: t, RequiresGrad: true} }

// Const wraps a tensor that needs no gradient (inputs, frozen weights).
func Const(t *tensor.Tensor) *Var { return &Var{Val: t} }

// Shape is the value's shape.
func (v *Var) Shape() []int { return v.Val.Shape }

// ZeroGrad clears the gradient (kept allocated for reuse).
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		v.Val.Dev.Fill(v.Grad, 0)
	}
}

// grad returns the gradient buffer, allocating it zeroed on first use.
func (v *Var) grad() *tensor.Tensor {
	if v.Grad == nil {
		if v.parent != nil {
			v.Grad = v.parent.grad().Reshape(v.Val.Shape...)
		} else {
			v.Grad = v.Val.Dev.New(gradType(v.Val.DType), v.Val.Shape...)
		}
	}
	return v.Grad
}

// gradType is the dtype gradients and activations of a value use: F64 in
// gradient checks, F32 otherwise (16-bit weights get F32 gradients).
func gradType(d tensor.DType) tensor.DType {
	if d == tensor.F64 {
		return tensor.F64
	}
	return tensor.F32
}

// Tape records ops. A nil-safe zero value is not usable: use NewTape.
type Tape struct {
	Dev tensor.Backend
	// NoGrad turns recording off (inference, reference models, sampling).
	NoGrad bool
	// DType of activations: F32, or F64 for gradient checks on the CPU.
	DType    tensor.DType
	backward []func()
}

// NewTape returns an empty tape on dev.
func NewTape(dev tensor.Backend) *Tape { return &Tape{Dev: dev} }

// Reset forgets the recorded ops (and with them the saved activations).
func (tp *Tape) Reset() { tp.backward = tp.backward[:0] }

// Len is the number of recorded ops.
func (tp *Tape) Len() int { return len(tp.backward) }

// Backward runs the recorded backward kernels in reverse order. Seed the
// outputs' gradients first (SetGrad); ops whose output got no gradient
// are skipped.
func (tp *Tape) Backward() {
	for i := len(tp.backward) - 1; i >= 0; i-- {
		tp.backward[i]()
	}
	tp.Reset()
}

// SetGrad seeds v's gradient from host values (e.g. ∂loss/∂logp).
func (tp *Tape) SetGrad(v *Var, g []float32) {
	if len(g) != v.Val.Numel() {
		panic(fmt.Sprintf("autograd: SetGrad of %d values on %v", len(g), v.Val.Shape))
	}
	t := tp.Dev.Upload(g, gradType(v.Val.DType), v.Val.Shape...)
	if v.Grad == nil && v.parent == nil {
		v.Grad = t
		return
	}
	tp.Dev.Axpy(v.grad(), 1, t)
}

// record adds a backward closure when any input needs a gradient and returns
// whether it did; the output then needs a gradient too.
func (tp *Tape) record(out *Var, bw func(), inputs ...*Var) {
	if tp.NoGrad {
		return
	}
	for _, in := range inputs {
		if in != nil && in.RequiresGrad {
			out.RequiresGrad = true
			tp.backward = append(tp.backward, func() {
				if out.Grad != nil {
					bw()
				}
			})
			return
		}
	}
}

func (tp *Tape) newVar(shape ...int) *Var {
	return &Var{Val: tp.Dev.New(tp.DType, shape...)}
}

// accumulate adds tmp into v's gradient when v needs one.
func (tp *Tape) accumulate(v *Var, tmp *tensor.Tensor) {
	if v != nil && v.RequiresGrad {
		tp.Dev.Axpy(v.grad(), 1, tmp)
	}
}

// accumulateOwned is accumulate for a tmp that nothing else will read or
// write again: when v has no gradient yet, tmp becomes it (no copy, no add).
func (tp *Tape) accumulateOwned(v *Var, tmp *tensor.Tensor) {
	if v == nil || !v.RequiresGrad {
		return
	}
	root := v
	for root.parent != nil {
		root = root.parent
	}
	if root.Grad == nil && v.Grad == nil && tmp.DType == gradType(root.Val.DType) {
		root.Grad = tmp.Reshape(root.Val.Shape...)
		return
	}
	tp.Dev.Axpy(v.grad(), 1, tmp)
}

// Reshape is a view of v with another shape; gradients flow through.
func (tp *Tape) Reshape(v *Var, shape ...int) *Var {
	return &Var{Val: v.Val.Reshape(shape...), RequiresGrad: v.RequiresGrad, parent: v}
}
