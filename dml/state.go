package dml

import (
	"fmt"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// State returns every tensor a checkpoint of the model holds, by name: the trainable parameters
// (as Trainable names them), the class prompt tables ("class_prompts.<block>") and the class
// memory ("class_memory"). The tensors are the model's own, not copies.
func (m *Model) State() map[string]*tensor.Tensor {
	s := map[string]*tensor.Tensor{}
	for _, p := range m.Trainable() {
		s[p.Name] = p.Var.Value
	}
	if m.Bank != nil {
		for l, t := range m.Bank.Tables {
			s[fmt.Sprintf("class_prompts.%d", l)] = t
		}
	}
	if m.Memory != nil {
		s["class_memory"] = m.Memory.P
	}
	return s
}

// LoadState copies a checkpoint's tensors into the model. The names and shapes must be exactly
// those of State; otherwise nothing is copied and the error names every difference.
func (m *Model) LoadState(tensors map[string]*tensor.Tensor) error {
	own := m.State()
	params := make([]nn.Named, 0, len(own))
	for name, t := range own {
		params = append(params, nn.Named{Name: name, Var: autodiff.Constant(t)})
	}
	return nn.Load(params, tensors)
}
