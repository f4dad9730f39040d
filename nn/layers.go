package nn

import (
	"slices"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// Linear is a fully connected layer, y = x W^T + b. Weight is [out, in] (PyTorch's layout),
// Bias is [out] or nil.
type Linear struct {
	Weight, Bias *autodiff.Var
}

// NewLinear returns a zeroed in -> out layer, with a bias when bias is set. It panics if in or
// out is negative.
func NewLinear(in, out int, bias bool) *Linear {
	l := &Linear{Weight: autodiff.Param(tensor.New(out, in))}
	if bias {
		l.Bias = autodiff.Param(tensor.New(out))
	}
	return l
}

// Forward maps x [..., in] to [..., out]. It panics if x's last dimension is not in.
func (l *Linear) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	return tp.Linear(x, l.Weight, l.Bias)
}

func (l *Linear) parameters(prefix string, add func(string, *autodiff.Var)) {
	add(prefix+"weight", l.Weight)
	if l.Bias != nil {
		add(prefix+"bias", l.Bias)
	}
}

// LayerNorm normalises the last dimension and applies Weight (gamma) and Bias (beta), both [n].
type LayerNorm struct {
	Weight, Bias *autodiff.Var
	Eps          float32
}

// NewLayerNorm returns the identity normalisation of width n (gamma 1, beta 0). It panics if n
// is negative.
func NewLayerNorm(n int, eps float32) *LayerNorm {
	gamma := tensor.New(n)
	gamma.Fill(1)
	return &LayerNorm{Weight: autodiff.Param(gamma), Bias: autodiff.Param(tensor.New(n)), Eps: eps}
}

// Forward normalises x [..., n]. It panics if x's last dimension is not n.
func (l *LayerNorm) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	return tp.LayerNorm(x, l.Weight, l.Bias, l.Eps)
}

func (l *LayerNorm) parameters(prefix string, add func(string, *autodiff.Var)) {
	add(prefix+"weight", l.Weight)
	add(prefix+"bias", l.Bias)
}

// MLP is a transformer block's feed-forward part: FC2(GELU(FC1(x))), fused (autodiff's MLP).
type MLP struct {
	FC1, FC2 *Linear
}

// Forward maps x [..., D] through the hidden width and back to [..., D]. It panics if x's last
// dimension is not FC1's input width, if FC1 has no bias, or if FC2's input width is not FC1's
// output width.
func (m *MLP) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	return tp.MLP(x, m.FC1.Weight, m.FC1.Bias, m.FC2.Weight, m.FC2.Bias)
}

// Attention is multi-head self-attention: a qkv projection [3D, D] whose rows are q, k, v (each
// heads side by side), the fused attention, and the output projection Proj [D, D]. Precision is
// the number format of the attention's own products (kernels.FP32 unless set; ViT.PackFrozen
// and PackAll set it with the block's weights).
type Attention struct {
	QKV, Proj *Linear
	Heads     int
	Precision kernels.Precision
}

// Forward maps tokens x [B, N, D] to [B, N, D]. It panics as ForwardQueries does.
func (a *Attention) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	return a.ForwardQueries(tp, x, 0, x.Value.Dim(1))
}

// ForwardQueries maps tokens x [B, N, D] to the outputs of tokens from..to-1, [B, to-from, D]:
// every token is a key and a value, only those are queries. It panics if x is not [B, N, D] for
// QKV's input width D, if QKV's output width is not a multiple of 3*Heads or three times
// Proj's input width, or unless 0 <= from <= to <= N.
func (a *Attention) ForwardQueries(tp *autodiff.Tape, x *autodiff.Var, from, to int) *autodiff.Var {
	qkv := tp.Linear(x, a.QKV.Weight, withoutKeyGradient(tp, a.QKV.Bias))
	o := tp.AttentionQueries(qkv, a.Heads, from, to, a.Precision)
	tp.Free(qkv)
	y := a.Proj.Forward(tp, o)
	tp.Free(o)
	return y
}

// withoutKeyGradient returns the qkv bias b [3D] with the gradient of its key part set to
// exactly zero. Adding one vector to every key shifts all of a query's logits by the same
// amount, which the softmax ignores, so that gradient is zero in exact arithmetic; in float32
// it is rounding noise instead, which AdamW's normalisation would turn into steps the size of
// the learning rate whenever BitFit trains the bias.
func withoutKeyGradient(tp *autodiff.Tape, b *autodiff.Var) *autodiff.Var {
	if b == nil || !b.RequiresGrad() || tp.NoGrad() {
		return b
	}
	d := b.Value.Len() / 3
	y := tp.NewResult([]*autodiff.Var{b}, b.Value.Len())
	copy(y.Value.Data(), b.Value.Data())
	tp.Record(y, func() {
		g := slices.Clone(y.Grad().Data())
		clear(g[d : 2*d])
		tp.AddGrad(b, g)
	})
	return y
}

// Block is a pre-norm transformer block: x += Attn(Norm1(x)); x += MLP(Norm2(x)). With an
// Adapter, the MLP's output passes through it before the residual add (the adapter is not one
// of the block's timm parameters).
type Block struct {
	Norm1   *LayerNorm
	Attn    *Attention
	Norm2   *LayerNorm
	MLP     *MLP
	Adapter *Adapter
}

// Forward maps tokens x [B, N, D] to [B, N, D]. It panics as ForwardQueries does.
func (b *Block) Forward(tp *autodiff.Tape, x *autodiff.Var) *autodiff.Var {
	return b.ForwardQueries(tp, x, 0, x.Value.Dim(1))
}

// ForwardQueries maps tokens x [B, N, D] to the block's outputs for tokens from..to-1,
// [B, to-from, D]. Every token is attended to, but only those go on through the residual, the
// projection and the MLP: when a caller drops the other outputs (VPT prompts after their block,
// all but the class token after the last block) their work is skipped, and the result is the
// same as slicing Forward's. It panics if x is not [B, N, D] for the block's width D, or unless
// 0 <= from <= to <= N.
// Intermediate results are freed as soon as the block is done with them (what backward needs
// stays); x itself belongs to the caller.
func (b *Block) ForwardQueries(tp *autodiff.Tape, x *autodiff.Var, from, to int) *autodiff.Var {
	h := b.Norm1.Forward(tp, x)
	a := b.Attn.ForwardQueries(tp, h, from, to)
	tp.Free(h)
	residual := x
	if from != 0 || to != x.Value.Dim(1) {
		residual = tp.SliceTokens(x, from, to)
	}
	x1 := tp.Add(residual, a)
	tp.Free(a)
	if residual != x {
		tp.Free(residual)
	}
	h = b.Norm2.Forward(tp, x1)
	m := b.MLP.Forward(tp, h)
	tp.Free(h)
	if b.Adapter != nil {
		adapted := b.Adapter.Forward(tp, m)
		tp.Free(m)
		m = adapted
	}
	y := tp.Add(x1, m)
	tp.Free(m, x1)
	return y
}

func (b *Block) parameters(prefix string, add func(string, *autodiff.Var)) {
	b.Norm1.parameters(prefix+"norm1.", add)
	b.Attn.QKV.parameters(prefix+"attn.qkv.", add)
	b.Attn.Proj.parameters(prefix+"attn.proj.", add)
	b.Norm2.parameters(prefix+"norm2.", add)
	b.MLP.FC1.parameters(prefix+"mlp.fc1.", add)
	b.MLP.FC2.parameters(prefix+"mlp.fc2.", add)
}
