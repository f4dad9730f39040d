package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// Tape records operations for a backward pass. A Tape is used by one goroutine at a time
// (the kernels it calls run in parallel on their own).
//
// Memory: results live in the tape's scratch pool. A result that backward needs is held until
// the step that needs it has run; Free lets the forward code return the others as soon as it is
// done with them, and Backward returns each held value and each gradient of a result as soon as
// nothing later needs it. What is left goes back at Reset.
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

// Free tells the tape that the forward computation will not read these results again. Each
// one that no recorded backward step needs gives its storage back at once; the others go back
// when their last backward step has run. Parameters, constants and views are left alone.
func (tp *Tape) Free(vs ...*Var) {
	for _, v := range vs {
		if v != nil {
			v.done = true
			tp.release(v)
		}
	}
}

// release returns the storage of each of vs that owns scratch storage nothing needs any more
// (nil entries are ignored).
// An operation calls it on its temporaries right after record: those that its backward step
// holds stay until that step has run, the others go back at once.
func (tp *Tape) release(vs ...*Var) {
	for _, v := range vs {
		if v != nil && v.owned && v.done && v.holds == 0 && v.Value.Len() > 0 {
			tp.scratch.PutStorage(v.Value)
		}
	}
}

// Backward sets the gradient of loss, a scalar (one element) result recorded on this tape, to
// 1 and propagates it back through every recorded operation, accumulating into the gradients
// of the parameters that require one. It panics if loss is not a single element.
//
// The gradients of results (not parameters) are given back to the scratch pool as soon as the
// operation that made the result has used them: read parameter gradients after Backward.
func (tp *Tape) Backward(loss *Var) {
	if loss.Value.Len() != 1 {
		panic(fmt.Sprintf("autodiff: Backward: loss has shape %v, want a single element", loss.Value.Shape()))
	}
	if !loss.requiresGrad {
		return
	}
	tp.gradOf(loss).Data()[0] += 1
	for i := len(tp.backward) - 1; i >= 0; i-- {
		st := tp.backward[i]
		if st.out.grad != nil {
			st.fn()
			if st.out.grad != nil { // not handed on by passGrad
				tp.scratch.Put(st.out.grad)
				st.out.grad = nil
			}
		}
		for _, v := range st.kept {
			v.holds--
			tp.release(v)
		}
	}
}

// result returns a new variable of the given shape, its elements unset (every operation
// writes all of its result), that requires a gradient when recording is on and any input does.
func (tp *Tape) result(inputs []*Var, shape ...int) *Var {
	out := &Var{Value: tp.scratch.GetUninit(shape...), owned: true}
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

// temp returns scratch storage, its elements unset, that an operation fills and keeps for its
// own backward step (a saved statistic, an unrolled input); pass it to record among the kept
// values.
func (tp *Tape) temp(shape ...int) *Var {
	return &Var{Value: tp.scratch.GetUninit(shape...), owned: true, done: true}
}

// step is a recorded operation: fn turns out's gradient into gradients of the inputs, reading
// the values in kept.
type step struct {
	out  *Var
	fn   func()
	kept []*Var
}

// record adds the backward function of an operation whose result is out, if out needs one,
// with the values that function reads (nil entries are ignored): they are held until it has
// run. Backward skips fn when no gradient reached out. It reports whether it recorded.
func (tp *Tape) record(out *Var, backward func(), kept ...*Var) bool {
	if !out.requiresGrad {
		return false
	}
	var held []*Var
	for _, v := range kept {
		if v != nil && v.owned {
			v.holds++
			held = append(held, v)
		}
	}
	tp.backward = append(tp.backward, step{out, backward, held})
	return true
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

// freshGrad returns v's gradient and whether it has just been allocated with its elements
// unset, in which case the caller must overwrite all of it instead of adding to it (saving the
// zeroing and a pass). Parameter gradients persist across steps and are never fresh.
func (tp *Tape) freshGrad(v *Var) (*tensor.Tensor, bool) {
	if v.grad == nil && !v.param {
		v.grad = tp.scratch.GetUninit(v.Value.Shape()...)
		return v.grad, true
	}
	return tp.gradOf(v), false
}

// The helpers below are shared by the operations' files: gradient accumulation, the values an
// operation keeps, and the row view of a value's shape.

// needs reports whether backward must compute a gradient for v.
func needs(v *Var) bool { return v != nil && v.requiresGrad }

// when is v if cond holds, else nil: a value an operation keeps only in some cases.
func when(cond bool, v *Var) *Var {
	if cond {
		return v
	}
	return nil
}

// addGrad adds src, shaped like v, to v's gradient, if v needs one.
func (tp *Tape) addGrad(v *Var, src []float32) {
	if !needs(v) {
		return
	}
	g, fresh := tp.freshGrad(v)
	store(g.Data(), src, fresh)
}

// passGrad adds out's gradient to v's, where v has out's shape, as addGrad does; but when v has
// no gradient yet and is not a parameter, v takes out's gradient buffer itself instead of a copy.
// Call it last in out's backward step, after everything else that reads out's gradient: the
// step ends with it, and Backward then leaves the buffer to v.
func (tp *Tape) passGrad(v, out *Var) {
	if !needs(v) {
		return
	}
	if v.grad == nil && !v.param {
		v.grad, out.grad = out.grad, nil
		return
	}
	tp.addGrad(v, out.grad.Data())
}

// gradTarget returns v's gradient for a product to write into, dst = contribution + beta*dst:
// beta is 0 when the gradient has just been allocated with its elements unset, else 1.
func (tp *Tape) gradTarget(v *Var) (dst []float32, beta float32) {
	g, fresh := tp.freshGrad(v)
	if fresh {
		return g.Data(), 0
	}
	return g.Data(), 1
}

// setGrad adds to v's gradient a contribution that write computes by overwriting a buffer:
// straight into the gradient when v has none yet, else through a temporary.
func (tp *Tape) setGrad(v *Var, write func(dst []float32)) {
	if g, fresh := tp.freshGrad(v); fresh {
		write(g.Data())
		return
	}
	tmp := tp.scratch.GetUninit(v.Value.Len())
	write(tmp.Data())
	accumulate(v.grad.Data(), tmp.Data())
	tp.scratch.Put(tmp)
}

// store puts src into dst: a copy when dst is fresh (its elements unset, see freshGrad), else
// a sum.
func store(dst, src []float32, fresh bool) {
	if fresh {
		kernels.Copy(dst, src)
		return
	}
	accumulate(dst, src)
}

// accumulate adds src to dst, element by element.
func accumulate(dst, src []float32) { kernels.Axpy(1, src, dst) }

// addColumnSums adds the sums of the columns of m (rows of n) to dst.
func addColumnSums(dst, m []float32, n int) {
	for r := 0; r+n <= len(m); r += n {
		kernels.Axpy(1, m[r:r+n], dst)
	}
}

// lastDim is the size of v's last dimension (1 for a scalar).
func lastDim(v *Var) int {
	if v.Value.Dims() == 0 {
		return 1
	}
	return v.Value.Dim(v.Value.Dims() - 1)
}

// asRows is v seen as rows of its last dimension: the number of rows and their width n.
func asRows(v *Var) (rows, n int) {
	n = lastDim(v)
	return v.Value.Len() / max(n, 1), n
}

// withLastDim is v's shape with the last dimension replaced by n.
func withLastDim(v *Var, n int) []int {
	s := v.Shape()
	if len(s) == 0 {
		return []int{n}
	}
	s[len(s)-1] = n
	return s
}
