package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/internal/numcheck"
	"github.com/semprox/semprox/tensor"
)

const torchref = "../../testdata/torchref"

// Embedding the reference images gives PyTorch's embeddings, in file-name order: in fp32 within
// the fixtures' tolerance, in bf16 with a cosine of at least 0.999 for every image.
func TestEmbedTorchref(t *testing.T) {
	want, err := tensor.ReadNPY(filepath.Join(torchref, "embed.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, precision := range []string{"fp32", "bf16"} {
		out := filepath.Join(t.TempDir(), "emb.npy")
		err := run([]string{"-weights", filepath.Join(torchref, "vit.pth"), "-images", filepath.Join(torchref, "images"),
			"-out", out, "-heads", "2", "-resize", "64", "-crop", "32", "-batch", "1", "-threads", "2", "-precision", precision})
		if err != nil {
			t.Fatal(err)
		}
		got, err := tensor.ReadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		if got.Dim(0) != want.Dim(0) || got.Dim(1) != want.Dim(1) {
			t.Fatalf("%s: shape %v, want %v", precision, got.Shape(), want.Shape())
		}
		for i := range want.Dim(0) {
			g, w := got.Row(i).Data(), want.Row(i).Data()
			if cos := numcheck.Cosine(g, w); cos < 0.999 {
				t.Errorf("%s: image %d: cosine %.6f to PyTorch's, want at least 0.999", precision, i, cos)
			}
			for j := range w {
				if precision == "fp32" && math.Abs(float64(g[j]-w[j])) > 1e-4*3 {
					t.Fatalf("image %d, element %d: %v, want %v", i, j, g[j], w[j])
				}
			}
		}
		names, err := os.ReadFile(filepath.Join(filepath.Dir(out), "emb.names.txt"))
		if err != nil || string(names) != "000.png\n001.png\n" {
			t.Errorf("names file %q, %v", names, err)
		}
	}
}

func TestEmbedErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.png"), []byte("not a png"), 0o644)
	weights := filepath.Join(torchref, "vit.safetensors")
	cases := map[string][]string{
		"-weights or -run is required": {"-images", dir},
		"no images":                    {"-weights", weights, "-images", t.TempDir()},
		"broken.png":                   {"-weights", weights, "-images", dir, "-heads", "2", "-resize", "64", "-crop", "32"},
		"-crop 224 does not match":     {"-weights", weights, "-images", dir, "-heads", "2"},
		"-mean":                        {"-weights", weights, "-images", dir, "-mean", "1,2"},
		"vit_huge":                     {"-weights", weights, "-images", dir, "-arch", "vit_huge"},
		"-precision":                   {"-weights", weights, "-images", dir, "-precision", "int8"},
		"missing.pth":                  {"-weights", filepath.Join(dir, "missing.pth"), "-images", dir},
	}
	for want, args := range cases {
		err := run(append(args, "-out", filepath.Join(dir, "out.npy")))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one mentioning %q", args, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.npy")); err == nil {
		t.Error("a failed run left an output file")
	}
}
