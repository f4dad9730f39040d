package dml

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
)

// Trainer runs the optimisation of a Model. It is deterministic: the same model, batches,
// configuration and thread count give the same losses bit for bit.
type Trainer struct {
	Model         *Model
	Config        TrainConfig
	StepsPerEpoch int
	opt           nn.Optimizer
	groups        []nn.Group // [everything, proxy bias]
	tape          *autodiff.Tape
}

// NewTrainer prepares the optimizer for epochs of stepsPerEpoch steps: one group at LR for every
// trainable parameter but the proxy bias, one at LRProxy for it.
func NewTrainer(m *Model, cfg TrainConfig, stepsPerEpoch int) (*Trainer, error) {
	var main []*autodiff.Var
	for _, p := range m.Trainable() {
		if p.Var != m.Bias {
			main = append(main, p.Var)
		}
	}
	t := &Trainer{Model: m, Config: cfg, StepsPerEpoch: stepsPerEpoch, tape: autodiff.NewTape()}
	t.groups = []nn.Group{
		{Params: main, LR: cfg.LR, WeightDecay: cfg.WeightDecay},
		{Params: []*autodiff.Var{m.Bias}, LR: cfg.LRProxy, WeightDecay: cfg.WeightDecay},
	}
	switch cfg.Optimizer {
	case "sgd":
		t.opt = nn.NewSGD(t.groups, 0.9)
	case "adamw":
		t.opt = nn.NewAdamW(t.groups)
	default:
		return nil, fmt.Errorf("dml: unknown optimizer %q (want sgd or adamw)", cfg.Optimizer)
	}
	if cfg.Epochs <= 0 || stepsPerEpoch <= 0 || cfg.CosineTMax <= 0 {
		return nil, fmt.Errorf("dml: epochs %d, steps per epoch %d and cosine T_max %d must be positive", cfg.Epochs, stepsPerEpoch, cfg.CosineTMax)
	}
	return t, nil
}

// rate returns the learning rate of base at epoch e.
func (t *Trainer) rate(base float64, e int) float64 {
	return t.Config.Schedule().LR(base, e, 0, t.StepsPerEpoch)
}

// Step runs one training step of epoch e on a batch and returns its loss. A loss that is not
// finite is an error naming the epoch and step, and leaves the parameters unchanged.
func (t *Trainer) Step(e, step int, b data.Batch) (float64, error) {
	for i, base := range []float64{t.Config.LR, t.Config.LRProxy} {
		t.groups[i].LR = t.rate(base, e)
	}
	if len(b.Labels) == 0 {
		return 0, fmt.Errorf("dml: epoch %d, step %d: the batch is empty: none of its images, nor any replacement tried, could be read", e+1, step+1)
	}
	tp := t.tape
	tp.Reset()
	t.opt.ZeroGrad()
	steps := e*t.StepsPerEpoch + step // the steps before this one
	loss, st := t.Model.Forward(tp, autodiff.Constant(b.Images), b.Labels, steps)
	value := float64(loss.Value.Data()[0])
	if err := CheckLoss(value, e, step); err != nil {
		return value, err
	}
	tp.Backward(loss)
	if t.Config.ClipNorm > 0 {
		clipGradients(t.groups, t.Config.ClipNorm)
	}
	t.opt.Step()
	st.Finish(t.opt, t.groups[0].LR, t.Config.WeightDecay, steps)
	return value, nil
}

// clipGradients scales every gradient so that their global L2 norm is at most maxNorm.
func clipGradients(groups []nn.Group, maxNorm float64) {
	sum := 0.0
	for _, g := range groups {
		for _, p := range g.Params {
			if p.Grad() != nil {
				for _, v := range p.Grad().Data() {
					sum += float64(v) * float64(v)
				}
			}
		}
	}
	norm := math.Sqrt(sum)
	if norm <= maxNorm {
		return
	}
	scale := float32(maxNorm / (norm + 1e-6))
	for _, g := range groups {
		for _, p := range g.Params {
			if p.Grad() != nil {
				for i := range p.Grad().Data() {
					p.Grad().Data()[i] *= scale
				}
			}
		}
	}
}
