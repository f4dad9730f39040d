package autodiff

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/semprox/semprox/tensor"
)

// crossEntropy64 is the float64 reference: mean over rows of log(sum exp(row)) - row[label],
// computed with the row's max subtracted.
func crossEntropy64(x []float32, c int, labels []int) float64 {
	total := 0.0
	for r, l := range labels {
		row := x[r*c : (r+1)*c]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		total += m + math.Log(s) - float64(row[l])
	}
	return total / float64(len(labels))
}

func TestCrossEntropyValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sz := range []struct{ b, c int }{{1, 1}, {1, 10}, {7, 3}, {33, 10}, {5, 257}} {
		for _, scale := range []float32{1, 30, 1000} {
			x := randomTensor(rng, 0, sz.b, sz.c)
			for i := range x.Data() {
				x.Data()[i] *= scale
			}
			labels := make([]int, sz.b)
			for i := range labels {
				labels[i] = rng.IntN(sz.c)
			}
			tp := NewTape()
			poison(tp)
			got := float64(tp.CrossEntropy(Constant(x), labels).Value.Data()[0])
			want := crossEntropy64(x.Data(), sz.c, labels)
			if math.IsNaN(got) || math.Abs(got-want) > 1e-5*max(1, math.Abs(want)) {
				t.Errorf("[%d,%d] scale %g: CrossEntropy = %g, want %g", sz.b, sz.c, scale, got, want)
			}
		}
	}
}

// With a unit gradient, the logits' gradient is (softmax - onehot) / B; it stays finite for
// logits far beyond float32's exp range.
func TestCrossEntropyGradientLargeLogits(t *testing.T) {
	x := Param(tensor.FromSlice([]float32{1000, -1000, 0, 500, 500, -3}, 2, 3))
	tp := NewTape()
	tp.Backward(tp.CrossEntropy(x, []int{0, 2}))
	want := []float32{0, 0, 0, 0.25, 0.25, -0.5}
	for i, g := range x.Grad().Data() {
		if math.Abs(float64(g-want[i])) > 1e-6 {
			t.Fatalf("gradient %v, want %v", x.Grad().Data(), want)
		}
	}
}

func TestCrossEntropyPanics(t *testing.T) {
	x := Constant(tensor.New(2, 3))
	for _, c := range []struct {
		labels []int
		want   string
	}{
		{[]int{0, 3}, "label 3 of row 1 out of range [0, 3)"},
		{[]int{-1, 0}, "label -1 of row 0"},
		{[]int{0}, "logits [2 3] for 1 labels"},
	} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, c.want) {
					t.Errorf("labels %v: panic %q, want it to contain %q", c.labels, msg, c.want)
				}
			}()
			NewTape().CrossEntropy(x, c.labels)
		}()
	}
}
