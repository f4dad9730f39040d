package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/tensor"
)

var tinyConfig = Config{ImageSize: 8, PatchSize: 4, Dim: 8, Depth: 2, Heads: 2, MLPRatio: 2, Eps: 1e-6}

// randomViT returns a tiny ViT with every parameter drawn with a large deviation, so that
// every nonlinearity matters in gradient checks.
func randomViT(rng *rand.Rand) *ViT {
	m := NewViT(tinyConfig)
	for _, p := range m.Parameters() {
		for i := range p.Var.Value.Data() {
			p.Var.Value.Data()[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	return m
}

func randomVar(rng *rand.Rand, shape ...int) *autodiff.Var {
	t := tensor.New(shape...)
	for i := range t.Data() {
		t.Data()[i] = float32(rng.NormFloat64())
	}
	return autodiff.Param(t)
}

// The embedding's gradients with respect to the prompts of each block, the input and a bias
// agree with central finite differences.
func TestViTGradientsWithPrompts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	m := randomViT(rng)
	images := randomVar(rng, 2, 3, 8, 8)
	prompts := []*autodiff.Var{randomVar(rng, 1, 3, 8), randomVar(rng, 2, 1, 8)}
	weights := randomVar(rng, 2, 8).Value
	tp := autodiff.NewTape()
	loss := func() *autodiff.Var {
		tp.Reset()
		e := m.Embed(tp, images, func(l int) *autodiff.Var { return prompts[l] })
		return tp.Sum(tp.Mul(e, autodiff.Constant(weights)))
	}
	tp.Backward(loss())
	bias := m.Blocks[1].MLP.FC1.Bias
	for _, v := range []*autodiff.Var{prompts[0], prompts[1], images, bias, m.PosEmbed} {
		grad := append([]float32(nil), v.Grad().Data()...)
		scale := 0.0
		for _, g := range grad {
			scale = max(scale, math.Abs(float64(g)))
		}
		for i := range v.Value.Data() {
			const h = 1e-2
			saved := v.Value.Data()[i]
			v.Value.Data()[i] = saved + h
			up := loss().Value.Data()[0]
			v.Value.Data()[i] = saved - h
			down := loss().Value.Data()[0]
			v.Value.Data()[i] = saved
			fd := float64(up-down) / (2 * h)
			if math.Abs(fd-float64(grad[i])) > 5e-3*scale {
				t.Fatalf("%v element %d: backward %g, finite difference %g", v.Shape(), i, grad[i], fd)
			}
		}
	}
}

// Prompts change the embedding, and a block with no prompts is the plain block.
func TestViTPromptsAreDropped(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m := randomViT(rng)
	images := randomVar(rng, 1, 3, 8, 8)
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	plain := m.Embed(tp, images, nil).Value.Clone()
	empty := m.Embed(tp, images, func(int) *autodiff.Var { return autodiff.Constant(tensor.New(1, 0, 8)) }).Value
	if x := m.Forward(tp, images, func(int) *autodiff.Var { return randomVar(rng, 1, 2, 8) }); x.Value.Dim(1) != 1+4 {
		t.Fatalf("prompted tokens %v, want the prompts dropped after each block", x.Shape())
	}
	for i, v := range plain.Data() {
		if empty.Data()[i] != v {
			t.Fatalf("empty prompts changed element %d", i)
		}
	}
}

// A block computing some tokens' outputs gives Forward's outputs for those tokens, and Embed,
// whose last block computes the class token alone, gives the final norm of Forward's class token.
func TestQueryTokensMatchForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	m := randomViT(rng)
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	x := randomVar(rng, 2, 7, 8)
	all := m.Blocks[0].Forward(tp, x)
	for _, r := range [][2]int{{0, 7}, {3, 7}, {2, 3}, {6, 7}} {
		want := tp.SliceTokens(all, r[0], r[1]).Value
		closeTo(t, "block outputs", m.Blocks[0].ForwardQueries(tp, x, r[0], r[1]).Value, want, 1e-5)
	}
	images := randomVar(rng, 2, 3, 8, 8)
	blockPrompts := []*autodiff.Var{randomVar(rng, 1, 3, 8), nil}
	prompts := func(l int) *autodiff.Var { return blockPrompts[l] }
	tokens := m.Forward(tp, images, prompts)
	want := m.Norm.Forward(tp, tp.Reshape(tp.SliceTokens(tokens, 0, 1), 2, 8)).Value
	closeTo(t, "embedding", m.Embed(tp, images, prompts).Value, want, 1e-5)
}

func TestConfigs(t *testing.T) {
	for name, c := range Configs {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ConfigNamed("vit_huge"); err == nil {
		t.Error("unknown configuration accepted")
	}
	bad := tinyConfig
	bad.Heads = 3
	if err := bad.Validate(); err == nil {
		t.Error("width 8 with 3 heads accepted")
	}
	if n := len(NewViT(Configs["vit_small_patch16_224"]).Parameters()); n != 4+12*12+2 {
		t.Errorf("ViT-S has %d parameter tensors, want %d", n, 4+12*12+2)
	}
}

func TestInferConfig(t *testing.T) {
	for name, c := range Configs {
		shapes := map[string][]int{}
		for _, p := range NewViT(c).Parameters() {
			shapes[p.Name] = p.Var.Shape()
		}
		got, err := InferConfig(shapes)
		c.Heads = max(1, c.Dim/64) // heads are not in a checkpoint: 64-wide ones are assumed
		if err != nil || got != c {
			t.Errorf("%s: inferred %+v, %v", name, got, err)
		}
	}
	if _, err := InferConfig(map[string][]int{"pos_embed": {1, 197, 384}}); err == nil {
		t.Error("missing patch embedding accepted")
	}
}

func TestBitFitCounts(t *testing.T) {
	ps := NewViT(Configs["vit_small_patch16_224"]).Parameters()
	SetTrainable(ps, IsBias)
	// Per block: norm1, qkv, proj, norm2, fc1, fc2 biases = 384+1152+384+384+1536+384; plus
	// the patch embedding's and the final norm's.
	want := 12*(384+1152+384+384+1536+384) + 384 + 384
	if got := CountTrainable(ps); got != want {
		t.Errorf("BitFit trains %d scalars of ViT-S, want %d", got, want)
	}
}

// The key part of every qkv bias gets an exactly zero gradient (the softmax ignores it), the
// query and value parts a real one.
func TestKeyBiasGradientIsZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	m := randomViT(rng)
	images := randomVar(rng, 2, 3, 8, 8)
	tp := autodiff.NewTape()
	e := m.Embed(tp, images, func(int) *autodiff.Var { return randomVar(rng, 1, 2, 8) })
	tp.Backward(tp.Sum(tp.Mul(e, autodiff.Constant(randomVar(rng, 2, 8).Value))))
	for l, b := range m.Blocks {
		g, d := b.Attn.QKV.Bias.Grad().Data(), m.Dim
		for part, name := range []string{"query", "key", "value"} {
			nonzero := slices.ContainsFunc(g[part*d:(part+1)*d], func(v float32) bool { return v != 0 })
			if nonzero != (name != "key") {
				t.Errorf("block %d: %s bias gradient %v", l, name, g[part*d:(part+1)*d])
			}
		}
	}
}
