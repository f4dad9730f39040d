package dml

import (
	"fmt"
	"math/rand/v2"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// PromptBank holds the class prompts: in block l class c has Spec.At(l) prompt tokens of width
// Dim, stored in one table per block, [C, At(l)*Dim]. A step takes part only with the batch's
// classes (Gather) and updates only their rows (BankStep.Update), each with optimizer state of
// its own created when the row first takes part: a dataset of 11,318 classes costs memory for
// its tables, not work per step.
type PromptBank struct {
	Spec   PromptSpec
	Dim    int
	Tables []*tensor.Tensor // per block l < Spec.Depth: [C, At(l)*Dim]
}

// NewPromptBank returns a bank for classes classes, initialised Xavier-normal per class and
// block as PyTorch initialises a (1, m, D) prompt tensor: fan in m*D, fan out D.
func NewPromptBank(classes, dim int, spec PromptSpec, rng *rand.Rand) *PromptBank {
	b := &PromptBank{Spec: spec, Dim: dim}
	for l := range spec.Depth {
		m := spec.At(l)
		t := tensor.New(classes, m*dim)
		for c := range classes {
			nn.XavierNormal(t.Row(c), m*dim, dim, rng)
		}
		b.Tables = append(b.Tables, t)
	}
	return b
}

// Count is the number of prompt values in the bank: its trainable parameters.
func (b *PromptBank) Count() int {
	n := 0
	for _, t := range b.Tables {
		n += t.Len()
	}
	return n
}

// BankStep is one training step's part of the bank: the distinct classes of the batch, their
// prompts per block as parameters, and the class of each sample.
type BankStep struct {
	bank    *PromptBank
	classes []int           // distinct classes, in order of first appearance
	rows    []*autodiff.Var // per block: [len(classes), At(l), Dim]; nil where At(l) is 0
	sample  []int           // sample b's index into classes
}

// Gather copies the prompts of the batch's classes (labels[b] is sample b's class) into fresh
// parameters for one step.
func (b *PromptBank) Gather(labels []int) *BankStep {
	s := &BankStep{bank: b, sample: make([]int, len(labels))}
	at := map[int]int{}
	for i, l := range labels {
		if len(b.Tables) > 0 && (l < 0 || l >= b.Tables[0].Dim(0)) {
			panic(fmt.Sprintf("dml: PromptBank.Gather: labels[%d] = %d, want a class in [0, %d)", i, l, b.Tables[0].Dim(0)))
		}
		j, ok := at[l]
		if !ok {
			j = len(s.classes)
			at[l] = j
			s.classes = append(s.classes, l)
		}
		s.sample[i] = j
	}
	for l, t := range b.Tables {
		m := b.Spec.At(l)
		if m == 0 {
			s.rows = append(s.rows, nil)
			continue
		}
		rows := tensor.New(len(s.classes), m, b.Dim)
		for j, c := range s.classes {
			copy(rows.Row(j).Data(), t.Row(c).Data())
		}
		s.rows = append(s.rows, autodiff.Param(rows))
	}
	return s
}

// Prompts returns the prompts of block l for every sample, [B, At(l), Dim], or nil when the
// block has none.
func (s *BankStep) Prompts(tp *autodiff.Tape, l int) *autodiff.Var {
	if l >= len(s.rows) || s.rows[l] == nil {
		return nil
	}
	return tp.GatherRows(s.rows[l], s.sample)
}

// rowKey names the optimizer state of one class's prompts in one block.
type rowKey struct {
	bank         *PromptBank
	block, class int
}

// Update applies the optimizer to the rows that took part and writes them back into the bank.
// Rows of classes outside the batch, and their optimizer state, are left alone.
func (s *BankStep) Update(opt nn.Optimizer, lr, weightDecay float64) {
	for l, p := range s.rows {
		if p == nil || p.Grad() == nil {
			continue
		}
		n := p.Value.Stride(0)
		for j, c := range s.classes {
			w, g := p.Value.Data()[j*n:(j+1)*n], p.Grad().Data()[j*n:(j+1)*n]
			opt.Update(rowKey{s.bank, l, c}, w, g, lr, weightDecay)
			copy(s.bank.Tables[l].Row(c).Data(), w)
		}
	}
}
