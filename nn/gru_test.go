package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/tensor"
)

// The cell against its equations in float64, in both blends: the paper's h' = (1-z) h + z n
// and the released code's h' = (1-z) n + z h.
func TestGRUProxyCellMix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	const e = 7
	cell := NewGRUProxyCell(e, CandidateReLU)
	for _, p := range cell.Parameters() {
		for i := range p.Var.Value.Data() {
			p.Var.Value.Data()[i] = float32(rng.NormFloat64() * 0.5)
		}
	}
	p, h := make([]float32, e), make([]float32, e)
	for i := range e {
		p[i], h[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	affine := func(w, u, b *autodiff.Var, gate []float64) []float64 {
		out := make([]float64, e)
		for i := range e {
			wp, uh := float64(b.Value.Data()[i]), 0.0
			for j := range e {
				wp += float64(w.Value.Data()[i*e+j]) * float64(p[j])
				uh += float64(u.Value.Data()[i*e+j]) * float64(h[j])
			}
			if gate != nil {
				uh *= gate[i]
			}
			out[i] = wp + uh
		}
		return out
	}
	sigmoid := func(x []float64) []float64 {
		for i := range x {
			x[i] = 1 / (1 + math.Exp(-x[i]))
		}
		return x
	}
	z := sigmoid(affine(cell.Wz, cell.Uz, cell.Bz, nil))
	r := sigmoid(affine(cell.Wr, cell.Ur, cell.Br, nil))
	n := affine(cell.Wh, cell.Uh, cell.Bh, r)
	for i := range n {
		n[i] = max(n[i], 0)
	}
	for _, mix := range []GRUMix{MixPaper, MixReleased} {
		cell.Mix = mix
		got := cell.Step(autodiff.NewTape(), autodiff.Constant(tensor.FromSlice(p, 1, e)), autodiff.Constant(tensor.FromSlice(h, 1, e))).Value.Data()
		for i := range e {
			want := (1-z[i])*float64(h[i]) + z[i]*n[i]
			if mix == MixReleased {
				want = (1-z[i])*n[i] + z[i]*float64(h[i])
			}
			if math.Abs(float64(got[i])-want) > 1e-5 {
				t.Errorf("mix %d: h'[%d] = %v, want %v", mix, i, got[i], want)
			}
		}
	}
}
