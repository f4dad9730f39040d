package nn

import "github.com/semprox/semprox/autodiff"

// Head maps a backbone's embedding to the metric space: LayerNorm, then Linear.
type Head struct {
	Norm *LayerNorm
	Proj *Linear
}

// NewHead returns a head from width in to width out. It panics if in or out is negative.
func NewHead(in, out int, eps float32) *Head {
	return &Head{Norm: NewLayerNorm(in, eps), Proj: NewLinear(in, out, true)}
}

// Forward maps x [B, in] to [B, out]. It panics if x's last dimension is not in.
func (h *Head) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	return h.Proj.Forward(tp, h.Norm.Forward(tp, x))
}

// Parameters lists the head's parameters by name.
func (h *Head) Parameters() []Named {
	return collect(func(add func(string, *autodiff.Var)) {
		h.Norm.parameters("norm.", add)
		h.Proj.parameters("proj.", add)
	})
}
