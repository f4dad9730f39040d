package data

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
	"github.com/semprox/semprox/nn/vision"
)

// hostileDir holds nn/vision's image bombs: headers declaring 100000x100000 (PNG) and
// 65535x65535 (GIF), and a valid 1x2000000 PNG.
const hostileDir = "../../nn/vision/testdata"

var hostileFiles = []string{"bomb_100000x100000.png", "bomb_65535x65535.gif", "tall_1x2000000.png"}

// bombFixture is a folder split of classes a and b, four JPEGs each, with the image bombs
// added to class a.
func bombFixture(t *testing.T) *Split {
	root := t.TempDir()
	makeFolder(t, root, []string{"a", "b"}, 4, "")
	for _, f := range hostileFiles {
		b, err := os.ReadFile(filepath.Join(hostileDir, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, "a", f), b)
	}
	ds, err := ReadFolder(root, 2)
	if err != nil {
		t.Fatal(err)
	}
	return ds.Split("train")
}

// The loader treats an image bomb as any unreadable image, within 4 GB of address space and
// 5 s: named and counted in Skips, replaced by another image of its class. The training
// transform (crop, then resize) refuses the two header bombs; the tall image costs it nothing
// (its crop is 1x1). The evaluation transform (resize, then crop) refuses all three.
func TestLoaderSkipsBombs(t *testing.T) {
	eval := EvalTransform{vision.Preprocess{Resize: 18, Crop: 16, Interp: vision.Bilinear, Mean: vision.ImageNetMean, Std: vision.ImageNetStd}}
	for _, c := range []struct {
		name    string
		tf      Transform
		skipped []string
	}{
		{"train", NewTrain(16, vision.Bilinear), hostileFiles[:2]},
		{"eval", eval, hostileFiles},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !childtest.Child(t) {
				childtest.RunLimited(t, 4<<30, 5*time.Second)
				return
			}
			sp := bombFixture(t)
			l := NewLoader(LoaderConfig{Split: sp, Transform: c.tf, Workers: 2, Seed: 1})
			b, ok := l.Stream(0, Sequential{N: len(sp.Samples), BatchSize: len(sp.Samples)}.Batches(0)).Next()
			l.Close()
			if !ok || b.Images.Dim(0) != len(sp.Samples) {
				t.Fatalf("no full batch: %v", b)
			}
			for k, idx := range b.Indices {
				if b.Labels[k] != sp.Samples[k].Label || sp.Samples[idx].Label != sp.Samples[k].Label {
					t.Errorf("row %d (%s) replaced by sample %d of another class", k, sp.Samples[k].Path, idx)
				}
			}
			checkSkips(t, l.Skips(), c.skipped)
		})
	}
}

// checkSkips checks that skips holds exactly the files named, each as too large.
func checkSkips(t *testing.T, skips *Skips, files []string) {
	t.Helper()
	var got []string
	for _, s := range skips.Named() {
		got = append(got, filepath.Base(s.Path))
		if !errors.Is(s.Err, vision.ErrTooLarge) || strings.Contains(s.Err.Error(), s.Path) {
			t.Errorf("%s: %v, want image too large (without the path, printed beside it)", s.Path, s.Err)
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(files)); !slices.Equal(got, want) || skips.Total() != len(files) {
		t.Errorf("skipped %v (total %d), want %v", got, skips.Total(), want)
	}
}

// The training transform turns the tall image's 1x1 crop into a uniform black input.
func TestTrainTallImage(t *testing.T) {
	if !childtest.Child(t) {
		childtest.RunLimited(t, 4<<30, 5*time.Second)
		return
	}
	img, err := vision.Load(filepath.Join(hostileDir, "tall_1x2000000.png"))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 3*16*16)
	NewTrain(16, vision.Bicubic).Apply(dst, img, rand.New(rand.NewPCG(1, 2)))
	for c := range 3 {
		want := -vision.ImageNetMean[c] / vision.ImageNetStd[c]
		if i := slices.IndexFunc(dst[c*256:(c+1)*256], func(v float32) bool { return v != want }); i >= 0 {
			t.Fatalf("channel %d pixel %d: %v, want %v", c, i, dst[c*256+i], want)
		}
	}
}

// ResizedCrop refuses, before allocating, a region whose resize would exceed MaxPixels.
func TestResizedCropBounded(t *testing.T) {
	img := numbered(2, 200_000) // a region 2 wide and 200000 tall: working buffer 224 x 200000
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, vision.ErrTooLarge) || !strings.Contains(err.Error(), "ResizedCrop") {
			t.Errorf("ResizedCrop panicked with %v, want image too large", err)
		}
	}()
	ResizedCrop(img, img.Bounds(), 224, vision.Bicubic)
}
