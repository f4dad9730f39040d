package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/tensor"
)

const torchref = "../../testdata/torchref"

// Embedding the reference images gives PyTorch's embeddings, in file-name order.
func TestEmbedTorchref(t *testing.T) {
	out := filepath.Join(t.TempDir(), "emb.npy")
	err := run([]string{"-weights", filepath.Join(torchref, "vit.pth"), "-images", filepath.Join(torchref, "images"),
		"-out", out, "-heads", "2", "-resize", "64", "-crop", "32", "-batch", "1", "-threads", "2"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tensor.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.ReadNPY(filepath.Join(torchref, "embed.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Dim(0) != want.Dim(0) || got.Dim(1) != want.Dim(1) {
		t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
	}
	for i, w := range want.Data() {
		if math.Abs(float64(got.Data()[i]-w)) > 1e-4*3 {
			t.Fatalf("element %d: %v, want %v", i, got.Data()[i], w)
		}
	}
	names, err := os.ReadFile(filepath.Join(filepath.Dir(out), "emb.names.txt"))
	if err != nil || string(names) != "000.png\n001.png\n" {
		t.Errorf("names file %q, %v", names, err)
	}
}

func TestEmbedErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.png"), []byte("not a png"), 0o644)
	weights := filepath.Join(torchref, "vit.safetensors")
	cases := map[string][]string{
		"-weights is required":     {"-images", dir},
		"no images":                {"-weights", weights, "-images", t.TempDir()},
		"broken.png":               {"-weights", weights, "-images", dir, "-heads", "2", "-resize", "64", "-crop", "32"},
		"-crop 224 does not match": {"-weights", weights, "-images", dir, "-heads", "2"},
		"-mean":                    {"-weights", weights, "-images", dir, "-mean", "1,2"},
		"vit_huge":                 {"-weights", weights, "-images", dir, "-arch", "vit_huge"},
		"missing.pth":              {"-weights", filepath.Join(dir, "missing.pth"), "-images", dir},
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
