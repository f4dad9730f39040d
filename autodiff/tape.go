package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/tensor"
)

// Tape records operations for a backward pass. A Tape is used by one goroutine at a time
// (the kernels it calls run in parallel on their own).
type Tape struct {
	scratch  *tensor.Scratch
	backward []step
	noGrad   bool
}

// NewTape returns an empty tape with its own scratch memory.
func NewTape() *Tape { return &Tape{scratch: tensor.NewScratch()} }

// SetNoGrad turns recording off (true) or on (false). With recording off no result requires
// a gradient and Backward has nothing to do: use it for inference.
func (tp *Tape) SetNoGrad(off bool) { tp.noGrad = off }

// NoGrad reports whether recording is off.
func (tp *Tape) NoGrad() bool { return tp.noGrad }

// Scratch is the tape's memory pool; layers may draw temporaries from it that live until Reset.
func (tp *Tape) Scratch() *tensor.Scratch { return tp.scratch }

// Reset forgets the recorded operations and returns every result, and every gradient of a
// result, to the scratch pool: they must not be used afterwards. Parameter gradients stay.
func (tp *Tape) Reset() {
	clear(tp.backward)
	tp.backward = tp.backward[:0]
	tp.scratch.Reset()
}

// Backward sets the gradient of loss, a scalar (one element) result recorded on this tape, to
// 1 and propagates it back through every recorded operation, accumulating into the gradients
// of the parameters that require one. It panics if loss is not a single element.
func (tp *Tape) Backward(loss *Var) {
	if loss.Value.Len() != 1 {
		panic(fmt.Sprintf("autodiff: Backward: loss has shape %v, want a single element", loss.Value.Shape()))
	}
	if !loss.requiresGrad {
		return
	}
	tp.gradOf(loss).Data()[0] += 1
	for i := len(tp.backward) - 1; i >= 0; i-- {
		if st := tp.backward[i]; st.out.grad != nil {
			st.fn()
		}
	}
}

// result returns a new variable of the given shape, zeroed, that requires a gradient when
// recording is on and any input does.
func (tp *Tape) result(inputs []*Var, shape ...int) *Var {
	out := &Var{Value: tp.scratch.Get(shape...)}
	if !tp.noGrad {
		for _, in := range inputs {
			if in != nil && in.requiresGrad {
				out.requiresGrad = true
				break
			}
		}
	}
	return out
}

// step is a recorded operation: fn turns out's gradient into gradients of the inputs.
type step struct {
	out *Var
	fn  func()
}

// record adds the backward function of an operation whose result is out, if out needs one.
// Backward skips it when no gradient reached out.
func (tp *Tape) record(out *Var, backward func()) {
	if out.requiresGrad {
		tp.backward = append(tp.backward, step{out, backward})
	}
}

// gradOf returns v's gradient, allocating it zeroed on first use: from the scratch pool for a
// result, from the heap for a parameter (it must outlive Reset).
func (tp *Tape) gradOf(v *Var) *tensor.Tensor {
	if v.grad == nil {
		if v.param {
			v.grad = tensor.New(v.Value.Shape()...)
		} else {
			v.grad = tp.scratch.Get(v.Value.Shape()...)
		}
	}
	return v.grad
}

// needs reports whether backward must compute a gradient for v.
func needs(v *Var) bool { return v != nil && v.requiresGrad }
