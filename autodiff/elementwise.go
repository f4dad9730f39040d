package autodiff

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/kernels"
)

// Add returns a + b. It panics if a and b differ in shape.
func (tp *Tape) Add(a, b *Var) *Var {
	sameShape("Add", a, b)
	y := tp.result([]*Var{a, b}, a.Shape()...)
	kernels.Add(y.Value.Data(), a.Value.Data(), b.Value.Data())
	tp.record(y, func() {
		tp.addGrad(b, y.grad.Data())
		tp.passGrad(a, y)
	})
	return y
}

// Mul returns a * b element by element. It panics if a and b differ in shape.
func (tp *Tape) Mul(a, b *Var) *Var {
	sameShape("Mul", a, b)
	y := tp.result([]*Var{a, b}, a.Shape()...)
	yd, ad, bd := y.Value.Data(), a.Value.Data(), b.Value.Data()
	for i := range yd {
		yd[i] = ad[i] * bd[i]
	}
	tp.record(y, func() {
		dy := y.grad.Data()
		if needs(a) {
			addProduct(tp.gradOf(a).Data(), dy, bd)
		}
		if needs(b) {
			addProduct(tp.gradOf(b).Data(), dy, ad)
		}
	}, when(needs(a), b), when(needs(b), a))
	return y
}

// Scale returns s * x.
func (tp *Tape) Scale(x *Var, s float32) *Var {
	y := tp.result([]*Var{x}, x.Shape()...)
	kernels.Scale(y.Value.Data(), s, x.Value.Data())
	tp.record(y, func() {
		if g, fresh := tp.freshGrad(x); fresh {
			kernels.Scale(g.Data(), s, y.grad.Data())
		} else {
			kernels.Axpy(s, y.grad.Data(), g.Data())
		}
	})
	return y
}

// addProduct adds a * b to dst, element by element.
func addProduct(dst, a, b []float32) {
	for i, v := range a {
		dst[i] += v * b[i]
	}
}

// Sigmoid returns 1 / (1 + exp(-x)) element by element.
func (tp *Tape) Sigmoid(x *Var) *Var {
	return tp.unary(x, keepY, func(y, x []float32) {
		for i, v := range x {
			y[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	}, func(dx, dy, x, y []float32) {
		for i, s := range y {
			dx[i] += dy[i] * s * (1 - s)
		}
	})
}

// Tanh returns tanh(x) element by element.
func (tp *Tape) Tanh(x *Var) *Var {
	return tp.unary(x, keepY, func(y, x []float32) {
		for i, v := range x {
			y[i] = float32(math.Tanh(float64(v)))
		}
	}, func(dx, dy, x, y []float32) {
		for i, t := range y {
			dx[i] += dy[i] * (1 - t*t)
		}
	})
}

// ReLU returns max(x, 0) element by element (the gradient at 0 is 0).
func (tp *Tape) ReLU(x *Var) *Var {
	return tp.unary(x, keepX, func(y, x []float32) {
		for i, v := range x {
			y[i] = max(v, 0)
		}
	}, func(dx, dy, x, y []float32) {
		for i, v := range x {
			if v > 0 {
				dx[i] += dy[i]
			}
		}
	})
}

// GELU returns the exact GELU, 0.5 x (1 + erf(x / sqrt 2)), element by element.
func (tp *Tape) GELU(x *Var) *Var {
	y := tp.result([]*Var{x}, x.Shape()...)
	kernels.GELU(y.Value.Data(), x.Value.Data())
	tp.record(y, func() {
		tp.setGrad(x, func(dx []float32) { kernels.GELUBackward(dx, y.grad.Data(), x.Value.Data()) })
	}, x)
	return y
}

// keep says which of its input and result an element-wise backward reads.
type keep int

const (
	keepX keep = iota
	keepY
)

// unary runs an element-wise operation: forward fills y from x, backward adds to dx and reads
// only the kept one of x and y (the other is passed as nil).
func (tp *Tape) unary(x *Var, k keep, forward func(y, x []float32), backward func(dx, dy, x, y []float32)) *Var {
	y := tp.result([]*Var{x}, x.Shape()...)
	forward(y.Value.Data(), x.Value.Data())
	kept := x
	if k == keepY {
		kept = y
	}
	tp.record(y, func() {
		var xd, yd []float32
		if k == keepX {
			xd = x.Value.Data()
		} else {
			yd = y.Value.Data()
		}
		backward(tp.gradOf(x).Data(), y.grad.Data(), xd, yd)
	}, kept)
	return y
}

// sameShape panics, naming op, unless a and b have the same shape.
func sameShape(op string, a, b *Var) {
	if !a.Value.SameShape(b.Value) {
		panic(fmt.Sprintf("autodiff: %s: shapes %v and %v differ", op, a.Shape(), b.Shape()))
	}
}
