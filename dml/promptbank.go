package dml

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// PromptBank holds the class prompts: in block l class c has Spec.At(l) prompt tokens of width
// Dim, stored in one table per block, [C, At(l)*Dim]. A step takes part only with the batch's
// classes (Gather); how the optimizer then steps the table is its State. Optimizer state is
// kept per row, created when the row is first stepped: with PromptsPerRow or PromptsBank a
// dataset of 11,318 classes costs memory for its tables, not work per step.
type PromptBank struct {
	Spec   PromptSpec
	Dim    int
	Tables []*tensor.Tensor // per block l < Spec.Depth: [C, At(l)*Dim]
	State  PromptState
}

// PromptState is how the optimizer steps the class prompts.
type PromptState string

const (
	// PromptsPerRow (also the zero value) steps only the batch's rows, each with optimizer
	// state of its own whose AdamW step count is the number of steps the row took part in.
	PromptsPerRow PromptState = "per-row"
	// PromptsDense is the released code without its memory bank (CUB, Cars): the prompts are
	// one parameter per block that the optimizer steps every step, so momentum, Adam moments
	// and weight decay move the rows of classes absent from the batch too.
	PromptsDense PromptState = "dense"
	// PromptsBank is the released code's memory bank (SOP, In-Shop): only the batch's rows are
	// stepped, with moments of their own swapped in and out, but AdamW's bias correction uses
	// the global step count.
	PromptsBank PromptState = "bank"
)

var promptStates = []string{string(PromptsPerRow), string(PromptsDense), string(PromptsBank)}

func (s PromptState) valid() bool { return s == "" || slices.Contains(promptStates, string(s)) }

// NewPromptBank returns a bank for classes classes, initialised Xavier-normal. With wholeTensor
// false each class and block is initialised as PyTorch initialises a (1, m, D) prompt tensor
// (fan in m*D, fan out D, m = Spec.At(l)); with it true, as the released code initialises one
// (C, Spec.Count, D) tensor per block (fan in Count*D, fan out C*D: a deviation shrinking with
// the number of classes).
func NewPromptBank(classes, dim int, spec PromptSpec, wholeTensor bool, rng *rand.Rand) *PromptBank {
	b := &PromptBank{Spec: spec, Dim: dim}
	for l := range spec.Depth {
		m := spec.At(l)
		t := tensor.New(classes, m*dim)
		for c := range classes {
			if wholeTensor {
				nn.XavierNormal(t.Row(c), spec.Count*dim, classes*dim, rng)
			} else {
				nn.XavierNormal(t.Row(c), m*dim, dim, rng)
			}
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

// Classes is the number of classes of the bank.
func (b *PromptBank) Classes() int {
	if len(b.Tables) == 0 {
		return 0
	}
	return b.Tables[0].Dim(0)
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
// parameters for one step. It panics if a label is outside [0, C).
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

// Update applies the optimizer at learning rate lr and weight decay weightDecay to the prompts
// as the bank's State says, and writes the stepped rows back into the bank; steps is how many
// training steps came before this one (AdamW's global step count). Rows not stepped, and their
// optimizer state, are left alone.
func (s *BankStep) Update(opt nn.Optimizer, lr, weightDecay float64, steps int) {
	counter, _ := opt.(nn.StepCounter)
	for l, p := range s.rows {
		if p == nil || p.Grad() == nil {
			continue
		}
		table, n := s.bank.Tables[l], p.Value.Stride(0)
		step := func(c int, w, g []float32) {
			key := rowKey{s.bank, l, c}
			if counter != nil && s.bank.State != PromptsPerRow && s.bank.State != "" {
				counter.SetSteps(key, steps)
			}
			opt.Update(key, w, g, lr, weightDecay)
		}
		for j, c := range s.classes {
			w := p.Value.Data()[j*n : (j+1)*n]
			step(c, w, p.Grad().Data()[j*n:(j+1)*n])
			copy(table.Row(c).Data(), w)
		}
		if s.bank.State == PromptsDense {
			zero := make([]float32, n)
			for c := range table.Dim(0) {
				if !slices.Contains(s.classes, c) {
					step(c, table.Row(c).Data(), zero)
				}
			}
		}
	}
}
