package weights

import (
	"slices"
	"testing"
)

// TestTorchrefSafetensorsAndPthAgree reads the shared fixture ViT from its safetensors and
// its torch.save file: both give the same timm names with the shapes of the fixture's
// configuration (D=64, depth 3, patch 16, 5 tokens) and bit-identical values.
func TestTorchrefSafetensorsAndPthAgree(t *testing.T) {
	st := mustRead(t, torchrefDir+"/vit.safetensors")
	pt := mustRead(t, torchrefDir+"/vit.pth")
	if st.Format != Safetensors || pt.Format != PyTorch || pt.StateDictKey != "" {
		t.Fatalf("formats %v / %v, key %q", st.Format, pt.Format, pt.StateDictKey)
	}
	if st.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", st.Metadata)
	}
	shapes := vitShapes(64, 3, 16, 5)
	if err := Check(shapes, st.Tensors); err != nil {
		t.Errorf("safetensors: %v", err)
	}
	if err := Check(shapes, pt.Tensors); err != nil {
		t.Errorf("pth: %v", err)
	}
	a, b := slices.Sorted(slices.Values(st.Names)), slices.Sorted(slices.Values(pt.Names))
	if !slices.Equal(a, b) {
		t.Fatalf("names differ:\n%v\n%v", a, b)
	}
	if pt.Names[0] != "cls_token" || pt.Names[len(pt.Names)-1] != "norm.bias" {
		t.Errorf("pth names not in state dict order: %v", pt.Names)
	}
	for _, name := range st.Names {
		if !sameBits(st.Tensors[name], pt.Tensors[name]) {
			t.Errorf("%s differs between the two files", name)
		}
		if st.DTypes[name] != F32 || pt.DTypes[name] != F32 {
			t.Errorf("%s: dtypes %v / %v", name, st.DTypes[name], pt.DTypes[name])
		}
	}
	// Spot-check a value against its position: a qkv weight is [3D, D], row-major.
	w := st.Tensors["blocks.2.attn.qkv.weight"]
	if w.At(191, 63) != w.Data()[191*64+63] || w.At(191, 63) == 0 {
		t.Error("qkv weight layout")
	}
}

// TestTorchrefGradBiases reads the other safetensors file of the fixture set: one bias
// gradient per BitFit parameter.
func TestTorchrefGradBiases(t *testing.T) {
	c := mustRead(t, torchrefDir+"/grad_biases.safetensors")
	shapes := map[string][]int{}
	for name, s := range vitShapes(64, 3, 16, 5) {
		if len(name) > 5 && name[len(name)-5:] == ".bias" {
			shapes[name] = s
		}
	}
	if err := Check(shapes, c.Tensors); err != nil {
		t.Error(err)
	}
}
