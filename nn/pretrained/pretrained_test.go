package pretrained

import (
	"math"
	"strings"
	"testing"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// The embedded backbone loads as vit_micro_patch4_28, with its record, and embeds a zero
// image into finite values.
func TestFashionMNIST(t *testing.T) {
	vit, info, err := FashionMNIST()
	if err != nil {
		t.Fatal(err)
	}
	if info.Arch != "vit_micro_patch4_28" || vit.Config != nn.Configs["vit_micro_patch4_28"] || info.Config != vit.Config {
		t.Fatalf("arch %q, config %+v", info.Arch, vit.Config)
	}
	if info.Mean != [3]float32{0.5, 0.5, 0.5} || info.Std != [3]float32{0.5, 0.5, 0.5} || info.Classes != 10 ||
		!(info.TestAccuracy > 0.5 && info.TestAccuracy <= 1) || !strings.HasPrefix(info.Command, "go run ./cmd/pretrain") {
		t.Errorf("info %+v", info)
	}
	if e := info.Eval(); e.Crop != 28 || e.Resize != 28 || e.Mean != info.Mean {
		t.Errorf("Eval %+v", e)
	}
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	emb := vit.Embed(tp, autodiff.Constant(tensor.New(2, 3, 28, 28)), nil)
	if s := emb.Shape(); len(s) != 2 || s[0] != 2 || s[1] != 96 {
		t.Fatalf("embedding shape %v, want [2 96]", s)
	}
	for i, v := range emb.Value.Data() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("embedding[%d] = %v", i, v)
		}
	}
}

// Each call returns a copy of its own: training one does not change the next.
func TestFashionMNISTCopies(t *testing.T) {
	a, _, err := FashionMNIST()
	if err != nil {
		t.Fatal(err)
	}
	a.ClsToken.Value.Data()[0] += 1
	b, _, _ := FashionMNIST()
	if b.ClsToken.Value.Data()[0] == a.ClsToken.Value.Data()[0] {
		t.Error("two calls share their weights")
	}
}

// A JSON that was not written with the tensors is refused, naming the file.
func TestLoadRefusesMismatchedJSON(t *testing.T) {
	meta := append([]byte(nil), fashionMNISTMeta...)
	meta[len(meta)-2] = ' '
	_, _, err := load(FashionMNISTPath, fashionMNISTTensors, meta)
	if err == nil || !strings.Contains(err.Error(), "nn/pretrained/fashion_mnist_vit.json") || !strings.Contains(err.Error(), "not saved together") {
		t.Errorf("error %v", err)
	}
}
