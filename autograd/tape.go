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
	// tape is the tape that created the Var (nil for Param, Const and
	// caller-made Vars): it owns the value and the gradient buffer.
	tape *Tape
	// gbuf counts the Vars whose gradient is this root Var's buffer (one
	// more when Add hands its output's buffer to an input), so the buffer
	// is freed once the backward pass is past all of them.
	gbuf *gradBuf
}

// gradBuf is a tape-owned gradient buffer shared by refs root Vars.
type gradBuf struct {
	t    *tensor.Tensor // as allocated (not a view), for Free
	refs int
}

// Trainable wraps a tensor that receives a gradient.
func Trainable(t *tensor.Tensor) *Var { return &Var{Val: t, RequiresGrad: true} }

// Param is a trainable weight bound to its name (for model weights, the
// Hugging Face tensor name that checkpoints and optimizer state use). The
// model lists its weights as Params and the optimizer takes them as they are.
type Param struct {
	Name string
	Var  *Var
}

// Const wraps a tensor that needs no gradient (inputs, frozen weights).
func Const(t *tensor.Tensor) *Var { return &Var{Val: t} }

// Shape is the value's shape.
func (v *Var) Shape() []int { return v.Val.Shape }

// ZeroGrad clears the gradient (kept allocated for reuse).
// Gradients of Vars the caller made (Param, Const) are the caller's: they
// live across steps, which is what gradient accumulation needs.
func (v *Var) ZeroGrad() {
	if v.Grad != nil {
		v.Val.Dev.Fill(v.Grad, 0)
	}
}

// grad returns the gradient buffer, allocating it zeroed on first use; the
// tape that made v owns it (and frees it at Reset), else the caller does.
func (v *Var) grad() *tensor.Tensor {
	if v.Grad == nil {
		if v.parent != nil {
			v.Grad = v.parent.grad().Reshape(v.Val.Shape...)
		} else {
			v.Grad = v.Val.Dev.New(gradType(v.Val.DType), v.Val.Shape...)
			if v.tape != nil {
				v.tape.Own(v.Grad)
				v.gbuf = &gradBuf{t: v.Grad, refs: 1}
			}
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
//
// Lifetimes: a Var's value is valid until Reset. The tape owns every
// tensor it allocates: the value of each Var an op returns, what ops save
// for the backward pass (rstd, lse), the gradients of those Vars, the seeds
// SetGrad uploads, and whatever a caller hands over with Own. Reset frees
// all of it. Backward frees no values (losses and log-probs can be read
// after it), but it frees the gradient of each Var the tape made as soon
// as the op that produced the Var has run its backward kernel, since
// nothing reads it after that; this keeps the backward pass's peak memory
// near the forward pass's. Read gradients of Params, not of intermediate
// Vars. Tensors the caller passes in (weights, ids) and the gradient
// buffers of Params are never the tape's: parameter gradients persist
// across steps for accumulation and the optimizer. Call Reset once per
// step, after the last read of any Var the tape made; the tape is reusable
// afterwards. A forgotten Reset leaks: device memory on the CUDA backend,
// and on the CPU too, since the tape keeps referencing what it owns.
type Tape struct {
	Dev tensor.Backend
	// NoGrad turns recording off (inference, reference models, sampling).
	NoGrad bool
	// DType of activations: F32, or F64 for gradient checks on the CPU.
	DType    tensor.DType
	backward []step
	owned    []*tensor.Tensor
}

// step is one recorded backward kernel and the Vars its op produced, whose
// gradients are dead once it ran.
type step struct {
	run  func()
	outs []*Var
}

// NewTape returns an empty tape on dev.
func NewTape(dev tensor.Backend) *Tape { return &Tape{Dev: dev} }

// Reset forgets the recorded ops and frees every tensor the tape owns, in
// reverse order of allocation (which a stack-like device allocator likes).
// Vars made by the tape must not be used afterwards.
func (tp *Tape) Reset() {
	clear(tp.backward)
	tp.backward = tp.backward[:0]
	for i := len(tp.owned) - 1; i >= 0; i-- {
		if t := tp.owned[i]; t != nil {
			tp.Dev.Free(t)
		}
	}
	clear(tp.owned)
	tp.owned = tp.owned[:0]
}

// Own hands t to the tape: Reset frees it. Callers use it for tensors the
// recorded ops keep reading until the backward pass ran (uploaded ids,
// positions, masks, targets). It returns t.
func (tp *Tape) Own(t *tensor.Tensor) *tensor.Tensor {
	tp.owned = append(tp.owned, t)
	return t
}

// Detach takes v's value away from the tape and gives it to the caller,
// who frees it: the way to return a result computed on a temporary tape
// (model.Forward's logits). v must be a Var this tape made, not a view.
func (tp *Tape) Detach(v *Var) (*tensor.Tensor, error) {
	if v.tape != tp || v.parent != nil || !tp.disown(v.Val) {
		return nil, fmt.Errorf("autograd: Detach of %v: not a value this tape allocated", v.Val)
	}
	v.tape = nil
	return v.Val, nil
}

// disown drops t from the owned list, reporting whether it was there. It
// searches from the end: callers release what they allocated last.
func (tp *Tape) disown(t *tensor.Tensor) bool {
	for i := len(tp.owned) - 1; i >= 0; i-- {
		if tp.owned[i] == t {
			tp.owned[i] = nil
			if i == len(tp.owned)-1 {
				tp.owned = tp.owned[:i]
			}
			return true
		}
	}
	return false
}

// release frees a temporary the tape allocated, as soon as nothing needs it.
func (tp *Tape) release(t *tensor.Tensor) {
	if tp.disown(t) {
		tp.Dev.Free(t)
	}
}

// alloc is New recorded as owned.
func (tp *Tape) alloc(dt tensor.DType, shape ...int) *tensor.Tensor {
	return tp.Own(tp.Dev.New(dt, shape...))
}

// Len is the number of recorded ops.
func (tp *Tape) Len() int { return len(tp.backward) }

// Owned is the number of tensors Reset would free.
func (tp *Tape) Owned() int {
	n := 0
	for _, t := range tp.owned {
		if t != nil {
			n++
		}
	}
	return n
}

// Backward runs the recorded backward kernels in reverse order and forgets
// them. Seed the outputs' gradients first (SetGrad); ops whose output got no
// gradient are skipped. Values stay valid until Reset; the gradients of the
// tape's own Vars are freed on the way (see Tape).
func (tp *Tape) Backward() {
	for i := len(tp.backward) - 1; i >= 0; i-- {
		st := tp.backward[i]
		st.run()
		for _, o := range st.outs {
			tp.dropGrad(o)
		}
	}
	clear(tp.backward)
	tp.backward = tp.backward[:0]
}

// SetGrad seeds v's gradient from host values (e.g. ∂loss/∂logp).
func (tp *Tape) SetGrad(v *Var, g []float32) {
	if len(g) != v.Val.Numel() {
		panic(fmt.Sprintf("autograd: SetGrad of %d values on %v", len(g), v.Val.Shape))
	}
	t := tp.Dev.Upload(g, gradType(v.Val.DType), v.Val.Shape...)
	if v.Grad == nil && v.parent == nil {
		v.Grad = t
		if v.tape != nil {
			v.tape.Own(t)
			v.gbuf = &gradBuf{t: t, refs: 1}
		}
		return
	}
	tp.Dev.Axpy(v.grad(), 1, t)
	tp.Dev.Free(t)
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
			tp.backward = append(tp.backward, step{run: func() {
				if out.Grad != nil {
					bw()
				}
			}, outs: []*Var{out}})
			return
		}
	}
}

func (tp *Tape) newVar(shape ...int) *Var {
	return &Var{Val: tp.alloc(tp.DType, shape...), tape: tp}
}

// newOutVar is newVar for an output the op writes whole before anything
// reads it (a product with beta 0, an elementwise op, a norm, a copy):
// storage the backend need not clear (tensor.UninitAllocator), where it
// can. Ops that may skip elements (attention's masked rows) keep newVar.
func (tp *Tape) newOutVar(shape ...int) *Var {
	return &Var{Val: tp.AllocOut(tp.DType, shape...), tape: tp}
}

// AllocOut allocates a tape-owned tensor for an output its op writes whole
// before anything reads it: uncleared storage where the backend offers it
// (tensor.UninitAllocator), New's elsewhere.
func (tp *Tape) AllocOut(dt tensor.DType, shape ...int) *tensor.Tensor {
	if u, ok := tp.Dev.(tensor.UninitAllocator); ok {
		return tp.Own(u.NewUninit(dt, shape...))
	}
	return tp.alloc(dt, shape...)
}

// accumulate adds tmp into v's gradient when v needs one.
func (tp *Tape) accumulate(v *Var, tmp *tensor.Tensor) {
	if v != nil && v.RequiresGrad {
		tp.Dev.Axpy(v.grad(), 1, tmp)
	}
}

// accumulateOwned is accumulate for a tmp that nothing else will write
// again: when v is a Var of this tape with no gradient yet, tmp becomes it
// (no copy, no add) and stays the tape's; otherwise it is added and
// reported as not taken. buf is the buffer tmp lives in when it is another
// Var's gradient (Add), which v then shares; nil means tmp is a fresh
// temporary. Caller Vars (Params) never take a tape buffer over: their
// gradients must outlive Reset.
func (tp *Tape) accumulateOwned(v *Var, tmp *tensor.Tensor, buf *gradBuf) (taken bool) {
	if v == nil || !v.RequiresGrad {
		return false
	}
	root := v
	for root.parent != nil {
		root = root.parent
	}
	if root.tape == tp && root.Grad == nil && v.Grad == nil && tmp.DType == gradType(root.Val.DType) {
		if buf == nil {
			buf = &gradBuf{t: tmp}
		}
		buf.refs++
		root.gbuf = buf
		root.Grad = tmp
		if !tensor.SameShape(tmp.Shape, root.Val.Shape) {
			root.Grad = tmp.Reshape(root.Val.Shape...)
		}
		return true
	}
	tp.Dev.Axpy(v.grad(), 1, tmp)
	return false
}

// accumulateTemp is accumulateOwned for a tmp allocated by the calling
// backward closure: what is not taken over is freed right away, which keeps
// the backward pass's peak memory at one op's temporaries.
func (tp *Tape) accumulateTemp(v *Var, tmp *tensor.Tensor) {
	if !tp.accumulateOwned(v, tmp, nil) {
		tp.release(tmp)
	}
}

// dropGrad is called once the op that produced v ran its backward kernel:
// v's gradient has no reader left, and its buffer is freed when no other
// Var shares it.
func (tp *Tape) dropGrad(v *Var) {
	b := v.gbuf
	if b == nil {
		return
	}
	v.gbuf = nil
	if b.refs--; b.refs == 0 {
		tp.release(b.t)
	}
}

// Reshape is a view of v with another shape; gradients flow through.
func (tp *Tape) Reshape(v *Var, shape ...int) *Var {
	return &Var{Val: v.Val.Reshape(shape...), RequiresGrad: v.RequiresGrad, parent: v, tape: v.tape}
}
