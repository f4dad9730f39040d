package nn

import (
	"fmt"
	"sort"
	"strings"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// Config is the geometry of a ViT.
type Config struct {
	ImageSize int     // input images are ImageSize x ImageSize
	PatchSize int     // patches are PatchSize x PatchSize, stride PatchSize
	Dim       int     // token width D
	Depth     int     // number of blocks
	Heads     int     // attention heads; Dim/Heads is the head size
	MLPRatio  int     // hidden width of the MLP is MLPRatio*Dim
	Eps       float32 // LayerNorm epsilon
}

// Configs are ViT configurations by name: timm's, and vit_micro_patch4_28, a small ViT for
// 28x28 images (7x7 patches of 4x4 pixels, width 96, 6 blocks of 3 heads of 32), the
// geometry of the embedded Fashion-MNIST backbone (package nn/pretrained).
var Configs = map[string]Config{
	"vit_micro_patch4_28":   {ImageSize: 28, PatchSize: 4, Dim: 96, Depth: 6, Heads: 3, MLPRatio: 4, Eps: 1e-6},
	"vit_tiny_patch16_224":  {ImageSize: 224, PatchSize: 16, Dim: 192, Depth: 12, Heads: 3, MLPRatio: 4, Eps: 1e-6},
	"vit_small_patch16_224": {ImageSize: 224, PatchSize: 16, Dim: 384, Depth: 12, Heads: 6, MLPRatio: 4, Eps: 1e-6},
	"vit_base_patch16_224":  {ImageSize: 224, PatchSize: 16, Dim: 768, Depth: 12, Heads: 12, MLPRatio: 4, Eps: 1e-6},
}

// ConfigNamed returns the configuration called name, or an error listing the known names.
func ConfigNamed(name string) (Config, error) {
	if c, ok := Configs[name]; ok {
		return c, nil
	}
	names := make([]string, 0, len(Configs))
	for n := range Configs {
		names = append(names, n)
	}
	sort.Strings(names)
	return Config{}, fmt.Errorf("nn: unknown ViT configuration %q (known: %s)", name, strings.Join(names, ", "))
}

// Validate returns an error naming the first inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.PatchSize <= 0 || c.ImageSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("nn: ViT config: image size %d is not a positive multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.Dim <= 0 || c.Heads <= 0 || c.Dim%c.Heads != 0:
		return fmt.Errorf("nn: ViT config: width %d is not a positive multiple of %d heads", c.Dim, c.Heads)
	case c.Depth < 0 || c.MLPRatio <= 0:
		return fmt.Errorf("nn: ViT config: depth %d and MLP ratio %d must be >= 0 and > 0", c.Depth, c.MLPRatio)
	}
	return nil
}

// Patches is the number of patch tokens of an image. It panics if PatchSize is 0.
func (c Config) Patches() int { return (c.ImageSize / c.PatchSize) * (c.ImageSize / c.PatchSize) }

// ViT is a Vision Transformer as timm builds it: patch embedding, a class token and learned
// position embeddings, pre-norm blocks and a final LayerNorm.
type ViT struct {
	Config
	PatchWeight, PatchBias *autodiff.Var // [D, 3, p, p] and [D]
	ClsToken               *autodiff.Var // [1, 1, D]
	PosEmbed               *autodiff.Var // [1, 1+patches, D]
	Blocks                 []*Block
	Norm                   *LayerNorm
}

// NewViT returns a ViT of configuration c with zero weights (LayerNorm gains 1); load a
// checkpoint or initialise it before use. It panics if c.Validate returns an error.
func NewViT(c Config) *ViT {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	d := c.Dim
	m := &ViT{
		Config:      c,
		PatchWeight: autodiff.Param(tensor.New(d, 3, c.PatchSize, c.PatchSize)),
		PatchBias:   autodiff.Param(tensor.New(d)),
		ClsToken:    autodiff.Param(tensor.New(1, 1, d)),
		PosEmbed:    autodiff.Param(tensor.New(1, 1+c.Patches(), d)),
		Norm:        NewLayerNorm(d, c.Eps),
	}
	for range c.Depth {
		m.Blocks = append(m.Blocks, &Block{
			Norm1: NewLayerNorm(d, c.Eps),
			Attn:  &Attention{QKV: NewLinear(d, 3*d, true), Proj: NewLinear(d, d, true), Heads: c.Heads},
			Norm2: NewLayerNorm(d, c.Eps),
			MLP:   &MLP{FC1: NewLinear(d, c.MLPRatio*d, true), FC2: NewLinear(c.MLPRatio*d, d, true)},
		})
	}
	return m
}

// Prompts supplies the prompt tokens of block l: [B, n, D] (one set per image), [1, n, D]
// (shared by the batch) or nil for none.
type Prompts func(l int) *autodiff.Var

// Forward runs images [B, 3, H, W] through the patch embedding and every block and returns the
// tokens [B, 1+patches, D] before the final norm. When prompts is not nil, block l's prompts are
// placed before the class token for that block only: their outputs are dropped after it
// (VPT-deep), so the block computes only the other tokens' outputs.
//
// It panics unless images are [B, 3, H, W] with H and W multiples of PatchSize that make
// Patches() patches, or if a block's prompts are not [B, n, D] or [1, n, D].
func (m *ViT) Forward(tp *autodiff.Tape, images *autodiff.Var, prompts Prompts) *autodiff.Var {
	return m.forward(tp, images, prompts, false)
}

// Embed returns the final-norm class token of every image, [B, D]: the embedding timm and
// DINO use. The last block computes the class token's output alone and the norm is applied to
// it only (both work token by token past the last attention). It panics as Forward does.
func (m *ViT) Embed(tp *autodiff.Tape, images *autodiff.Var, prompts Prompts) *autodiff.Var {
	x := m.forward(tp, images, prompts, true)
	if x.Value.Dim(1) > 1 { // no blocks: the class token is still with the patches
		cls := tp.SliceTokens(x, 0, 1)
		tp.Free(x)
		x = cls
	}
	return m.Norm.Forward(tp, tp.Reshape(x, x.Value.Dim(0), m.Dim))
}

// forward is Forward; with classOnly the last block returns the class token alone, [B, 1, D].
func (m *ViT) forward(tp *autodiff.Tape, images *autodiff.Var, prompts Prompts, classOnly bool) *autodiff.Var {
	patches := tp.PatchEmbed(images, m.PatchWeight, m.PatchBias)
	tokens := tp.ConcatTokens(m.ClsToken, patches)
	tp.Free(patches)
	x := tp.AddBias(tokens, m.PosEmbed)
	tp.Free(tokens)
	for l, blk := range m.Blocks {
		keep := x.Value.Dim(1)
		if classOnly && l == len(m.Blocks)-1 {
			keep = 1
		}
		in, n := x, 0
		if prompts != nil {
			if p := prompts(l); p != nil && p.Value.Dim(1) > 0 {
				in, n = tp.ConcatTokens(p, x), p.Value.Dim(1)
				tp.Free(x)
			}
		}
		y := blk.ForwardQueries(tp, in, n, n+keep)
		tp.Free(in)
		x = y
	}
	return x
}

// Named is a parameter with its timm name.
type Named struct {
	Name string
	Var  *autodiff.Var
}

// Parameters lists every parameter under its timm name, in timm's order.
func (m *ViT) Parameters() []Named {
	return collect(func(add func(string, *autodiff.Var)) {
		add("cls_token", m.ClsToken)
		add("pos_embed", m.PosEmbed)
		add("patch_embed.proj.weight", m.PatchWeight)
		add("patch_embed.proj.bias", m.PatchBias)
		for i, b := range m.Blocks {
			b.parameters(fmt.Sprintf("blocks.%d.", i), add)
		}
		m.Norm.parameters("norm.", add)
	})
}

// PackFrozen packs each frozen weight matrix of the ViT, the patch embedding's and the blocks'
// qkv, proj, fc1 and fc2, in the given precision (autodiff.Var.Pack), and unpacks the ones that
// train, both the copy for the forward pass and the one for the input gradient. A block whose
// qkv weight is frozen also runs its attention products in that precision; the others in fp32.
// Call it once the weights are loaded and frozen (nn.SetTrainable); it returns how many
// matrices it packed.
func (v *ViT) PackFrozen(p kernels.Precision) int {
	return v.pack(p, true, isFrozen)
}

// PackFrozenForward is PackFrozen for passes that record no gradient (loading a trained run
// for inference): it packs the same matrices and sets the same attention precisions, so the
// embeddings are the training run's own, but without the input gradient's copies.
func (v *ViT) PackFrozenForward(p kernels.Precision) int {
	return v.pack(p, false, isFrozen)
}

// isFrozen reports whether a weight does not train.
func isFrozen(w *autodiff.Var) bool { return !w.RequiresGrad() }

// PackAll packs every weight matrix, trainable or not, for passes that record no gradient
// (inference, evaluation between training steps), for the forward pass only, and runs every
// block's attention in the given precision; Unpack drops the copies (and returns attention to
// fp32) before the weights change again. It returns how many matrices it packed.
func (v *ViT) PackAll(p kernels.Precision) int {
	return v.pack(p, false, func(*autodiff.Var) bool { return true })
}

// Unpack drops the packed copies of the ViT's weights and returns attention to fp32.
func (v *ViT) Unpack() {
	v.pack(kernels.FP32, false, func(*autodiff.Var) bool { return false })
}

// pack packs the weight matrices for which which holds (with the input gradient's copy when
// inputGradient is set) and unpacks the others; a block's attention takes precision p when
// which holds for its qkv weight, and fp32 otherwise.
func (v *ViT) pack(p kernels.Precision, inputGradient bool, which func(*autodiff.Var) bool) int {
	for _, b := range v.Blocks {
		b.Attn.Precision = kernels.FP32
		if which(b.Attn.QKV.Weight) {
			b.Attn.Precision = p
		}
	}
	packed := 0
	for _, w := range v.weightMatrices() {
		if !which(w) {
			w.Unpack()
			continue
		}
		w.Pack(p, inputGradient)
		packed++
	}
	return packed
}

// PackedBytes is the memory the packed copies of the ViT's weights take.
func (v *ViT) PackedBytes() int {
	n := 0
	for _, w := range v.weightMatrices() {
		n += w.PackedBytes()
	}
	return n
}

// weightMatrices lists the weights of the ViT's linear maps.
func (v *ViT) weightMatrices() []*autodiff.Var {
	ws := []*autodiff.Var{v.PatchWeight}
	for _, b := range v.Blocks {
		ws = append(ws, b.Attn.QKV.Weight, b.Attn.Proj.Weight, b.MLP.FC1.Weight, b.MLP.FC2.Weight)
	}
	return ws
}
