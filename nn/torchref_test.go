package nn

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/internal/numcheck"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// The fixtures in testdata/torchref are written by testdata/torchref/generate.py (see the
// README there): a random ViT with timm names, images, and PyTorch's float64 results.
const torchref = "../testdata/torchref"

// torchrefConfig is the geometry generate.py writes.
var torchrefConfig = Config{ImageSize: 32, PatchSize: 16, Dim: 64, Depth: 3, Heads: 2, MLPRatio: 4, Eps: 1e-6}

func readNPY(t *testing.T, name string) *tensor.Tensor {
	t.Helper()
	x, err := tensor.ReadNPY(filepath.Join(torchref, name))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// closeTo fails unless max|got - want| <= rtol * max|want|, the fixtures' criterion.
func closeTo(t *testing.T, what string, got, want *tensor.Tensor, rtol float64) {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	worst, scale := 0.0, 0.0
	for i, w := range want.Data() {
		worst = max(worst, math.Abs(float64(got.Data()[i]-w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	t.Logf("%s: max error %.3g of max %.3g (%.2g relative)", what, worst, scale, worst/scale)
	if !(worst <= rtol*scale) {
		t.Errorf("%s: max error %.3g exceeds %g of max %.3g", what, worst, rtol, scale)
	}
}

func loadTorchrefViT(t *testing.T, file string) *ViT {
	t.Helper()
	m, ck, err := LoadViT(filepath.Join(torchref, file), LoadOptions{Config: &torchrefConfig})
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Ignored) != 0 {
		t.Errorf("%s: ignored %v", file, ck.Ignored)
	}
	return m
}

func TestTorchrefEmbedding(t *testing.T) {
	input := autodiff.Constant(readNPY(t, "input.npy"))
	want := readNPY(t, "embed.npy")
	for _, file := range []string{"vit.safetensors", "vit.pth"} {
		m := loadTorchrefViT(t, file)
		tp := autodiff.NewTape()
		tp.SetNoGrad(true)
		closeTo(t, file+" embedding", m.Embed(tp, input, nil).Value, want, 1e-4)
	}
}

// VPT-deep prompts (the same prompts for every image), the gradients of sum(embedding * R)
// with respect to the prompts, the input and every bias (BitFit).
func TestTorchrefPromptsAndGradients(t *testing.T) {
	m := loadTorchrefViT(t, "vit.safetensors")
	SetTrainable(m.Parameters(), IsBias)
	input := autodiff.Param(readNPY(t, "input.npy"))
	all := readNPY(t, "prompts.npy") // [depth, n, D]
	prompts := make([]*autodiff.Var, all.Dim(0))
	for l := range prompts {
		prompts[l] = autodiff.Param(all.Row(l).Clone().Reshape(1, all.Dim(1), all.Dim(2)))
	}
	tp := autodiff.NewTape()
	e := m.Embed(tp, input, func(l int) *autodiff.Var { return prompts[l] })
	closeTo(t, "prompted embedding", e.Value, readNPY(t, "embed_prompted.npy"), 1e-4)
	tp.Backward(tp.Sum(tp.Mul(e, autodiff.Constant(readNPY(t, "loss_weights.npy")))))

	gradPrompts := tensor.New(all.Shape()...)
	for l, p := range prompts {
		copy(gradPrompts.Row(l).Data(), p.Grad().Data())
	}
	closeTo(t, "prompt gradients", gradPrompts, readNPY(t, "grad_prompts.npy"), 1e-3)
	closeTo(t, "input gradient", input.Grad(), readNPY(t, "grad_input.npy"), 1e-3)
	ref, err := weights.Read(filepath.Join(torchref, "grad_biases.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	biases := 0
	for _, p := range m.Parameters() {
		want, isBias := ref.Tensors[p.Name]
		if !IsBias(p.Name) {
			if p.Var.Grad() != nil {
				t.Errorf("frozen %s got a gradient", p.Name)
			}
			continue
		}
		if !isBias {
			t.Fatalf("no reference gradient for %s", p.Name)
		}
		closeTo(t, p.Name+" gradient", p.Var.Grad(), want, 1e-3)
		biases++
	}
	if biases != len(ref.Tensors) {
		t.Errorf("checked %d bias gradients, the reference has %d", biases, len(ref.Tensors))
	}
}

// The proxy tower: each image with its own class's prompts in the first class_depth blocks.
func TestTorchrefProxyTower(t *testing.T) {
	m := loadTorchrefViT(t, "vit.safetensors")
	input := autodiff.Constant(readNPY(t, "input.npy"))
	classPrompts := readNPY(t, "class_prompts.npy") // [C, depth_p, m, D]
	labels, _, err := tensor.ReadNPYInts(filepath.Join(torchref, "labels.npy"))
	if err != nil {
		t.Fatal(err)
	}
	c, depth, n, d := classPrompts.Dim(0), classPrompts.Dim(1), classPrompts.Dim(2), classPrompts.Dim(3)
	bank := autodiff.Constant(classPrompts.Reshape(c, depth*n*d))
	idx := make([]int, len(labels))
	for i, l := range labels {
		idx[i] = int(l)
	}
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	perSample := tp.Reshape(tp.GatherRows(bank, idx), len(idx), depth, n*d)
	prompts := func(l int) *autodiff.Var {
		if l >= depth {
			return nil
		}
		layer := tensor.New(len(idx), n, d)
		for b := range idx {
			copy(layer.Row(b).Data(), perSample.Value.Row(b).Row(l).Data())
		}
		return autodiff.Constant(layer)
	}
	closeTo(t, "proxy tower", m.Embed(tp, input, prompts).Value, readNPY(t, "proxy_tower.npy"), 1e-4)
}

// The GRU proxy cell run over the reference inputs, its state and its input gradients.
func TestTorchrefGRU(t *testing.T) {
	ck, err := weights.Read(filepath.Join(torchref, "gru.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	inputs := readNPY(t, "gru_inputs.npy") // [T, E]
	e := inputs.Dim(1)
	cell := NewGRUProxyCell(e, CandidateReLU)
	if err := Load(cell.Parameters(), ck.Tensors); err != nil {
		t.Fatal(err)
	}
	tp := autodiff.NewTape()
	x := autodiff.Param(inputs)
	h := autodiff.Constant(readNPY(t, "gru_h0.npy").Reshape(1, e))
	for step := range inputs.Dim(0) {
		h = cell.Step(tp, tp.GatherRows(x, []int{step}), h)
	}
	closeTo(t, "GRU state", h.Value.Reshape(e), readNPY(t, "gru_h.npy"), 1e-4)
	closeTo(t, "GRU state normalised", tp.L2Normalize(h, 1e-12).Value.Reshape(e), readNPY(t, "gru_h_normed.npy"), 1e-4)
	weightsR := autodiff.Constant(readNPY(t, "gru_loss_weights.npy").Reshape(1, e))
	tp.Backward(tp.Sum(tp.Mul(h, weightsR)))
	closeTo(t, "GRU input gradients", x.Grad(), readNPY(t, "gru_grad_inputs.npy"), 1e-3)
}

// TestTorchrefBF16 runs the fixtures with the frozen weights packed in bf16: every image's
// embedding, plain and prompted, must keep a cosine of at least 0.999 to PyTorch's float64 one,
// and the prompt and input gradients (all of them, flattened) at least 0.999. In float32, packed
// weights keep the fixtures' usual tolerance.
func TestTorchrefBF16(t *testing.T) {
	for _, p := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		m := loadTorchrefViT(t, "vit.safetensors")
		SetTrainable(m.Parameters(), func(string) bool { return false })
		if n := m.PackFrozen(p); n != 1+4*m.Depth {
			t.Fatalf("PackFrozen packed %d matrices, want %d", n, 1+4*m.Depth)
		}
		input := autodiff.Param(readNPY(t, "input.npy"))
		all := readNPY(t, "prompts.npy")
		prompts := make([]*autodiff.Var, all.Dim(0))
		for l := range prompts {
			prompts[l] = autodiff.Param(all.Row(l).Clone().Reshape(1, all.Dim(1), all.Dim(2)))
		}
		tp := autodiff.NewTape()
		plain := m.Embed(tp, input, nil).Value.Clone()
		tp.Reset()
		e := m.Embed(tp, input, func(l int) *autodiff.Var { return prompts[l] })
		tp.Backward(tp.Sum(tp.Mul(e, autodiff.Constant(readNPY(t, "loss_weights.npy")))))
		gradPrompts := tensor.New(all.Shape()...)
		for l, pr := range prompts {
			copy(gradPrompts.Row(l).Data(), pr.Grad().Data())
		}
		if p == kernels.FP32 {
			closeTo(t, "packed fp32 embedding", plain, readNPY(t, "embed.npy"), 1e-4)
			closeTo(t, "packed fp32 prompt gradients", gradPrompts, readNPY(t, "grad_prompts.npy"), 1e-3)
			continue
		}
		for _, c := range []struct {
			name      string
			got, want *tensor.Tensor
		}{{"embedding", plain, readNPY(t, "embed.npy")}, {"prompted embedding", e.Value, readNPY(t, "embed_prompted.npy")}} {
			worst := 1.0
			for i := range c.want.Dim(0) {
				worst = min(worst, numcheck.Cosine(c.got.Row(i).Data(), c.want.Row(i).Data()))
			}
			t.Logf("bf16 %s: least cosine to PyTorch's float64 %.6f over %d images", c.name, worst, c.want.Dim(0))
			if worst < 0.999 {
				t.Errorf("bf16 %s: cosine %.6f, want at least 0.999", c.name, worst)
			}
		}
		for _, c := range []struct {
			name      string
			got, want *tensor.Tensor
		}{{"prompt gradients", gradPrompts, readNPY(t, "grad_prompts.npy")}, {"input gradient", input.Grad(), readNPY(t, "grad_input.npy")}} {
			cos := numcheck.Cosine(c.got.Data(), c.want.Data())
			t.Logf("bf16 %s: cosine to PyTorch's float64 %.6f", c.name, cos)
			if cos < 0.999 {
				t.Errorf("bf16 %s: cosine %.6f, want at least 0.999", c.name, cos)
			}
		}
	}
}
