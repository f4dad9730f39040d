package data

import (
	"os"
	"strings"
	"testing"

	"github.com/semprox/semprox/nn/vision"
)

func TestOpen(t *testing.T) {
	root := makeCUB(t)
	ds, err := Open("cub", root)
	if err != nil || ds.Name != "cub" || len(ds.Split("train").Samples) != 6 {
		t.Fatalf("Open(cub): %v, %v", ds, err)
	}
	if _, err := Open("sop", ""); err == nil {
		t.Error("sop without a directory: no error")
	}
	if _, err := Open("imagenet", root); err == nil || !strings.Contains(err.Error(), "cub, cars") {
		t.Errorf("unknown dataset: %v", err)
	}
}

// TestFashionMNIST reads the Debian package's files when they are installed.
func TestFashionMNIST(t *testing.T) {
	if _, err := os.Stat(FashionMNISTDir); err != nil || testing.Short() {
		t.Skip("dataset-fashion-mnist not installed")
	}
	ds, err := Open("fashion-mnist", "")
	if err != nil {
		t.Fatal(err)
	}
	if tr, te := ds.Split("train"), ds.Split("test"); len(tr.Samples) != 30000 || len(te.Samples) != 5000 || tr.Classes != 5 {
		t.Errorf("splits %d, %d", len(tr.Samples), len(te.Samples))
	}
}

// TestTrainColourModels runs the training transform on the grayscale and CMYK test images of
// nn/vision: both come out as three channels of the right size.
func TestTrainColourModels(t *testing.T) {
	for _, name := range []string{"gray.png", "cmyk.jpg", "rgb422.jpg"} {
		img, err := vision.Load("../../nn/vision/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 3*20*20)
		NewTrain(20, vision.Bicubic).Apply(dst, img, sampleRNG(1, 0, 0))
		lo, hi := float32(1e9), float32(-1e9)
		for _, v := range dst {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo < -2.2 || hi > 2.7 || lo == hi {
			t.Errorf("%s: values in [%v, %v]", name, lo, hi)
		}
	}
}
