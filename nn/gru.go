package nn

import (
	"fmt"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/tensor"
)

// GRUMix is how a GRU cell blends its state h and its candidate n through the update gate z.
type GRUMix int

const (
	// MixPaper is the paper's equation 7: h' = (1 - z) * h + z * n.
	MixPaper GRUMix = iota
	// MixReleased is the paper's released code: h' = (1 - z) * n + z * h.
	MixReleased
)

// Candidate is the activation of a GRU cell's candidate state.
type Candidate int

const (
	// CandidateReLU is the paper's choice for the proxy cell.
	CandidateReLU Candidate = iota
	// CandidateTanh is the classic GRU's.
	CandidateTanh
)

// GRUProxyCell is the gated recurrent cell that accumulates semantic proxies (the paper's
// equations 4-7), for input p (a sample's proxy) and hidden state h (the class memory):
//
//	z  = sigmoid(Wz p + Uz h + bz)
//	r  = sigmoid(Wr p + Ur h + br)
//	n  = ReLU(Wh p + r * (Uh h) + bh)      (tanh with CandidateTanh)
//	h' = (1 - z) * h + z * n              (MixPaper; MixReleased swaps h and n)
//
// Every W and U is [E, E] and every b is [E]; the names match the reference fixtures
// (W_z, U_z, b_z, ...).
type GRUProxyCell struct {
	Wz, Uz, Bz *autodiff.Var
	Wr, Ur, Br *autodiff.Var
	Wh, Uh, Bh *autodiff.Var
	Candidate  Candidate
	Mix        GRUMix
}

// NewGRUProxyCell returns a zeroed cell of width dim. It panics if dim is negative.
func NewGRUProxyCell(dim int, candidate Candidate) *GRUProxyCell {
	w := func() *autodiff.Var { return autodiff.Param(tensor.New(dim, dim)) }
	b := func() *autodiff.Var { return autodiff.Param(tensor.New(dim)) }
	return &GRUProxyCell{Wz: w(), Uz: w(), Bz: b(), Wr: w(), Ur: w(), Br: b(), Wh: w(), Uh: w(), Bh: b(), Candidate: candidate}
}

// Step advances R independent states at once: p and h are [R, E]; the result is h' [R, E]. It
// panics if p and h differ in shape or if E is not the cell's width.
func (g *GRUProxyCell) Step(tp *autodiff.Tape, p, h *autodiff.Var) *autodiff.Var {
	if !p.Value.SameShape(h.Value) {
		panic(fmt.Sprintf("nn: GRUProxyCell.Step: input %v and state %v differ in shape", p.Shape(), h.Shape()))
	}
	z := tp.Sigmoid(tp.Add(tp.Linear(p, g.Wz, g.Bz), tp.Linear(h, g.Uz, nil)))
	r := tp.Sigmoid(tp.Add(tp.Linear(p, g.Wr, g.Br), tp.Linear(h, g.Ur, nil)))
	n := tp.Add(tp.Linear(p, g.Wh, g.Bh), tp.Mul(r, tp.Linear(h, g.Uh, nil)))
	if g.Candidate == CandidateTanh {
		n = tp.Tanh(n)
	} else {
		n = tp.ReLU(n)
	}
	from, to := h, n // h' = from + z * (to - from)
	if g.Mix == MixReleased {
		from, to = n, h
	}
	return tp.Add(from, tp.Mul(z, tp.Add(to, tp.Scale(from, -1))))
}

// Parameters lists the cell's parameters by name.
func (g *GRUProxyCell) Parameters() []Named {
	return []Named{
		{"W_z", g.Wz}, {"U_z", g.Uz}, {"b_z", g.Bz},
		{"W_r", g.Wr}, {"U_r", g.Ur}, {"b_r", g.Br},
		{"W_h", g.Wh}, {"U_h", g.Uh}, {"b_h", g.Bh},
	}
}
