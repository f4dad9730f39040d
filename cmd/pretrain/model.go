package main

import (
	"math/rand/v2"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// model is a ViT with a linear classifier on its final-norm class token.
type model struct {
	vit  *nn.ViT
	head *nn.Linear // [classes, D]
}

// newModel returns a ViT of configuration c with timm's initialisation and a classifier head
// of n classes (truncated normal weights of std 0.02, zero bias), drawn from seed.
func newModel(c nn.Config, n int, seed uint64) *model {
	rng := rand.New(rand.NewPCG(seed, 0x7072657472616e))
	m := &model{vit: nn.NewViT(c), head: nn.NewLinear(c.Dim, n, true)}
	m.vit.Init(rng)
	nn.TruncNormal(m.head.Weight.Value, 0.02, rng)
	return m
}

// logits maps images [B, 3, S, S] to class scores [B, classes].
func (m *model) logits(tp *autodiff.Tape, images *tensor.Tensor) *autodiff.Var {
	emb := m.vit.Embed(tp, autodiff.Constant(images), nil)
	out := m.head.Forward(tp, emb)
	tp.Free(emb)
	return out
}

// groups splits the parameters as timm's optimizer factory does: weight decay on the weight
// matrices (two or more dimensions) only, none on biases, norm gains, the class token and the
// position embedding.
func (m *model) groups(lr, wd float64) []nn.Group {
	decay := nn.Group{LR: lr, WeightDecay: wd}
	plain := nn.Group{LR: lr}
	params := append(m.vit.Parameters(), nn.Named{Name: "head.weight", Var: m.head.Weight}, nn.Named{Name: "head.bias", Var: m.head.Bias})
	for _, p := range params {
		if p.Var.Value.Dims() >= 2 && p.Name != "cls_token" && p.Name != "pos_embed" {
			decay.Params = append(decay.Params, p.Var)
		} else {
			plain.Params = append(plain.Params, p.Var)
		}
	}
	return []nn.Group{decay, plain}
}

// backboneTensors returns the ViT's parameters by timm name, without the classifier head.
func (m *model) backboneTensors() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for _, p := range m.vit.Parameters() {
		out[p.Name] = p.Var.Value
	}
	return out
}
