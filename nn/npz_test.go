package nn

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// TestTorchrefNPZ loads the fixture ViT from Google's AugReg .npz layout (vit.npz, written by
// generate.py from the same weights as vit.safetensors, with a 5-class head) and from
// vit.safetensors: every parameter is identical bit for bit, both models give the same
// embeddings of the reference images (within 1e-6 relative), and those match PyTorch's.
func TestTorchrefNPZ(t *testing.T) {
	npz, ck, err := LoadViT(filepath.Join(torchref, "vit.npz"), LoadOptions{Config: &torchrefConfig})
	if err != nil {
		t.Fatal(err)
	}
	if ck.Format != weights.NPZ || ck.Heads != torchrefConfig.Heads {
		t.Errorf("format %v, heads %d; want %v, %d", ck.Format, ck.Heads, weights.NPZ, torchrefConfig.Heads)
	}
	if want := []string{"head/bias", "head/kernel"}; !slices.Equal(ck.Ignored, want) {
		t.Errorf("ignored %v, want %v", ck.Ignored, want)
	}
	st := loadTorchrefViT(t, "vit.safetensors")

	want := st.Parameters()
	got := npz.Parameters()
	if len(got) != len(want) {
		t.Fatalf("%d parameters from the .npz, %d from the .safetensors", len(got), len(want))
	}
	for i, p := range want {
		q := got[i]
		if q.Name != p.Name || !slices.Equal(q.Var.Value.Shape(), p.Var.Value.Shape()) {
			t.Fatalf("parameter %d: %s %v from the .npz, %s %v from the .safetensors",
				i, q.Name, q.Var.Value.Shape(), p.Name, p.Var.Value.Shape())
		}
		for j, v := range p.Var.Value.Data() {
			if math.Float32bits(q.Var.Value.Data()[j]) != math.Float32bits(v) {
				t.Errorf("%s[%d]: %v from the .npz, %v from the .safetensors", p.Name, j, q.Var.Value.Data()[j], v)
				break
			}
		}
	}

	input := autodiff.Constant(readNPY(t, "input.npy"))
	embed := func(m *ViT) *tensor.Tensor {
		tp := autodiff.NewTape()
		tp.SetNoGrad(true)
		return m.Embed(tp, input, nil).Value
	}
	fromNPZ, fromST := embed(npz), embed(st)
	worst, scale := 0.0, 0.0
	for i, w := range fromST.Data() {
		worst = max(worst, math.Abs(float64(fromNPZ.Data()[i]-w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	t.Logf(".npz vs .safetensors embeddings: max error %.3g of max %.3g (%.2g relative)", worst, scale, worst/scale)
	if !(worst <= 1e-6*scale) {
		t.Errorf(".npz and .safetensors embeddings differ by %.3g, more than 1e-6 of %.3g", worst, scale)
	}
	closeTo(t, "vit.npz embedding", fromNPZ, readNPY(t, "embed.npy"), 1e-4)
}
