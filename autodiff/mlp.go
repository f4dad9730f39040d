package autodiff

import (
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
// activation too when w2 needs a gradient. When both weights are frozen and packed (Pack), the
// layer runs chunk of rows by chunk of rows, forward and backward (kernels.PackedMLP and
// PackedMLPBackward), and the hidden activation and its gradient never leave the cache.
//
// It panics if w1 is not two-dimensional with x's last dimension as its second, if b1 is nil
// or has other than hidden elements, if w2 is not two-dimensional with hidden as its second
// dimension, or if b2 is not nil and has other than out elements.
func (tp *Tape) MLP(x, w1, b1, w2, b2 *Var) *Var {
	rows, in, hidden := linearShape("MLP: first layer", x, w1, b1)
	if b1 == nil {
		panic("autodiff: MLP: first layer: bias is nil")
	}
	out := weightShape("MLP: second layer", w2, b2, []int{rows, hidden})
	y := tp.result([]*Var{x, w1, b1, w2, b2}, withLastDim(x, out)...)
	first := &kernels.BiasGELU{Bias: b1.Value.Data()}
	var pre, g *Var
	if y.requiresGrad {
		pre = tp.temp(rows, hidden)
		first.Pre = pre.Value.Data()
	}
	if pw1, pw2 := w1.packing(tp.noGrad), w2.packing(tp.noGrad); pw1 != nil && pw2 != nil {
		kernels.PackedMLP(y.Value.Data(), first.Pre, x.Value.Data(), rows, pw1.forward, b1.Value.Data(), pw2.forward, valuesOf(b2))
	} else {
		g = tp.temp(rows, hidden)
		tp.product(first, g.Value.Data(), x.Value.Data(), w1, rows, in, hidden)
		tp.linearForward(g, w2, b2, y, rows, hidden, out)
	}
	tp.record(y, func() { tp.mlpBackward(x, w1, b1, w2, b2, g, pre, y.grad.Data()) }, pre, when(needs(w1), x), when(needs(w2), g))
	tp.release(g)
	return y
}

// mlpBackward turns dy [rows, out], the gradient of MLP's result, into gradients of whichever
// of x, w1, b1, w2 and b2 need one; g is the hidden activation (kept when w2 needs a gradient)
// and pre its pre-activation.
func (tp *Tape) mlpBackward(x, w1, b1, w2, b2, g, pre *Var, dy []float32) {
	rows, hidden := pre.Value.Dim(0), pre.Value.Dim(1)
	in, out := w1.Value.Dim(1), w2.Value.Dim(0)
	if !needs(x) && !needs(w1) && !needs(b1) {
		tp.paramGrads(g, w2, b2, dy, false, rows, hidden, out) // g never needs a gradient
		return
	}
	if tp.mlpBackwardPacked(x, w1, b1, w2, b2, pre, dy) {
		return
	}
	dpre := tp.scratch.GetUninit(rows, hidden)
	b2Summed := tp.inputGrad(&kernels.GELUGrad{Pre: pre.Value.Data(), Ld: hidden}, dpre.Data(), dy, w2, b2, 0, rows, hidden, out)
	tp.paramGrads(g, w2, b2, dy, b2Summed, rows, hidden, out)
	tp.linearBackward(x, w1, b1, dpre.Data(), rows, in, hidden)
	tp.scratch.Put(dpre)
}

// mlpBackwardPacked is mlpBackward by kernels.PackedMLPBackward, where both weights are frozen
// and packed and x needs a gradient; it reports whether it ran.
func (tp *Tape) mlpBackwardPacked(x, w1, b1, w2, b2, pre *Var, dy []float32) bool {
	pw1, pw2 := w1.packing(false), w2.packing(false)
	if pw1 == nil || pw2 == nil || !needs(x) {
		return false
	}
	dx, beta := tp.gradTarget(x)
	var db1, db2 []float32
	if needs(b1) {
		db1 = tp.gradOf(b1).Data()
	}
	if needs(b2) {
		db2 = tp.gradOf(b2).Data()
	}
	kernels.PackedMLPBackward(dx, beta, db1, db2, dy, pre.Value.Data(), pre.Value.Dim(0), pw1.inputGradient(), pw2.inputGradient())
	return true
}
