package dml

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// Model is a metric-learning model around a ViT: the sample tower (the ViT with dataset
// prompts, a head, L2) and, for the semantic-proxy methods, the proxy tower (the same ViT with
// each sample's class prompts, its own head, L2) feeding a class memory, with a learnable proxy
// bias. For the other methods the proxies are the bias itself: plain learnable proxies.
type Model struct {
	Method    Method
	ViT       *nn.ViT
	Head      *nn.Head        // sample head: LayerNorm, Linear(D, E)
	Prompts   []*autodiff.Var // dataset prompts of each block, [1, n_l, D] (nil where n_l = 0)
	Adapters  []*nn.Adapter   // the adapter of each block (nil where there is none)
	Bank      *PromptBank     // class prompts
	ProxyHead *nn.Head        // the proxy tower's head
	Memory    *ClassMemory    // the class memory P
	Bias      *autodiff.Var   // O [C, E]: the proxy bias, or the proxies
	Alpha     float32         // Q = L2((1 - Alpha) P + Alpha O)
	Loss      ProxyAnchor     // the loss
	Semantics Semantics       // the choices between the released code, the paper's text and semprox's
}

// NewModel builds the model of cfg (method, prompt schedules, embedding width, alpha, adapter
// placement, semantics) for classes training classes on vit, and sets which of the ViT's
// parameters train. An unknown method or semantics is an error.
func NewModel(vit *nn.ViT, cfg ModelConfig, classes int, rng *rand.Rand) (*Model, error) {
	method, err := ParseMethod(cfg.Method)
	if err != nil {
		return nil, err
	}
	if err := cfg.Semantics.Check(); err != nil {
		return nil, err
	}
	d, e, sem := vit.Dim, cfg.EmbedDim, cfg.Semantics
	released := sem.Init == InitReleased
	m := &Model{Method: method, ViT: vit, Head: newHead(d, e, released, rng), Alpha: float32(cfg.Alpha), Loss: DefaultProxyAnchor, Semantics: sem}
	m.Loss.PositivesOverAll = sem.PositivesOverAll
	m.Bias = NewProxyBias(classes, e, rng)
	if method.Prompts() {
		for l := range vit.Depth {
			n := cfg.Prompts.At(l)
			if n == 0 {
				m.Prompts = append(m.Prompts, nil)
				continue
			}
			p := tensor.New(1, n, d)
			fanIn := n * d
			if released { // one (1, Count, D) tensor per block, of which block l uses n
				fanIn = cfg.Prompts.Count * d
			}
			nn.XavierNormal(p, fanIn, d, rng)
			m.Prompts = append(m.Prompts, autodiff.Param(p))
		}
	}
	if method.Adapters() {
		first, blocks := 0, cfg.AdaptersFor(method)
		if blocks > 0 {
			first = max(0, vit.Depth-blocks)
		}
		m.Adapters = make([]*nn.Adapter, vit.Depth)
		for l := first; l < vit.Depth; l++ {
			a := nn.NewAdapter(d, AdapterWidth)
			initLinear(a.Down, rng)
			m.Adapters[l] = a
			vit.Blocks[l].Adapter = a
		}
	}
	if method.SemanticProxies() {
		m.Bank = NewPromptBank(classes, d, cfg.Class, released, rng)
		m.Bank.State = sem.ClassPromptState
		m.ProxyHead = newHead(d, e, released, rng)
		update := UpdateEMA
		if method.Name == "vptsp-g" {
			update = UpdateGRU
		}
		m.Memory = NewClassMemory(classes, e, update, released, rng)
		if update == UpdateGRU {
			m.Memory.Cell = nn.NewGRUProxyCell(e, nn.CandidateReLU)
			if sem.GRUMix == MixReleased {
				m.Memory.Cell.Mix = nn.MixReleased
			}
			for _, p := range m.Memory.Cell.Parameters() {
				nn.XavierUniform(p.Var.Value, e, e, 1, rng)
				if p.Var.Value.Dims() == 1 {
					p.Var.Value.Zero()
				}
			}
			if m.Memory.Dropout = sem.GRUDropout; m.Memory.Dropout > 0 {
				m.Memory.DropoutSeed = rng.Uint64()
			}
		}
	}
	nn.SetTrainable(vit.Parameters(), func(name string) bool {
		return method.TrainsWeights() || (method.TrainsBiases() && nn.IsBias(name))
	})
	return m, nil
}

// newHead returns a LayerNorm + Linear head: with released, as the released code builds it
// (LayerNorm eps 1e-5, xavier-uniform weight, zero bias); otherwise with eps 1e-6 and PyTorch's
// default Linear initialisation.
func newHead(in, out int, released bool, rng *rand.Rand) *nn.Head {
	if released {
		h := nn.NewHead(in, out, 1e-5)
		nn.XavierUniform(h.Proj.Weight.Value, in, out, 1, rng)
		return h
	}
	h := nn.NewHead(in, out, 1e-6)
	initLinear(h.Proj, rng)
	return h
}

// initLinear gives a layer PyTorch's default initialisation: uniform in +-1/sqrt(in).
func initLinear(l *nn.Linear, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.Weight.Value.Dim(1)))
	for _, t := range []*tensor.Tensor{l.Weight.Value, l.Bias.Value} {
		for i := range t.Data() {
			t.Data()[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
}

// Trainable lists the dense trainable parameters by name (the class prompt bank, updated row by
// row, is counted by ParameterCount but not listed).
func (m *Model) Trainable() []nn.Named {
	var ps []nn.Named
	add := func(prefix string, list []nn.Named) {
		for _, p := range list {
			if p.Var.RequiresGrad() {
				ps = append(ps, nn.Named{Name: prefix + p.Name, Var: p.Var})
			}
		}
	}
	add("backbone.", m.ViT.Parameters())
	add("head.", m.Head.Parameters())
	for l, a := range m.Adapters {
		if a != nil {
			add(fmt.Sprintf("adapters.%d.", l), a.Parameters())
		}
	}
	for l, p := range m.Prompts {
		if p != nil {
			ps = append(ps, nn.Named{Name: fmt.Sprintf("prompts.%d", l), Var: p})
		}
	}
	if m.ProxyHead != nil {
		add("proxy_head.", m.ProxyHead.Parameters())
	}
	if m.Memory != nil && m.Memory.Cell != nil {
		add("gru.", m.Memory.Cell.Parameters())
	}
	ps = append(ps, nn.Named{Name: "proxy_bias", Var: m.Bias})
	return ps
}

// ParameterCounts are a model's trainable values. Stored counts every class's prompts;
// PerStep counts only the prompts of the classes of one batch, the values a step's gradient
// reaches (and what the paper's Table 1 counts). Without class prompts the two are equal.
type ParameterCounts struct {
	Stored, PerStep int
	Parts           string // "head 148608, ..., class_prompts 1382400 (per step 442368)"
}

// ParameterCount counts the trainable values, by part, for batches of classesPerStep classes.
func (m *Model) ParameterCount(classesPerStep int) ParameterCounts {
	counts := map[string]int{}
	var order []string
	for _, p := range m.Trainable() {
		part, _, _ := strings.Cut(p.Name, ".")
		if _, seen := counts[part]; !seen {
			order = append(order, part)
		}
		counts[part] += p.Var.Value.Len()
	}
	var pc ParameterCounts
	var b strings.Builder
	for _, part := range order {
		pc.Stored += counts[part]
		fmt.Fprintf(&b, "%s %d, ", part, counts[part])
	}
	pc.PerStep = pc.Stored
	if m.Bank != nil {
		stored, perStep := m.Bank.Count(), min(classesPerStep, m.Bank.Classes())*m.Bank.Spec.Total()*m.Bank.Dim
		pc.Stored += stored
		pc.PerStep += perStep
		fmt.Fprintf(&b, "class_prompts %d (per step %d), ", stored, perStep)
	}
	pc.Parts = strings.TrimSuffix(b.String(), ", ")
	return pc
}

// PendingUpdate is what a training step must finish after its backward pass and optimizer step: the
// class prompt rows to update and the class memory rows to commit.
type PendingUpdate struct {
	model   *Model
	bank    *BankStep
	classes []int
	rows    *autodiff.Var
}

// Forward computes the loss of a batch of images [B, 3, H, W] with labels in [0, C) at training
// step step (0-based over the whole run: it keys the GRU dropout). It panics if images is not
// [B, 3, H, W] at the ViT's input size, labels does not have B entries, or a label is outside
// [0, C) (see ProxyAnchor.Loss and nn.ViT.Embed).
func (m *Model) Forward(tp *autodiff.Tape, images *autodiff.Var, labels []int, step int) (*autodiff.Var, *PendingUpdate) {
	dataset := m.datasetPrompts
	emb := m.Embed(tp, images)
	st := &PendingUpdate{model: m}
	proxies := m.Bias
	if m.Method.SemanticProxies() {
		st.bank = m.Bank.Gather(labels)
		class := func(l int) *autodiff.Var {
			c, d := st.bank.Prompts(tp, l), dataset(l)
			if !m.Semantics.ClassAfterDataset || d == nil {
				return c
			}
			if c == nil {
				return d
			}
			return tp.ConcatTokens(d, c)
		}
		sem := tp.L2Normalize(m.ProxyHead.Forward(tp, m.ViT.Embed(tp, images, class)), 1e-12)
		st.classes, st.rows = m.Memory.Advance(tp, sem, labels, step)
		proxies = Proxies(tp, m.Memory, st.classes, st.rows, m.Bias, m.Alpha)
	}
	return m.Loss.Loss(tp, emb, proxies, labels), st
}

// Embed returns the sample tower's embeddings of images [B, 3, H, W]: [B, E], not normalised
// (the loss and the retrieval metrics compare them by cosine). It panics if images is not
// [B, 3, H, W] at the ViT's input size.
func (m *Model) Embed(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var {
	return m.Head.Forward(tp, m.ViT.Embed(tp, images, m.datasetPrompts))
}

// datasetPrompts returns the dataset prompts of block l, or nil.
func (m *Model) datasetPrompts(l int) *autodiff.Var {
	if l < len(m.Prompts) {
		return m.Prompts[l]
	}
	return nil
}

// Finish steps the class prompts with opt (at learning rate lr and weight decay wd; steps is how
// many training steps came before this one) and commits the class memory rows: call it after
// Backward and the optimizer step.
func (s *PendingUpdate) Finish(opt nn.Optimizer, lr, wd float64, steps int) {
	if s.bank == nil {
		return
	}
	s.bank.Update(opt, lr, wd, steps)
	s.model.Memory.Commit(s.classes, s.rows)
}
