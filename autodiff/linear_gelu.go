package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
)

// LinearGELU returns GELU(x w^T + b), the first layer of a transformer's MLP, with the bias
// and the exact GELU applied while each tile of the product is in cache (one pass over the
// result instead of three):
//
//	x is [..., in], w is [out, in], b is [out]; the result is [..., out].
//
// The pre-activation is kept for backward only when a gradient is needed.
func (tp *Tape) LinearGELU(x, w, b *Var) *Var {
	rows, in, out := linearShape("LinearGELU", x, w, b)
	if b == nil {
		panic("autodiff: LinearGELU: bias is nil")
	}
	y := tp.result([]*Var{x, w, b}, withLastDim(x, out)...)
	ep := &kernels.BiasGELU{Bias: b.Value.Data()}
	var pre *Var
	if y.requiresGrad {
		pre = tp.temp(rows, out)
		ep.Pre = pre.Value.Data()
	}
	kernels.SgemmEpilogue(ep, false, true, rows, out, in, 1, x.Value.Data(), in, w.Value.Data(), in, 0, y.Value.Data(), out)
	tp.record(y, func() {
		dpre := tp.scratch.Get(rows, out)
		kernels.GELUBackward(dpre.Data(), y.grad.Data(), pre.Value.Data())
		tp.linearBackward(x, w, b, dpre.Data(), rows, in, out)
		tp.scratch.Put(dpre)
	}, pre, when(needs(w), x))
	return y
}

// linearShape checks the operands of a linear layer and returns the rows of x and the input
// and output widths.
func linearShape(op string, x, w, b *Var) (rows, in, out int) {
	in, out = lastDim(x), w.Value.Dim(0)
	if w.Value.Dims() != 2 || w.Value.Dim(1) != in {
		panic(fmt.Sprintf("autodiff: %s: weight has shape %v, want [out, %d] for input %v", op, w.Shape(), in, x.Shape()))
	}
	if b != nil && b.Value.Len() != out {
		panic(fmt.Sprintf("autodiff: %s: bias has shape %v, want [%d]", op, b.Shape(), out))
	}
	return x.Value.Len() / max(in, 1), in, out
}

// linearBackward turns dy [rows, out], the gradient of x w^T + b, into gradients of whichever
// of x, w and b need one.
func (tp *Tape) linearBackward(x, w, b *Var, dy []float32, rows, in, out int) {
	if needs(x) {
		dx, fresh := tp.freshGrad(x)
		beta := float32(1)
		if fresh {
			beta = 0
		}
		kernels.Sgemm(false, false, rows, in, out, 1, dy, out, w.Value.Data(), in, beta, dx.Data(), in)
	}
	if needs(w) {
		kernels.Sgemm(true, false, out, in, rows, 1, dy, out, x.Value.Data(), in, 1, tp.gradOf(w).Data(), in)
	}
	if needs(b) {
		addColumnSums(tp.gradOf(b).Data(), dy, out)
	}
}
