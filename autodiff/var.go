package autodiff

import "github.com/semprox/semprox/tensor"

// Var is a value in a recorded computation and, when it requires one, the gradient of the
// loss with respect to it.
type Var struct {
	// Value is the value. Operations read it; do not change a Value between an operation
	// that used it and the Backward call that follows.
	Value *tensor.Tensor

	grad         *tensor.Tensor
	requiresGrad bool
	param        bool          // a leaf whose gradient persists across Reset
	owned        bool          // Value is the tape's scratch storage, to give back when unused
	done         bool          // the forward computation will not read Value again (Free)
	holds        int           // recorded backward steps that still read Value
	packed       *packedWeight // a frozen weight's packed copy (Pack), or nil
}

// Param returns a trainable leaf holding value. Its gradient is allocated on the first
// backward pass that reaches it and accumulates over passes until ZeroGrad.
func Param(value *tensor.Tensor) *Var {
	return &Var{Value: value, requiresGrad: true, param: true}
}

// Constant returns a leaf that never receives a gradient: an input, or a frozen weight.
func Constant(value *tensor.Tensor) *Var { return &Var{Value: value} }

// RequiresGrad reports whether backward passes compute a gradient for v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad freezes (false) or unfreezes (true) a parameter. It panics on a result of an
// operation, whose need for a gradient follows from its inputs.
func (v *Var) SetRequiresGrad(on bool) {
	if !v.param {
		panic("autodiff: SetRequiresGrad on a value that is not a Param")
	}
	v.requiresGrad = on
}

// Grad is the accumulated gradient, shaped like Value, or nil before any backward pass
// reached v. The gradient of a result of an operation is valid until its tape's Reset.
func (v *Var) Grad() *tensor.Tensor { return v.grad }

// ZeroGrad clears the accumulated gradient of a parameter.
func (v *Var) ZeroGrad() {
	if v.grad != nil {
		v.grad.Zero()
	}
}

// Shape returns the dimensions of Value.
func (v *Var) Shape() []int { return v.Value.Shape() }
