package autodiff

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
)

// Attention returns multi-head self-attention, softmax(q k^T / sqrt(dh)) v per head, read
// straight from the qkv projection: qkv is [B, N, 3*H*dh] (q of every head, then k, then v,
// as timm's qkv Linear writes them); the result is [B, N, H*dh], heads side by side, ready for
// the output projection. Backward recomputes the probabilities from a saved log-sum-exp per
// row instead of keeping them, and does not need the result itself: only qkv and the
// log-sum-exps are held for it. It panics if heads is not positive or if qkv is not
// three-dimensional with a last dimension that is a multiple of 3*heads.
func (tp *Tape) Attention(qkv *Var, heads int) *Var {
	n := 0
	if s := qkv.Shape(); len(s) == 3 {
		n = s[1]
	}
	return tp.AttentionQueries(qkv, heads, 0, n, kernels.FP32)
}

// AttentionQueries is Attention computed for the query tokens from..to-1 only, [B, to-from,
// H*dh]: every token is still a key and a value. A block whose other tokens' outputs are
// dropped (VPT prompts, everything but the class token at the end) skips their work. With
// precision kernels.BF16 the four products (q k^T, p v and their two gradients) round their
// operands to bf16 and accumulate in fp32, as PyTorch's autocast does; softmax, scaling and
// the log-sum-exps stay fp32. It panics as Attention does, and also unless 0 <= from <= to <= N.
func (tp *Tape) AttentionQueries(qkv *Var, heads, from, to int, precision kernels.Precision) *Var {
	s := qkv.Shape()
	if len(s) != 3 || heads <= 0 || s[2]%(3*heads) != 0 {
		panic(fmt.Sprintf("autodiff: Attention: qkv has shape %v, want [B, N, 3*heads*dh] with %d heads", s, heads))
	}
	if from < 0 || from > to || to > s[1] {
		panic(fmt.Sprintf("autodiff: Attention: query tokens %d:%d are not a range of the %d tokens", from, to, s[1]))
	}
	if from == to { // no queries: nothing to compute, and no gradient to pass back
		return tp.result(nil, s[0], 0, s[2]/3)
	}
	shape := kernels.AttentionShape{Batch: s[0], Tokens: s[1], Heads: heads, HeadDim: s[2] / (3 * heads), QueryFrom: from, QueryTo: to, Precision: precision}
	y := tp.result([]*Var{qkv}, s[0], to-from, s[2]/3)
	lse := tp.temp(s[0] * heads * (to - from))
	kernels.AttentionForward(y.Value.Data(), lse.Value.Data(), qkv.Value.Data(), shape)
	tp.record(y, func() {
		tp.setGrad(qkv, func(dqkv []float32) {
			kernels.AttentionBackward(dqkv, y.grad.Data(), nil, lse.Value.Data(), qkv.Value.Data(), shape)
		})
	}, qkv, lse)
	tp.release(lse)
	return y
}
