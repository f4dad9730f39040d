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
// log-sum-exps are held for it.
func (tp *Tape) Attention(qkv *Var, heads int) *Var {
	s := qkv.Shape()
	if len(s) != 3 || heads <= 0 || s[2]%(3*heads) != 0 {
		panic(fmt.Sprintf("autodiff: Attention: qkv has shape %v, want [B, N, 3*heads*dh] with %d heads", s, heads))
	}
	shape := kernels.AttentionShape{Batch: s[0], Tokens: s[1], Heads: heads, HeadDim: s[2] / (3 * heads)}
	y := tp.result([]*Var{qkv}, s[0], s[1], s[2]/3)
	lse := tp.temp(s[0] * heads * s[1])
	kernels.AttentionForward(y.Value.Data(), lse.Value.Data(), qkv.Value.Data(), shape)
	recorded := tp.record(y, func() {
		tp.setGrad(qkv, func(dqkv []float32) {
			kernels.AttentionBackward(dqkv, y.grad.Data(), nil, lse.Value.Data(), qkv.Value.Data(), shape)
		})
	}, qkv, lse)
	if !recorded {
		tp.release(lse)
	}
	return y
}

// setGrad adds to v's gradient a contribution that write computes by overwriting a buffer:
// straight into the gradient when v has none yet, else through a temporary.
func (tp *Tape) setGrad(v *Var, write func(dst []float32)) {
	if g, fresh := tp.freshGrad(v); fresh {
		write(g.Data())
		return
	}
	tmp := tp.scratch.Get(v.Value.Len())
	write(tmp.Data())
	accumulate(v.grad.Data(), tmp.Data())
	tp.scratch.Put(tmp)
}
