package autodiff

import (
	"math"
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

// run returns the result, the image's gradient and the biases' gradients one after another.
func (n *packNet) run() (y, dimg, dbias []float32) {
	tp := NewTape()
	w, b := n.weights, n.biases
	h := tp.Linear(tp.PatchEmbed(n.img, w[0], b[0]), w[1], b[1])
	out := tp.MLP(h, w[2], b[2], w[3], b[3])
	y = slices.Clone(out.Value.Data())
	n.img.ZeroGrad()
	for _, bias := range b {
		bias.ZeroGrad()
	}
	tp.Backward(tp.Sum(tp.Mul(out, n.r)))
	for _, bias := range b {
		dbias = append(dbias, bias.Grad().Data()...)
	}
	return y, slices.Clone(n.img.Grad().Data()), dbias
}

func (n *packNet) pack(p kernels.Precision) {
	for _, w := range n.weights {
		w.Pack(p, false)
	}
}

// TestPackFP32 checks that frozen weights packed in float32 give the unpacked results and
// input gradients bit for bit, and the bias gradients (column sums taken in the product, in
// another order) within float32 rounding.
func TestPackFP32(t *testing.T) {
	n := newPackNet(rand.New(rand.NewPCG(60, 61)))
	y0, g0, b0 := n.run()
	n.pack(kernels.FP32)
	y1, g1, b1 := n.run()
	if !slices.Equal(y0, y1) || !slices.Equal(g0, g1) {
		t.Error("packed float32 weights change the result or the gradient")
	}
	if err := numcheck.MaxRelError(b0, b1); err > 1e-5 {
		t.Errorf("bias gradients with packed weights: largest error %.3g of the largest value, want at most 1e-5", err)
	}
	if n.weights[1].PackedBytes() < 4*7*6*2 {
		t.Errorf("PackedBytes = %d after a backward pass, want both orientations", n.weights[1].PackedBytes())
	}
}

// TestPackBF16 checks that bf16 weights stay within bf16's rounding of the float32 results, and
// differ from them (the bf16 kernel ran).
func TestPackBF16(t *testing.T) {
	n := newPackNet(rand.New(rand.NewPCG(62, 63)))
	y0, g0, b0 := n.run()
	n.pack(kernels.BF16)
	if p, ok := n.weights[0].Packed(); !ok || p != kernels.BF16 {
		t.Fatalf("Packed() = %v, %v", p, ok)
	}
	y1, g1, b1 := n.run()
	for _, c := range []struct {
		name      string
		want, got []float32
	}{{"result", y0, y1}, {"image gradient", g0, g1}, {"bias gradients", b0, b1}} {
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
	y1, _, _ := n.run()
	w.SetRequiresGrad(false)
	for _, v := range n.weights {
		v.Unpack()
	}
	y0, _, _ := n.run()
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

// TestMLPBF16MatchesKernels checks the MLP on bf16 weights, which runs chunk by chunk of rows,
// against the same layers written out with the kernels: the result, the input gradient and the
// bias gradients agree bit for bit (the rows fit in one chunk, so the bias gradients are the
// column sums that the input-gradient products take, in the same order).
func TestMLPBF16MatchesKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(66, 67))
	const rows, in, hidden, out = 45, 37, 101, 29
	x, r := Param(randomTensor(rng, 0, rows, in)), Constant(randomTensor(rng, 0, rows, out))
	w1, w2 := Param(randomTensor(rng, 0, hidden, in)), Param(randomTensor(rng, 0, out, hidden))
	b1, b2 := Param(randomTensor(rng, 0, hidden)), Param(randomTensor(rng, 0, out))
	for _, w := range []*Var{w1, w2} {
		w.SetRequiresGrad(false)
		w.Pack(kernels.BF16, true)
	}
	tp := NewTape()
	y := tp.MLP(x, w1, b1, w2, b2)
	tp.Backward(tp.Sum(tp.Mul(y, r)))

	pw1, pw2 := w1.packing(false), w2.packing(false)
	pre, g, want := make([]float32, rows*hidden), make([]float32, rows*hidden), make([]float32, rows*out)
	kernels.SgemmPacked(&kernels.BiasGELU{Bias: b1.Value.Data(), Pre: pre}, rows, 1, x.Value.Data(), in, pw1.forward, 0, g, hidden)
	kernels.SgemmPacked(kernels.BiasCols(b2.Value.Data()), rows, 1, g, hidden, pw2.forward, 0, want, out)
	db1, db2 := make([]float32, hidden), make([]float32, out)
	dpre, dx := make([]float32, rows*hidden), make([]float32, rows*in)
	kernels.SgemmPackedColumnSums(&kernels.GELUGrad{Pre: pre, Ld: hidden}, db2, rows, 1, r.Value.Data(), out, pw2.inputGradient(), 0, dpre, hidden)
	kernels.SgemmPackedColumnSums(nil, db1, rows, 1, dpre, hidden, pw1.inputGradient(), 0, dx, in)
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"result", y.Value.Data(), want}, {"input gradient", x.Grad().Data(), dx},
		{"first bias gradient", b1.Grad().Data(), db1}, {"second bias gradient", b2.Grad().Data(), db2}} {
		if !slices.Equal(floatBitsOf(c.got), floatBitsOf(c.want)) {
			t.Errorf("%s differs from the kernels' (cosine %.9f)", c.name, numcheck.Cosine(c.want, c.got))
		}
	}
}

// floatBitsOf returns the bit patterns of s, so that NaNs compare equal and -0 differs from 0.
func floatBitsOf(s []float32) []uint32 {
	bits := make([]uint32, len(s))
	for i, v := range s {
		bits[i] = math.Float32bits(v)
	}
	return bits
}
