package nn

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/tensor"
)

// Group is a set of parameters that share a learning rate and weight decay.
type Group struct {
	Params      []*autodiff.Var
	LR          float64 // the learning rate of the next step; a schedule sets it per epoch
	WeightDecay float64
}

// Optimizer updates parameters from their accumulated gradients.
type Optimizer interface {
	// Step applies one update, at each group's LR, to every parameter that requires a
	// gradient and has one.
	Step()
	// ZeroGrad clears every parameter's gradient.
	ZeroGrad()
	// Update applies one update to the values w from their gradient grad, with the state the
	// optimizer keeps under key (created on first use). Step calls it with each parameter as
	// key; tables updated a row at a time (a class prompt bank) call it per row, so that only
	// the rows that took part in a step are touched and hold state.
	Update(key any, w, grad []float32, lr, weightDecay float64)
	// State returns copies of the optimizer's state, for a checkpoint: each tensor is named
	// "<name(key)>.<field>" (SGD: momentum; AdamW: exp_avg, exp_avg_sq, step). Keys that name
	// maps to "" are left out.
	State(name func(key any) string) map[string]*tensor.Tensor
	// SetState replaces the optimizer's state by one that State returned; key maps a name back
	// to its key (false: the name is unknown, an error). Nothing changes when it fails.
	SetState(key func(name string) (any, bool), state map[string]*tensor.Tensor) error
}

// StepCounter is an optimizer whose update depends on how many steps a key has taken (AdamW's
// bias correction). SetSteps sets that count, so that the next Update of the key runs as step
// steps+1; a key without state gets zero moments.
type StepCounter interface {
	SetSteps(key any, steps int)
}

// stateEntry is one tensor of a saved optimizer state, parsed from its name.
type stateEntry struct {
	key   any
	field string
	data  []float32
}

// parseState splits every saved tensor's name into a key and a field from fields and checks
// that each key has all of them, with equal lengths.
func parseState(key func(string) (any, bool), state map[string]*tensor.Tensor, fields ...string) (map[any]map[string][]float32, error) {
	out := map[any]map[string][]float32{}
	for name, t := range state {
		i := strings.LastIndexByte(name, '.')
		if i < 0 || !slices.Contains(fields, name[i+1:]) {
			return nil, fmt.Errorf("nn: optimizer state %q: want <parameter>.{%s}", name, strings.Join(fields, ","))
		}
		k, ok := key(name[:i])
		if !ok {
			return nil, fmt.Errorf("nn: optimizer state %q: unknown parameter %q", name, name[:i])
		}
		if out[k] == nil {
			out[k] = map[string][]float32{}
		}
		out[k][name[i+1:]] = slices.Clone(t.Data())
	}
	for k, got := range out {
		for _, f := range fields {
			if got[f] == nil {
				return nil, fmt.Errorf("nn: optimizer state of %v: no %s", k, f)
			}
		}
	}
	return out, nil
}

// copyOut returns a 1-D tensor holding a copy of v.
func copyOut(v []float32) *tensor.Tensor { return tensor.FromSlice(slices.Clone(v), len(v)) }

func zeroGrads(groups []Group) {
	for _, g := range groups {
		for _, p := range g.Params {
			p.ZeroGrad()
		}
	}
}

// stepGroups calls update for every parameter of the groups that requires a gradient and has
// one.
func stepGroups(groups []Group, update func(key any, w, grad []float32, lr, wd float64)) {
	for _, g := range groups {
		for _, p := range g.Params {
			if p.Grad() != nil && p.RequiresGrad() {
				update(p, p.Value.Data(), p.Grad().Data(), g.LR, g.WeightDecay)
			}
		}
	}
}

// SGD is stochastic gradient descent with momentum and (L2) weight decay, as torch.optim.SGD:
//
//	g = grad + wd*p;  buf = momentum*buf + g (buf = g on the first step);  p -= lr*buf
type SGD struct {
	Groups   []Group
	Momentum float64
	buf      map[any][]float32
}

// NewSGD returns SGD over groups with the given momentum (0 for none).
func NewSGD(groups []Group, momentum float64) *SGD {
	return &SGD{Groups: groups, Momentum: momentum, buf: map[any][]float32{}}
}

// Step implements Optimizer.
func (o *SGD) Step() { stepGroups(o.Groups, o.Update) }

// ZeroGrad implements Optimizer.
func (o *SGD) ZeroGrad() { zeroGrads(o.Groups) }

// Update implements Optimizer. It panics if grad is longer than w or than the momentum key
// already holds.
func (o *SGD) Update(key any, w, grad []float32, lr, weightDecay float64) {
	mu, wd, rate := float32(o.Momentum), float32(weightDecay), float32(lr)
	buf, seen := o.buf[key]
	if !seen && mu != 0 {
		buf = make([]float32, len(w))
		o.buf[key] = buf
	}
	for i, gi := range grad {
		gi += wd * w[i]
		if mu != 0 {
			if seen {
				gi += mu * buf[i]
			}
			buf[i] = gi
		}
		w[i] -= rate * gi
	}
}

// State implements Optimizer.
func (o *SGD) State(name func(key any) string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, buf := range o.buf {
		if n := name(k); n != "" {
			out[n+".momentum"] = copyOut(buf)
		}
	}
	return out
}

// SetState implements Optimizer.
func (o *SGD) SetState(key func(name string) (any, bool), state map[string]*tensor.Tensor) error {
	parsed, err := parseState(key, state, "momentum")
	if err != nil {
		return err
	}
	o.buf = map[any][]float32{}
	for k, f := range parsed {
		o.buf[k] = f["momentum"]
	}
	return nil
}

// AdamW is Adam with decoupled weight decay, as torch.optim.AdamW:
//
//	p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
//	p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//
// with t the number of steps the parameter (or row) has taken.
type AdamW struct {
	Groups       []Group
	Beta1, Beta2 float64
	Eps          float64
	state        map[any]*adamState
}

type adamState struct {
	m, v  []float32
	steps int
}

// NewAdamW returns AdamW over groups with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8).
func NewAdamW(groups []Group) *AdamW {
	return &AdamW{Groups: groups, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, state: map[any]*adamState{}}
}

// Step implements Optimizer.
func (o *AdamW) Step() { stepGroups(o.Groups, o.Update) }

// ZeroGrad implements Optimizer.
func (o *AdamW) ZeroGrad() { zeroGrads(o.Groups) }

// stateOf returns the state of key, created empty if it has none.
func (o *AdamW) stateOf(key any) *adamState {
	st := o.state[key]
	if st == nil {
		st = &adamState{}
		o.state[key] = st
	}
	return st
}

// SetSteps implements StepCounter.
func (o *AdamW) SetSteps(key any, steps int) { o.stateOf(key).steps = steps }

// Update implements Optimizer. It panics if grad is longer than w or than the moments key
// already holds.
func (o *AdamW) Update(key any, w, grad []float32, lr, weightDecay float64) {
	st := o.stateOf(key)
	if st.m == nil {
		st.m, st.v = make([]float32, len(w)), make([]float32, len(w))
	}
	st.steps++
	c1 := 1 - math.Pow(o.Beta1, float64(st.steps))
	c2 := 1 - math.Pow(o.Beta2, float64(st.steps))
	decay := float32(1 - lr*weightDecay)
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	stepSize, rootC2, eps := float32(lr/c1), float32(math.Sqrt(c2)), float32(o.Eps)
	for i, gi := range grad {
		st.m[i] = b1*st.m[i] + (1-b1)*gi
		st.v[i] = b2*st.v[i] + (1-b2)*gi*gi
		w[i] = w[i]*decay - stepSize*st.m[i]/(float32(math.Sqrt(float64(st.v[i])))/rootC2+eps)
	}
}

// State implements Optimizer.
func (o *AdamW) State(name func(key any) string) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, st := range o.state {
		if n := name(k); n != "" {
			out[n+".exp_avg"], out[n+".exp_avg_sq"] = copyOut(st.m), copyOut(st.v)
			out[n+".step"] = copyOut([]float32{float32(st.steps)})
		}
	}
	return out
}

// SetState implements Optimizer.
func (o *AdamW) SetState(key func(name string) (any, bool), state map[string]*tensor.Tensor) error {
	parsed, err := parseState(key, state, "exp_avg", "exp_avg_sq", "step")
	if err != nil {
		return err
	}
	next := map[any]*adamState{}
	for k, f := range parsed {
		if len(f["exp_avg"]) != len(f["exp_avg_sq"]) || len(f["step"]) != 1 {
			return fmt.Errorf("nn: AdamW state of %v: exp_avg, exp_avg_sq and step have %d, %d and %d values", k, len(f["exp_avg"]), len(f["exp_avg_sq"]), len(f["step"]))
		}
		next[k] = &adamState{m: f["exp_avg"], v: f["exp_avg_sq"], steps: int(f["step"][0])}
	}
	o.state = next
	return nil
}

// Cosine is cosine annealing of the learning rate, as torch's CosineAnnealingLR: at epoch e a
// group whose base rate is base runs at EtaMin + (base - EtaMin) * (1 + cos(pi * e / TMax)) / 2.
type Cosine struct {
	TMax   int
	EtaMin float64
}

// LR returns the learning rate at epoch e (0-based) for base rate base. It panics if TMax is not
// positive.
func (c Cosine) LR(base float64, e int) float64 {
	if c.TMax <= 0 {
		panic(fmt.Sprintf("nn: Cosine: TMax = %d, want > 0", c.TMax))
	}
	return c.EtaMin + (base-c.EtaMin)*(1+math.Cos(math.Pi*float64(e)/float64(c.TMax)))/2
}
