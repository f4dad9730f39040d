package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
)

// Linear returns x w^T + b, a fully connected layer in PyTorch's layout:
//
//	x is [..., in], w is [out, in], b is [out] or nil; the result is [..., out].
//
// The bias is added as the product is written. Backward computes only what is needed: a
// frozen w (and b) costs one product, dx = dy w. It panics if w is not two-dimensional with
// x's last dimension as its second, or if b is not nil and has other than out elements.
func (tp *Tape) Linear(x, w, b *Var) *Var {
	rows, in, out := linearShape("Linear", x, w, b)
	y := tp.result([]*Var{x, w, b}, withLastDim(x, out)...)
	tp.linearForward(x, w, b, y, rows, in, out)
	tp.record(y, func() { tp.linearBackward(x, w, b, y.grad.Data(), rows, in, out) }, when(needs(w), x))
	return y
}

// linearShape checks the operands of a linear layer and returns the rows of x and the input
// and output widths.
func linearShape(op string, x, w, b *Var) (rows, in, out int) {
	rows, in = asRows(x)
	return rows, in, weightShape(op, w, b, x.Shape())
}

// weightShape checks the weight and bias of a linear layer on an input of the given shape and
// returns the output width.
func weightShape(op string, w, b *Var, input []int) (out int) {
	in := input[len(input)-1]
	out = w.Value.Dim(0)
	if w.Value.Dims() != 2 || w.Value.Dim(1) != in {
		panic(fmt.Sprintf("autodiff: %s: weight has shape %v, want [out, %d] for input %v", op, w.Shape(), in, input))
	}
	checkBias(op, b, out)
	return out
}

// checkBias panics unless b is nil or has out elements, one per output of a layer.
func checkBias(op string, b *Var, out int) {
	if b != nil && b.Value.Len() != out {
		panic(fmt.Sprintf("autodiff: %s: bias has shape %v, want [%d]", op, b.Shape(), out))
	}
}

// valuesOf is v's values, or nil for a nil v (an absent bias).
func valuesOf(v *Var) []float32 {
	if v == nil {
		return nil
	}
	return v.Value.Data()
}

// linearForward writes x w^T + b into y, the bias added as the product is written.
func (tp *Tape) linearForward(x, w, b, y *Var, rows, in, out int) {
	var ep kernels.Epilogue
	if b != nil {
		ep = kernels.BiasCols(b.Value.Data())
	}
	tp.product(ep, y.Value.Data(), x.Value.Data(), w, rows, in, out)
}

// product writes x w^T into y, x [rows, in] and w [out, in], with ep applied to each tile of
// y [rows, out] as it is written; w's packed copy is used where it has one and w is frozen or
// no gradient is recorded (see Pack).
func (tp *Tape) product(ep kernels.Epilogue, y, x []float32, w *Var, rows, in, out int) {
	if pw := w.packing(tp.noGrad); pw != nil {
		kernels.SgemmPacked(ep, rows, 1, x, in, pw.forward, 0, y, out)
		return
	}
	kernels.SgemmEpilogue(ep, false, true, rows, out, in, 1, x, in, w.Value.Data(), in, 0, y, out)
}

// linearBackward turns dy [rows, out], the gradient of x w^T + b, into gradients of whichever
// of x, w and b need one.
func (tp *Tape) linearBackward(x, w, b *Var, dy []float32, rows, in, out int) {
	biasSummed := false
	if needs(x) {
		dx, beta := tp.gradTarget(x)
		biasSummed = tp.inputGrad(nil, dx, dy, w, b, beta, rows, in, out)
	}
	tp.paramGrads(x, w, b, dy, biasSummed, rows, in, out)
}

// paramGrads adds the gradients of w and b, from dy [rows, out] and x [rows, in], where they
// need one; b's is left out when biasSummed says inputGrad has added it.
func (tp *Tape) paramGrads(x, w, b *Var, dy []float32, biasSummed bool, rows, in, out int) {
	if needs(w) {
		kernels.Sgemm(true, false, out, in, rows, 1, dy, out, x.Value.Data(), in, 1, tp.gradOf(w).Data(), in)
	}
	if needs(b) && !biasSummed {
		addColumnSums(tp.gradOf(b).Data(), dy, out)
	}
}

// inputGrad writes dy w + beta dst into dst [rows, in], for dy [rows, out] and w [out, in] (the
// input gradient of x w^T), with ep applied to each tile as it is written. A frozen w's packed
// copy is used where it has one (Pack); the product then also adds the column sums of dy to the
// gradient of the bias b, if b needs one, and inputGrad reports that it did.
func (tp *Tape) inputGrad(ep kernels.Epilogue, dst, dy []float32, w, b *Var, beta float32, rows, in, out int) (biasSummed bool) {
	pw := w.packing(false)
	if pw == nil {
		kernels.SgemmEpilogue(ep, false, false, rows, in, out, 1, dy, out, w.Value.Data(), in, beta, dst, in)
		return false
	}
	if !needs(b) {
		kernels.SgemmPacked(ep, rows, 1, dy, out, pw.inputGradient(), beta, dst, in)
		return false
	}
	kernels.SgemmPackedColumnSums(ep, tp.gradOf(b).Data(), rows, 1, dy, out, pw.inputGradient(), beta, dst, in)
	return true
}

// AddBias returns x + b with b repeated over x's leading dimensions: b's shape, leading 1s
// dropped, must be the tail of x's shape (a bias [n] over rows [..., n], or a position
// embedding [1, N, D] over a batch [B, N, D]). It panics if it is not.
func (tp *Tape) AddBias(x, b *Var) *Var {
	n := b.Value.Len()
	if !isTail(b.Shape(), x.Shape()) {
		panic(fmt.Sprintf("autodiff: AddBias: bias has shape %v, not the tail of input %v", b.Shape(), x.Shape()))
	}
	y := tp.result([]*Var{x, b}, x.Shape()...)
	yd, bias := y.Value.Data(), b.Value.Data()
	kernels.Copy(yd, x.Value.Data())
	for r := 0; r < len(yd); r += n {
		kernels.Axpy(1, bias, yd[r:r+n])
	}
	tp.record(y, func() {
		if needs(b) {
			addColumnSums(tp.gradOf(b).Data(), y.grad.Data(), n)
		}
		tp.passGrad(x, y)
	})
	return y
}

// isTail reports whether tail, without its leading 1s, ends shape.
func isTail(tail, shape []int) bool {
	for len(tail) > 0 && tail[0] == 1 {
		tail = tail[1:]
	}
	if len(tail) > len(shape) {
		return false
	}
	for i, d := range tail {
		if shape[len(shape)-len(tail)+i] != d {
			return false
		}
	}
	return true
}
