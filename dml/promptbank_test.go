package dml

import (
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// With every class in every batch, the bank's per-row updates equal dense updates of the
// whole table; a class absent from a batch keeps its prompts and its optimizer state.
func TestPromptBankSparseMatchesDense(t *testing.T) {
	for name, newOpt := range map[string]func([]nn.Group) nn.Optimizer{
		"sgd":   func(g []nn.Group) nn.Optimizer { return nn.NewSGD(g, 0.9) },
		"adamw": func(g []nn.Group) nn.Optimizer { return nn.NewAdamW(g) },
	} {
		rng := rand.New(rand.NewPCG(3, 4))
		const classes, dim = 3, 4
		spec := PromptSpec{Count: 3, Depth: 3, Tau: 1} // 3, 2, 1 prompts
		bank := NewPromptBank(classes, dim, spec, rng)
		dense := make([]*autodiff.Var, spec.Depth)
		for l := range dense {
			dense[l] = autodiff.Param(bank.Tables[l].Clone().Reshape(classes, spec.At(l), dim))
		}
		const lr, wd = 0.05, 0.01
		denseOpt := newOpt([]nn.Group{{Params: dense, LR: lr, WeightDecay: wd}})
		sparseOpt := newOpt(nil)
		labels := []int{2, 0, 1, 2}
		for step := range 4 {
			r := make([]*tensor.Tensor, spec.Depth)
			for l := range r {
				r[l] = tensor.New(len(labels), spec.At(l), dim)
				for i := range r[l].Data() {
					r[l].Data()[i] = float32(rng.NormFloat64())
				}
			}
			// Sparse: the step's gathered rows.
			s := bank.Gather(labels)
			tp := autodiff.NewTape()
			var loss *autodiff.Var
			for l := range spec.Depth {
				term := tp.Sum(tp.Mul(s.Prompts(tp, l), autodiff.Constant(r[l])))
				if loss == nil {
					loss = term
				} else {
					loss = tp.Add(loss, term)
				}
			}
			tp.Backward(loss)
			s.Update(sparseOpt, lr, wd)
			// Dense: the same loss on the whole tables.
			denseOpt.ZeroGrad()
			tp = autodiff.NewTape()
			loss = nil
			for l := range spec.Depth {
				term := tp.Sum(tp.Mul(tp.GatherRows(dense[l], labels), autodiff.Constant(r[l])))
				if loss == nil {
					loss = term
				} else {
					loss = tp.Add(loss, term)
				}
			}
			tp.Backward(loss)
			denseOpt.Step()
			for l := range spec.Depth {
				for i, v := range bank.Tables[l].Data() {
					if d := v - dense[l].Value.Data()[i]; d > 1e-6 || d < -1e-6 {
						t.Fatalf("%s step %d block %d: bank %v, dense %v", name, step, l, v, dense[l].Value.Data()[i])
					}
				}
			}
		}
		// A step without class 1 leaves its rows alone.
		before := bank.Tables[0].Row(1).Clone()
		s := bank.Gather([]int{0, 2})
		tp := autodiff.NewTape()
		tp.Backward(tp.Sum(s.Prompts(tp, 0)))
		s.Update(sparseOpt, lr, wd)
		for i, v := range bank.Tables[0].Row(1).Data() {
			if v != before.Data()[i] {
				t.Fatalf("%s: class 1 changed without taking part", name)
			}
		}
	}
}

func TestPromptBankCount(t *testing.T) {
	// cub200_small: 3 class prompts in each of 12 blocks, 100 training classes, D = 384.
	b := NewPromptBank(100, 384, Presets["cub200_small"].Class, rand.New(rand.NewPCG(1, 1)))
	if got, want := b.Count(), 100*12*3*384; got != want {
		t.Errorf("count %d, want %d", got, want)
	}
}
