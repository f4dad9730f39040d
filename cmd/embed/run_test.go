package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/semprox/semprox/internal/runtest"
	"github.com/semprox/semprox/tensor"
)

// -run embeds with a model trained by cmd/train, with the run's evaluation preprocessing: the
// first test class's images get the rows the run wrote for them in test_embeddings.npy, bit
// for bit. An explicit -precision repacks the backbone, and an explicit flag wins over the
// run's preprocessing.
func TestEmbedTrainedRun(t *testing.T) {
	root := t.TempDir()
	out := runtest.Tiny(t, root)
	want, err := tensor.ReadNPY(filepath.Join(out, "test_embeddings.npy"))
	if err != nil {
		t.Fatal(err)
	}
	class4 := filepath.Join(root, "class4") // the first test class: the first 6 rows
	embed := func(args ...string) *tensor.Tensor {
		out := filepath.Join(t.TempDir(), "emb.npy")
		if err := run(append([]string{"-images", class4, "-out", out, "-threads", "2"}, args...)); err != nil {
			t.Fatal(err)
		}
		got, err := tensor.ReadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, path := range []string{out, filepath.Join(out, "best.safetensors")} {
		got := embed("-run", path, "-batch", "4")
		if !slices.Equal(got.Shape(), []int{6, want.Dim(1)}) || !slices.Equal(got.Data(), want.Data()[:6*want.Dim(1)]) {
			t.Errorf("-run %s: %v differs from the run's test embeddings", path, got.Shape())
		}
	}
	if got := embed("-run", out, "-resize", "40"); slices.Equal(got.Data(), want.Data()[:6*want.Dim(1)]) {
		t.Error("-resize 40 was ignored")
	}
	if got := embed("-run", out, "-precision", "fp32"); !within(got.Data(), want.Data()[:6*want.Dim(1)], 0.05) {
		t.Error("-precision fp32 is far from the run's embeddings")
	}
	if err := run([]string{"-images", class4, "-run", filepath.Join(root, "missing")}); err == nil {
		t.Error("-run of a missing directory did not fail")
	}
}

// within reports whether every element of a is within tol of b's, relative to b's largest.
func within(a, b []float32, tol float64) bool {
	scale := 0.0
	for _, v := range b {
		scale = max(scale, float64(abs(v)))
	}
	for i := range a {
		if float64(abs(a[i]-b[i])) > tol*scale {
			return false
		}
	}
	return true
}

func abs(v float32) float32 { return max(v, -v) }
