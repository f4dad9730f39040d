package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
)

// LayerNorm normalises every row of x over its last dimension and applies the affine map:
//
//	x is [..., n], gamma and beta are [n]; y = (x - mean) / sqrt(var + eps) * gamma + beta
//
// with the biased variance, as PyTorch's LayerNorm. The row means and reciprocal deviations
// are kept for backward. It panics unless gamma and beta both have n elements.
func (tp *Tape) LayerNorm(x, gamma, beta *Var, eps float32) *Var {
	rows, n := asRows(x)
	if gamma.Value.Len() != n || beta.Value.Len() != n {
		panic(fmt.Sprintf("autodiff: LayerNorm: gamma %v and beta %v, want [%d] for input %v", gamma.Shape(), beta.Shape(), n, x.Shape()))
	}
	y := tp.result([]*Var{x, gamma, beta}, x.Shape()...)
	meanVar, rstdVar := tp.temp(rows), tp.temp(rows)
	mean, rstd := meanVar.Value, rstdVar.Value
	kernels.LayerNorm(y.Value.Data(), mean.Data(), rstd.Data(), x.Value.Data(), gamma.Value.Data(), beta.Value.Data(), n, eps)
	tp.record(y, func() {
		dgamma, dbeta := tp.paramGradOrTemp(gamma), tp.paramGradOrTemp(beta)
		write := func(dx []float32) {
			kernels.LayerNormBackward(dx, dgamma, dbeta, y.grad.Data(), x.Value.Data(), mean.Data(), rstd.Data(), gamma.Value.Data(), n)
		}
		if needs(x) {
			tp.setGrad(x, write)
			return
		}
		tmp := tp.scratch.Get(x.Value.Len())
		write(tmp.Data())
		tp.scratch.Put(tmp)
	}, x, meanVar, rstdVar)
	tp.release(meanVar, rstdVar)
	return y
}

// paramGradOrTemp is v's gradient if v needs one, else a scratch buffer to receive and drop a
// contribution that a kernel computes anyway.
func (tp *Tape) paramGradOrTemp(v *Var) []float32 {
	if needs(v) {
		return tp.gradOf(v).Data()
	}
	return tp.scratch.Get(v.Value.Len()).Data()
}

// L2Normalize divides every row of x ([..., n]) by its Euclidean norm (by eps when the norm is
// smaller), giving unit rows for cosine similarities.
func (tp *Tape) L2Normalize(x *Var, eps float32) *Var {
	rows, n := asRows(x)
	y := tp.result([]*Var{x}, x.Shape()...)
	normVar := tp.temp(rows)
	norm := normVar.Value
	kernels.L2Normalize(y.Value.Data(), norm.Data(), x.Value.Data(), n, eps)
	tp.record(y, func() {
		tp.setGrad(x, func(dx []float32) {
			kernels.L2NormalizeBackward(dx, y.grad.Data(), y.Value.Data(), norm.Data(), n, eps)
		})
	}, y, normVar)
	tp.release(normVar)
	return y
}
