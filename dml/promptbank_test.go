package dml

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// optimizers builds each optimizer the bank is tested with.
var optimizers = map[string]func([]nn.Group) nn.Optimizer{
	"sgd":   func(g []nn.Group) nn.Optimizer { return nn.NewSGD(g, 0.9) },
	"adamw": func(g []nn.Group) nn.Optimizer { return nn.NewAdamW(g) },
}

// The bank's updates equal those of one dense parameter per block stepped by the optimizer:
// per row (PromptsPerRow) when every class is in every batch, and always with PromptsDense,
// whose absent rows move with their momentum, moments and weight decay. With PromptsPerRow a
// class absent from a batch keeps its prompts and its optimizer state.
func TestPromptBankSparseMatchesDense(t *testing.T) {
	everyClass := [][]int{{2, 0, 1, 2}, {2, 0, 1, 2}, {2, 0, 1, 2}, {2, 0, 1, 2}}
	someAbsent := [][]int{{2, 0, 1, 2}, {0, 0, 1, 1}, {2, 2, 1, 1}, {0, 2, 0, 2}}
	for name, newOpt := range optimizers {
		testBankAgainstDense(t, name+"/per-row", newOpt, PromptsPerRow, everyClass)
		testBankAgainstDense(t, name+"/dense", newOpt, PromptsDense, someAbsent)
	}
}

func testBankAgainstDense(t *testing.T, name string, newOpt func([]nn.Group) nn.Optimizer, state PromptState, batches [][]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	const classes, dim = 3, 4
	spec := PromptSpec{Count: 3, Depth: 3, Tau: 1} // 3, 2, 1 prompts
	bank := NewPromptBank(classes, dim, spec, false, rng)
	bank.State = state
	dense := make([]*autodiff.Var, spec.Depth)
	for l := range dense {
		dense[l] = autodiff.Param(bank.Tables[l].Clone().Reshape(classes, spec.At(l), dim))
	}
	const lr, wd = 0.05, 0.01
	denseOpt := newOpt([]nn.Group{{Params: dense, LR: lr, WeightDecay: wd}})
	sparseOpt := newOpt(nil)
	for step, labels := range batches {
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
		s.Update(sparseOpt, lr, wd, step)
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
	if state != PromptsPerRow {
		return
	}
	// A step without class 1 leaves its rows alone.
	before := bank.Tables[0].Row(1).Clone()
	s := bank.Gather([]int{0, 2})
	tp := autodiff.NewTape()
	tp.Backward(tp.Sum(s.Prompts(tp, 0)))
	s.Update(sparseOpt, lr, wd, len(batches))
	for i, v := range bank.Tables[0].Row(1).Data() {
		if v != before.Data()[i] {
			t.Fatalf("%s: class 1 changed without taking part", name)
		}
	}
}

// With AdamW a row's bias correction counts the steps the row took part in (PromptsPerRow) or
// every training step (PromptsBank, the released memory bank; PromptsDense too).
func TestPromptBankStepCounts(t *testing.T) {
	batches := [][]int{{2, 0, 1, 2}, {0, 0, 1, 1}, {2, 2, 1, 1}, {0, 2, 0, 2}}
	for state, want := range map[PromptState][3]float32{PromptsPerRow: {3, 3, 3}, PromptsBank: {4, 3, 4}, PromptsDense: {4, 4, 4}} {
		bank := NewPromptBank(3, 4, PromptSpec{Count: 1, Depth: 1}, false, rand.New(rand.NewPCG(1, 2)))
		bank.State = state
		opt := nn.NewAdamW(nil)
		for step, labels := range batches {
			s := bank.Gather(labels)
			tp := autodiff.NewTape()
			tp.Backward(tp.Sum(s.Prompts(tp, 0)))
			s.Update(opt, 0.01, 0, step)
		}
		steps := opt.State(func(key any) string { return fmt.Sprint(key.(rowKey).class) })
		for c, w := range want {
			if got := steps[fmt.Sprintf("%d.step", c)].Data()[0]; got != w {
				t.Errorf("%s: class %d took %v steps, want %v", state, c, got, w)
			}
		}
	}
}

func TestPromptBankCount(t *testing.T) {
	// cub200_small: 3 class prompts in each of 12 blocks, 100 training classes, D = 384.
	b := NewPromptBank(100, 384, Presets["cub200_small"].Class, false, rand.New(rand.NewPCG(1, 1)))
	if got, want := b.Count(), 100*12*3*384; got != want {
		t.Errorf("count %d, want %d", got, want)
	}
}
