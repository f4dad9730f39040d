package nn

import (
	"math"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/tensor"
)

// Expected values from torch.optim (float64) for three steps from w0 with these gradients.
var (
	optimStart = []float32{0.5, -1.25, 2.0}
	optimGrads = [][]float32{{0.1, -0.2, 0.3}, {-0.4, 0.05, 0.2}, {0.3, 0.3, -0.1}}
)

func runOptimizer(t *testing.T, make func([]Group) Optimizer, lr, wd float64, want []float64) {
	t.Helper()
	w := autodiff.Param(tensor.FromSlice(append([]float32(nil), optimStart...), 3))
	opt := make([]Group{{Params: []*autodiff.Var{w}, LR: lr, WeightDecay: wd}})
	for _, g := range optimGrads {
		opt.ZeroGrad()
		setGrad(w, g)
		opt.Step()
	}
	for i, v := range w.Value.Data() {
		if math.Abs(float64(v)-want[i]) > 1e-6 {
			t.Fatalf("w[%d] = %v, want %v (PyTorch)", i, v, want[i])
		}
	}
}

// setGrad gives w the gradient g by a backward pass through sum(w * g).
func setGrad(w *autodiff.Var, g []float32) {
	tp := autodiff.NewTape()
	tp.Backward(tp.Sum(tp.Mul(w, autodiff.Constant(tensor.FromSlice(g, len(g))))))
}

func TestSGDMatchesPyTorch(t *testing.T) {
	runOptimizer(t, func(g []Group) Optimizer { return NewSGD(g, 0.9) }, 0.1, 0.01,
		[]float64{0.5160953895, -1.2283644787499999, 1.879623568})
}

func TestAdamWMatchesPyTorch(t *testing.T) {
	runOptimizer(t, func(g []Group) Optimizer { return NewAdamW(g) }, 0.01, 0.05,
		[]float64{0.49458942809040857, -1.2366561702948078, 1.971793909731249})
}

func TestCosineMatchesPyTorch(t *testing.T) {
	// CosineAnnealingLR(T_max=5, eta_min=0.01) for base rates 0.1 and 1.0, epochs 0-6.
	want := [][2]float64{{0.1, 1.0}, {0.09140576474687263, 0.905463412215599}, {0.06890576474687263, 0.657963412215599},
		{0.04109423525312736, 0.352036587784401}, {0.018594235253127367, 0.10453658778440104}, {0.01, 0.01},
		{0.018594235253127367, 0.104536587784401}}
	c := Cosine{TMax: 5, EtaMin: 0.01}
	for e, w := range want {
		for i, base := range []float64{0.1, 1.0} {
			if got := c.LR(base, e); math.Abs(got-w[i]) > 1e-12 {
				t.Errorf("epoch %d base %v: %v, want %v", e, base, got, w[i])
			}
		}
	}
}

// Frozen parameters and parameters without a gradient are left alone.
func TestOptimizersSkipFrozen(t *testing.T) {
	for name, make := range map[string]func([]Group) Optimizer{
		"sgd":   func(g []Group) Optimizer { return NewSGD(g, 0.9) },
		"adamw": func(g []Group) Optimizer { return NewAdamW(g) },
	} {
		frozen := autodiff.Param(tensor.FromSlice([]float32{1, 2}, 2))
		untouched := autodiff.Param(tensor.FromSlice([]float32{3}, 1))
		setGrad(frozen, []float32{1, 1})
		frozen.SetRequiresGrad(false)
		make([]Group{{Params: []*autodiff.Var{frozen, untouched}, LR: 1, WeightDecay: 0.5}}).Step()
		if d := frozen.Value.Data(); d[0] != 1 || d[1] != 2 || untouched.Value.Data()[0] != 3 {
			t.Errorf("%s changed a frozen or gradient-less parameter", name)
		}
	}
}

// An optimizer restored from State continues exactly as the original: three steps, save,
// restore into a fresh optimizer, one more step each, same values bit for bit.
func TestOptimizerStateRoundTrip(t *testing.T) {
	for name, make := range map[string]func([]Group) Optimizer{
		"sgd":   func(g []Group) Optimizer { return NewSGD(g, 0.9) },
		"adamw": func(g []Group) Optimizer { return NewAdamW(g) },
	} {
		a := autodiff.Param(tensor.FromSlice(append([]float32(nil), optimStart...), 3))
		opt := make([]Group{{Params: []*autodiff.Var{a}, LR: 0.1, WeightDecay: 0.01}})
		for _, g := range optimGrads[:2] {
			opt.ZeroGrad()
			setGrad(a, g)
			opt.Step()
		}
		names := func(k any) string {
			if k == a {
				return "w"
			}
			return ""
		}
		saved := opt.State(names)
		b := autodiff.Param(a.Value.Clone())
		restored := make([]Group{{Params: []*autodiff.Var{b}, LR: 0.1, WeightDecay: 0.01}})
		if err := restored.SetState(func(n string) (any, bool) { return b, n == "w" }, saved); err != nil {
			t.Fatal(name, err)
		}
		opt.ZeroGrad()
		for _, w := range []*autodiff.Var{a, b} {
			setGrad(w, optimGrads[2])
		}
		opt.Step()
		restored.Step()
		for i := range 3 {
			if a.Value.Data()[i] != b.Value.Data()[i] {
				t.Fatalf("%s: restored optimizer diverged: %v vs %v", name, a.Value.Data(), b.Value.Data())
			}
		}
		if err := restored.SetState(func(string) (any, bool) { return nil, false }, saved); err == nil {
			t.Errorf("%s: state of an unknown parameter accepted", name)
		}
		if err := restored.SetState(func(string) (any, bool) { return b, true }, map[string]*tensor.Tensor{"w.bogus": tensor.New(3)}); err == nil {
			t.Errorf("%s: a field it does not know accepted", name)
		}
	}
}
