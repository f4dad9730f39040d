package nn

import (
	"github.com/semprox/semprox/autodiff"
)

// Adapter is a bottleneck adapter (Houlsby et al. 2019): x + Up(ReLU(Down(x))), with Down
// [width, D] and Up [D, width]. Up starts at zero, so a new adapter is the identity.
type Adapter struct {
	Down, Up *Linear
}

// NewAdapter returns an adapter of width width on tokens of width d; Down must be initialised
// by the caller (Up is zero). It panics if d or width is negative.
func NewAdapter(d, width int) *Adapter {
	return &Adapter{Down: NewLinear(d, width, true), Up: NewLinear(width, d, true)}
}

// Forward maps x [..., D] to [..., D]. It panics if x's last dimension is not D.
func (a *Adapter) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	h := a.Down.Forward(tp, x)
	r := tp.ReLU(h)
	tp.Free(h)
	u := a.Up.Forward(tp, r)
	tp.Free(r)
	y := tp.Add(x, u)
	tp.Free(u)
	return y
}

// Parameters lists the adapter's parameters by name.
func (a *Adapter) Parameters() []Named {
	return collect(func(add func(string, *autodiff.Var)) {
		a.Down.parameters("down.", add)
		a.Up.parameters("up.", add)
	})
}
