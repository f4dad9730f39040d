package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
)

// MLP returns GELU(x w1^T + b1) w2^T + b2, a transformer block's feed-forward part:
//
//	x is [..., in], w1 is [hidden, in], b1 is [hidden], w2 is [out, hidden], b2 is [out] or nil;
//	the result is [..., out].
//
// The bias and the exact GELU are applied while each tile of the first product is in cache.
// Backward writes the second layer's input gradient straight as the gradient of the
// pre-activation (GELU' applied as each tile of dy w2 is written), so the hidden gradient
// passes through memory once. Only the pre-activation is kept for backward, and the hidden
// activation too when w2 needs a gradient.
func (tp *Tape) MLP(x, w1, b1, w2, b2 *Var) *Var {
	rows, in, hidden := linearShape("MLP: first layer", x, w1, b1)
	if b1 == nil {
		panic("autodiff: MLP: first layer: bias is nil")
	}
	g := tp.temp(rows, hidden)
	_, _, out := linearShape("MLP: second layer", g, w2, b2)
	y := tp.result([]*Var{x, w1, b1, w2, b2}, withLastDim(x, out)...)
	first := &kernels.BiasGELU{Bias: b1.Value.Data()}
	var pre *Var
	if y.requiresGrad {
		pre = tp.temp(rows, hidden)
		first.Pre = pre.Value.Data()
	}
	kernels.SgemmEpilogue(first, false, true, rows, hidden, in, 1, x.Value.Data(), in, w1.Value.Data(), in, 0, g.Value.Data(), hidden)
	linearForward(g, w2, b2, y, rows, hidden, out)
	tp.record(y, func() { tp.mlpBackward(x, w1, b1, w2, b2, g, pre, y.grad.Data()) }, pre, when(needs(w1), x), when(needs(w2), g))
	tp.release(g) // at once unless backward holds it
	return y
}

// mlpBackward turns dy [rows, out], the gradient of MLP's result, into gradients of whichever
// of x, w1, b1, w2 and b2 need one; g is the hidden activation (kept when w2 needs a gradient)
// and pre its pre-activation.
func (tp *Tape) mlpBackward(x, w1, b1, w2, b2, g, pre *Var, dy []float32) {
	rows, hidden := pre.Value.Dim(0), pre.Value.Dim(1)
	in, out := w1.Value.Dim(1), w2.Value.Dim(0)
	tp.linearBackward(g, w2, b2, dy, rows, hidden, out) // w2 and b2 only: g never needs a gradient
	if !needs(x) && !needs(w1) && !needs(b1) {
		return
	}
	dpre := tp.scratch.GetUninit(rows, hidden)
	ep := &kernels.GELUGrad{Pre: pre.Value.Data(), Ld: hidden}
	kernels.SgemmEpilogue(ep, false, false, rows, hidden, out, 1, dy, out, w2.Value.Data(), hidden, 0, dpre.Data(), hidden)
	tp.linearBackward(x, w1, b1, dpre.Data(), rows, in, hidden)
	tp.scratch.Put(dpre)
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
