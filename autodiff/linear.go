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
// frozen w (and b) costs one product, dx = dy w.
func (tp *Tape) Linear(x, w, b *Var) *Var {
	rows, in, out := linearShape("Linear", x, w, b)
	y := tp.result([]*Var{x, w, b}, withLastDim(x, out)...)
	linearForward(x, w, b, y, rows, in, out)
	tp.record(y, func() { tp.linearBackward(x, w, b, y.grad.Data(), rows, in, out) }, when(needs(w), x))
	return y
}

// linearForward writes x w^T + b into y, the bias added as the product is written.
func linearForward(x, w, b, y *Var, rows, in, out int) {
	var ep kernels.Epilogue
	if b != nil {
		ep = kernels.BiasCols(b.Value.Data())
	}
	kernels.SgemmEpilogue(ep, false, true, rows, out, in, 1, x.Value.Data(), in, w.Value.Data(), in, 0, y.Value.Data(), out)
}

// when is v if cond holds, else nil: a value an operation keeps only in some cases.
func when(cond bool, v *Var) *Var {
	if cond {
		return v
	}
	return nil
}

// AddBias returns x + b with b repeated over x's leading dimensions: b's shape, leading 1s
// dropped, must be the tail of x's shape (a bias [n] over rows [..., n], or a position
// embedding [1, N, D] over a batch [B, N, D]).
func (tp *Tape) AddBias(x, b *Var) *Var {
	n := b.Value.Len()
	if !isTail(b.Shape(), x.Shape()) {
		panic(fmt.Sprintf("autodiff: AddBias: bias has shape %v, not the tail of input %v", b.Shape(), x.Shape()))
	}
	y := tp.result([]*Var{x, b}, x.Shape()...)
	yd, bias := y.Value.Data(), b.Value.Data()
	copy(yd, x.Value.Data())
	for r := 0; r < len(yd); r += n {
		kernels.Axpy(1, bias, yd[r:r+n])
	}
	tp.record(y, func() {
		if needs(x) {
			tp.addGrad(x, y.grad.Data())
		}
		if needs(b) {
			addColumnSums(tp.gradOf(b).Data(), y.grad.Data(), n)
		}
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

// addColumnSums adds the sums of the columns of m (rows of n) to dst.
func addColumnSums(dst, m []float32, n int) {
	for r := 0; r+n <= len(m); r += n {
		kernels.Axpy(1, m[r:r+n], dst)
	}
}

// accumulate adds src to dst, element by element.
func accumulate(dst, src []float32) { kernels.Axpy(1, src, dst) }

// lastDim is the size of v's last dimension (1 for a scalar).
func lastDim(v *Var) int {
	if v.Value.Dims() == 0 {
		return 1
	}
	return v.Value.Dim(v.Value.Dims() - 1)
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
