package autodiff

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/semprox/semprox/internal/numcheck"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// packNet is a patch embedding, a linear layer and an MLP on frozen weights, with a gradient
// for the image.
type packNet struct {
	img, r  *Var
	weights []*Var // patch, linear, fc1, fc2
	biases  []*Var
}

func newPackNet(rng *rand.Rand) *packNet {
	n := &packNet{img: Param(randomTensor(rng, 0, 2, 3, 8, 8)), r: Constant(randomTensor(rng, 0, 2, 4, 5))}
	for _, shape := range [][]int{{6, 3, 4, 4}, {7, 6}, {33, 7}, {5, 33}} {
		w := Param(randomTensor(rng, 0, shape...))
		w.SetRequiresGrad(false)
		n.weights = append(n.weights, w)
		n.biases = append(n.biases, Param(randomTensor(rng, 0, shape[0])))
	}
	return n
}

// run returns the result and the image's gradient.
func (n *packNet) run() (y, dimg []float32) {
	tp := NewTape()
	w, b := n.weights, n.biases
	h := tp.Linear(tp.PatchEmbed(n.img, w[0], b[0]), w[1], b[1])
	out := tp.MLP(h, w[2], b[2], w[3], b[3])
	y = slices.Clone(out.Value.Data())
	n.img.ZeroGrad()
	tp.Backward(tp.Sum(tp.Mul(out, n.r)))
	return y, slices.Clone(n.img.Grad().Data())
}

func (n *packNet) pack(p kernels.Precision) {
	for _, w := range n.weights {
		w.Pack(p, false)
	}
}

// TestPackFP32 checks that frozen weights packed in float32 give the unpacked results and
// gradients bit for bit.
func TestPackFP32(t *testing.T) {
	n := newPackNet(rand.New(rand.NewPCG(60, 61)))
	y0, g0 := n.run()
	n.pack(kernels.FP32)
	y1, g1 := n.run()
	if !slices.Equal(y0, y1) || !slices.Equal(g0, g1) {
		t.Error("packed float32 weights change the result or the gradient")
	}
	if n.weights[1].PackedBytes() < 4*7*6*2 {
		t.Errorf("PackedBytes = %d after a backward pass, want both orientations", n.weights[1].PackedBytes())
	}
}

// TestPackBF16 checks that bf16 weights stay within bf16's rounding of the float32 results, and
// differ from them (the bf16 kernel ran).
func TestPackBF16(t *testing.T) {
	n := newPackNet(rand.New(rand.NewPCG(62, 63)))
	y0, g0 := n.run()
	n.pack(kernels.BF16)
	if p, ok := n.weights[0].Packed(); !ok || p != kernels.BF16 {
		t.Fatalf("Packed() = %v, %v", p, ok)
	}
	y1, g1 := n.run()
	for _, c := range []struct {
		name      string
		want, got []float32
	}{{"result", y0, y1}, {"image gradient", g0, g1}} {
		if slices.Equal(c.want, c.got) {
			t.Errorf("%s: bf16 gives exactly the float32 values", c.name)
		}
		if cos := numcheck.Cosine(c.want, c.got); cos < 0.9999 {
			t.Errorf("%s: cosine to float32 %.6f, want at least 0.9999", c.name, cos)
		}
	}
}

// TestPackIgnoredWhenTrained checks that a weight that requires a gradient is read itself, not
// its (stale) packed copy, and that Unpack drops the copy.
func TestPackIgnoredWhenTrained(t *testing.T) {
	n := newPackNet(rand.New(rand.NewPCG(64, 65)))
	n.pack(kernels.BF16)
	w := n.weights[2]
	w.SetRequiresGrad(true)
	for i := range w.Value.Data() {
		w.Value.Data()[i] *= 2
	}
	y1, _ := n.run()
	w.SetRequiresGrad(false)
	for _, v := range n.weights {
		v.Unpack()
	}
	y0, _ := n.run()
	if numcheck.Cosine(y0, y1) < 0.9999 {
		t.Error("a trained weight's stale packed copy was used")
	}
	if _, ok := w.Packed(); ok {
		t.Error("Packed() after Unpack")
	}
}

func TestPackRejectsVector(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Pack of a vector did not panic")
		}
	}()
	Param(tensor.New(4)).Pack(kernels.FP32, true)
}
