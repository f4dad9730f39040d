package autodiff

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/kernels"
)

// Sum returns the sum of every element of x as a scalar.
func (tp *Tape) Sum(x *Var) *Var { return tp.scaledSum(x, 1) }

// Mean returns the mean of every element of x as a scalar (NaN for an empty x).
func (tp *Tape) Mean(x *Var) *Var { return tp.scaledSum(x, 1/float32(x.Value.Len())) }

// scaledSum returns s times the sum of every element of x as a scalar.
func (tp *Tape) scaledSum(x *Var, s float32) *Var {
	y := tp.result([]*Var{x})
	y.Value.Data()[0] = s * float32(sum64(x.Value.Data()))
	tp.record(y, func() {
		g, dx := s*y.grad.Data()[0], tp.gradOf(x).Data()
		for i := range dx {
			dx[i] += g
		}
	})
	return y
}

// sum64 adds in float64, so that long sums keep float32 precision.
func sum64(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// LogSumExp returns log(sum_j exp(x[r, j])) of every row of x ([..., n] -> [...]), computed
// with the row's max subtracted so that it neither overflows nor underflows. It panics if x's
// last dimension is 0.
func (tp *Tape) LogSumExp(x *Var) *Var {
	n := lastDim(x)
	if n == 0 {
		panic(fmt.Sprintf("autodiff: LogSumExp: empty rows in %v", x.Shape()))
	}
	shape := x.Shape()
	y := tp.result([]*Var{x}, shape[:max(len(shape)-1, 0)]...)
	xd, yd := x.Value.Data(), y.Value.Data()
	tmpVar := tp.temp(n)
	tmp := tmpVar.Value.Data()
	for r := range yd {
		row := xd[r*n : (r+1)*n]
		m := kernels.Max(row)
		yd[r] = m + float32(math.Log(float64(kernels.ExpSum(tmp, row, m))))
	}
	tp.record(y, func() {
		dx, dy := tp.gradOf(x).Data(), y.grad.Data()
		for r := range yd {
			// d lse / d x_j = exp(x_j - lse)
			kernels.ExpSum(tmp, xd[r*n:(r+1)*n], yd[r])
			kernels.Axpy(dy[r], tmp, dx[r*n:(r+1)*n])
		}
	}, x, y, tmpVar)
	return y
}
