package autodiff

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/kernels"
)

// CrossEntropy returns the softmax cross-entropy of logits [B, C] against labels (len B, each
// in [0, C)) as a scalar: the mean over rows of logsumexp(row) - row[label]. Each row's max is
// subtracted before exponentiating, so large logits neither overflow nor underflow. The
// softmax probabilities are kept for backward, which adds (p - onehot(label)) * g / B to the
// logits' gradient. It panics unless logits is [len(labels), C] with len(labels) > 0 and C > 0,
// or if a label is outside [0, C).
func (tp *Tape) CrossEntropy(logits *Var, labels []int) *Var {
	b, c := crossEntropyShape(logits, labels)
	y := tp.result([]*Var{logits})
	probVar := tp.temp(b, c)
	probs, x := probVar.Value.Data(), logits.Value.Data()
	total := 0.0
	for r, l := range labels {
		row, p := x[r*c:(r+1)*c], probs[r*c:(r+1)*c]
		m := kernels.Max(row)
		s := kernels.ExpSum(p, row, m) // p = exp(row - m)
		kernels.Scale(p, 1/s, p)
		total += float64(m) + math.Log(float64(s)) - float64(row[l])
	}
	y.Value.Data()[0] = float32(total / float64(b))
	labels = append([]int(nil), labels...)
	tp.record(y, func() {
		g := y.grad.Data()[0] / float32(b)
		dx := tp.gradOf(logits).Data()
		kernels.Axpy(g, probs, dx)
		for r, l := range labels {
			dx[r*c+l] -= g
		}
	}, probVar)
	return y
}

// crossEntropyShape checks logits [B, C] against labels and returns B and C.
func crossEntropyShape(logits *Var, labels []int) (b, c int) {
	shape := logits.Shape()
	if len(shape) != 2 || shape[0] != len(labels) || shape[0] == 0 || shape[1] == 0 {
		panic(fmt.Sprintf("autodiff: CrossEntropy: logits %v for %d labels, want [%d, C>0]", shape, len(labels), len(labels)))
	}
	b, c = shape[0], shape[1]
	for i, l := range labels {
		if l < 0 || l >= c {
			panic(fmt.Sprintf("autodiff: CrossEntropy: label %d of row %d out of range [0, %d)", l, i, c))
		}
	}
	return b, c
}
