package dml

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/autodiff"
)

// ProxyAnchor is the Proxy-Anchor loss (Kim et al., CVPR 2020) on cosine similarities s(x, p):
//
//	L = 1/|P+| sum_{p in P+} log(1 + sum_{x in X+_p} exp(-Alpha (s(x,p) - Delta)))
//	  + 1/|P|  sum_{p in P}  log(1 + sum_{x in X-_p} exp( Alpha (s(x,p) + Delta)))
//
// where P+ are the proxies with a positive sample in the batch and X+_p, X-_p the samples of
// p's class and of the others. Each log(1 + sum exp) is computed as a log-sum-exp with a zero
// term, so large similarities neither overflow nor lose precision.
type ProxyAnchor struct {
	Alpha, Delta float64
	// PositivesOverAll divides the positive term by |P| instead of |P+|, as the released VPTSP
	// code does; the original definition (false) is the default.
	PositivesOverAll bool
}

// DefaultProxyAnchor is the published setting: Alpha 32, Delta 0.1.
var DefaultProxyAnchor = ProxyAnchor{Alpha: 32, Delta: 0.1}

// Loss returns the loss, a scalar, for embeddings [B, E], proxies [C, E] and the class of every
// embedding (labels[b] in [0, C)). Embeddings and proxies are L2-normalised here, so the
// similarities are cosines whatever their norms; gradients flow to both. It panics if emb or
// proxies is not two-dimensional, if their widths differ, if labels does not have one entry per
// embedding, or if a label is outside [0, C).
func (pa ProxyAnchor) Loss(tp *autodiff.Tape, emb, proxies *autodiff.Var, labels []int) *autodiff.Var {
	if emb.Value.Dims() != 2 || proxies.Value.Dims() != 2 || emb.Value.Dim(1) != proxies.Value.Dim(1) {
		panic(fmt.Sprintf("dml: ProxyAnchor: embeddings %v and proxies %v, want [B, E] and [C, E]", emb.Shape(), proxies.Shape()))
	}
	if len(labels) != emb.Value.Dim(0) {
		panic(fmt.Sprintf("dml: ProxyAnchor: %d labels for %d embeddings", len(labels), emb.Value.Dim(0)))
	}
	classes := proxies.Value.Dim(0)
	for i, l := range labels {
		if l < 0 || l >= classes {
			panic(fmt.Sprintf("dml: ProxyAnchor: labels[%d] = %d, want a class in [0, %d)", i, l, classes))
		}
	}
	en, pn := tp.L2Normalize(emb, 1e-12), tp.L2Normalize(proxies, 1e-12)
	cos := tp.Linear(en, pn, nil) // [B, C]
	tp.Free(en, pn)
	return pa.fromCosines(tp, cos, labels)
}

// fromCosines is the loss of a [B, C] matrix of cosines. Its backward multiplies the gradient
// of the loss with respect to each cosine, kept from the forward pass, by the incoming one.
func (pa ProxyAnchor) fromCosines(tp *autodiff.Tape, cos *autodiff.Var, labels []int) *autodiff.Var {
	batch, classes := cos.Value.Dim(0), cos.Value.Dim(1)
	c := cos.Value.Data()
	loss := tp.NewResult([]*autodiff.Var{cos})
	dcos := tp.NewResult(nil, batch, classes) // d loss / d cos, not itself differentiated
	g := dcos.Value.Data()
	positive := make([]bool, classes)
	for _, l := range labels {
		positive[l] = true
	}
	withPositives := 0
	for _, p := range positive {
		if p {
			withPositives++
		}
	}
	posDiv := float64(withPositives)
	if pa.PositivesOverAll {
		posDiv = float64(classes)
	}
	total := 0.0
	logits := make([]float64, batch)
	for p := range classes {
		for _, pos := range []bool{true, false} {
			sign, div := 1.0, float64(classes)
			if pos {
				sign, div = -1, posDiv
			}
			n := 0
			for b, l := range labels {
				if (l == p) == pos {
					logits[b] = sign * pa.Alpha * (float64(c[b*classes+p]) + sign*pa.Delta)
					n++
				} else {
					logits[b] = math.Inf(-1)
				}
			}
			if n == 0 {
				continue // no pairs of this kind: nothing to add, no gradient entries to set
			}
			lse := logSumExpWithZero(logits)
			total += lse / div
			for b := range batch {
				if (labels[b] == p) == pos {
					// d lse / d logit = exp(logit - lse); d logit / d cos = sign*Alpha
					g[b*classes+p] = float32(math.Exp(logits[b]-lse) * sign * pa.Alpha / div)
				}
			}
		}
	}
	loss.Value.Data()[0] = float32(total)
	recorded := tp.Record(loss, func() {
		dy := loss.Grad().Data()[0]
		for i := range g {
			g[i] *= dy
		}
		tp.AddGrad(cos, g)
	}, dcos)
	if !recorded {
		tp.Free(dcos)
	}
	return loss
}

// logSumExpWithZero returns log(1 + sum exp(x_i)) (-Inf entries count as absent), stably.
func logSumExpWithZero(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, v)
	}
	s := math.Exp(-m)
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}
