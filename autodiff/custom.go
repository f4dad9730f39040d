package autodiff

// Operations defined outside this package (a loss of a particular method, say) are built with
// NewResult, Record and AddGrad:
//
//	y := tp.NewResult([]*autodiff.Var{x}, shape...)  // fill y.Value from x.Value
//	tp.Record(y, func() {                            // runs in Backward when y got a gradient
//		dx := ... from y.Grad() and x.Value ...
//		tp.AddGrad(x, dx)
//	}, x)                                            // the values the backward function reads

// NewResult returns a result of the given shape for an operation on inputs, its elements unset
// (the caller fills all of them). It requires a gradient when recording is on and any input
// does. It panics if a dimension is negative.
func (tp *Tape) NewResult(inputs []*Var, shape ...int) *Var { return tp.result(inputs, shape...) }

// Record registers the backward function of the operation that produced out, if out requires a
// gradient, holding the kept values until it has run, and reports whether it did. backward reads
// out.Grad() and adds to the inputs' gradients with AddGrad.
func (tp *Tape) Record(out *Var, backward func(), kept ...*Var) bool {
	return tp.record(out, backward, kept...)
}

// AddGrad adds g, shaped like v, to v's gradient, if v requires one. g must have v's number of
// elements: it panics if it has not and v already has a gradient (a result's first gradient is
// copied from g as far as g goes).
func (tp *Tape) AddGrad(v *Var, g []float32) { tp.addGrad(v, g) }
