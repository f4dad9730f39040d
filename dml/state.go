package dml

import (
	"fmt"
	"strings"

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

// optimizerPrefix starts the names of the optimizer's state in a trainer's checkpoint.
const optimizerPrefix = "optimizer."

// State returns everything a resumable checkpoint holds: the model's State and the optimizer's
// state (names starting "optimizer.", the class prompt rows named "class_prompts.<block>.<class>").
// The model's tensors are its own; the optimizer's are copies.
func (t *Trainer) State() map[string]*tensor.Tensor {
	s := t.Model.State()
	names := t.optimizerNames()
	for name, v := range t.opt.State(func(key any) string {
		if r, ok := key.(rowKey); ok {
			return fmt.Sprintf("class_prompts.%d.%d", r.block, r.class)
		}
		return names[key]
	}) {
		s[optimizerPrefix+name] = v
	}
	return s
}

// LoadState restores a checkpoint that State wrote, for a model built the same way: the model's
// tensors first (all or none), then the optimizer's state.
func (t *Trainer) LoadState(tensors map[string]*tensor.Tensor) error {
	model, optim := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for name, v := range tensors {
		if rest, ok := strings.CutPrefix(name, optimizerPrefix); ok {
			optim[rest] = v
		} else {
			model[name] = v
		}
	}
	if err := t.Model.LoadState(model); err != nil {
		return err
	}
	keys := map[string]any{}
	for key, name := range t.optimizerNames() {
		keys[name] = key
	}
	err := t.opt.SetState(func(name string) (any, bool) {
		var block, class int
		if _, err := fmt.Sscanf(name, "class_prompts.%d.%d", &block, &class); err == nil && t.Model.Bank != nil &&
			block >= 0 && block < len(t.Model.Bank.Tables) && class >= 0 && class < t.Model.Bank.Tables[block].Dim(0) {
			return rowKey{t.Model.Bank, block, class}, true
		}
		k, ok := keys[name]
		return k, ok
	}, optim)
	return err
}

// optimizerNames names each dense trainable parameter as Model.Trainable does.
func (t *Trainer) optimizerNames() map[any]string {
	names := map[any]string{}
	for _, p := range t.Model.Trainable() {
		names[p.Var] = p.Name
	}
	return names
}
