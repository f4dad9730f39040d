package data

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/semprox/semprox/nn/vision"
)

// numbered returns a w x h image whose pixel (x, y) is (x, y, x+y*w, 255) (values mod 256).
func numbered(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Pix[y*img.Stride+4*x+0] = uint8(x)
			img.Pix[y*img.Stride+4*x+1] = uint8(y)
			img.Pix[y*img.Stride+4*x+2] = uint8(x + y*w)
			img.Pix[y*img.Stride+4*x+3] = 255
		}
	}
	return img
}

func TestCropParamsFallback(t *testing.T) {
	// a scale range that never fits forces torchvision's central fallback
	rng := rand.New(rand.NewPCG(1, 2))
	never := [2]float64{2, 3}
	ratio := [2]float64{3.0 / 4, 4.0 / 3}
	for _, c := range []struct {
		w, h int
		want image.Rectangle
	}{
		{100, 10, image.Rect(43, 0, 56, 10)}, // too wide: h=10, w=round(10*4/3)=13, left=(100-13)/2
		{10, 100, image.Rect(0, 43, 10, 56)}, // too tall: w=10, h=round(10/(3/4))=13
		{50, 40, image.Rect(0, 0, 50, 40)},   // ratio 1.25 within range: the whole image
		{12, 9, image.Rect(0, 0, 12, 9)},     // exactly 4/3
	} {
		if got := CropParams(rng, c.w, c.h, never, ratio); got != c.want {
			t.Errorf("%dx%d: %v, want %v", c.w, c.h, got, c.want)
		}
	}
}

func TestCropParamsRanges(t *testing.T) {
	scale, ratio := [2]float64{0.08, 1}, [2]float64{3.0 / 4, 4.0 / 3}
	for seed := range uint64(2000) {
		w, h := 1+int(seed%97), 1+int(seed*7%131)
		rng := rand.New(rand.NewPCG(seed, 0))
		r := CropParams(rng, w, h, scale, ratio)
		if r.Empty() || !r.In(image.Rect(0, 0, w, h)) {
			t.Fatalf("%dx%d seed %d: crop %v", w, h, seed, r)
		}
		again := CropParams(rand.New(rand.NewPCG(seed, 0)), w, h, scale, ratio)
		if again != r {
			t.Fatalf("not deterministic: %v then %v", r, again)
		}
		// big images almost always succeed within 10 attempts: then area and ratio are in range
		if w > 60 && h > 60 && r.Dx() != w && r.Dy() != h {
			a := float64(r.Dx()*r.Dy()) / float64(w*h)
			ar := float64(r.Dx()) / float64(r.Dy())
			if a < 0.07 || a > 1.01 || ar < 0.7 || ar > 1.4 {
				t.Fatalf("%dx%d: crop %v has area %.3f, ratio %.3f", w, h, r, a, ar)
			}
		}
	}
}

func TestResizedCropIdentityScale(t *testing.T) {
	// a region of the output's size is copied exactly: the bicubic and bilinear kernels
	// sample at pixel centres with weights 1, 0, 0, ...
	img := numbered(9, 7)
	for _, interp := range []vision.Interpolation{vision.Bicubic, vision.Bilinear} {
		out := ResizedCrop(img, image.Rect(3, 2, 7, 6), 4, interp)
		for y := range 4 {
			for x := range 4 {
				got := out.NRGBAAt(x, y)
				want := img.NRGBAAt(x+3, y+2)
				if got != want {
					t.Fatalf("interp %d (%d,%d): %v, want %v", interp, x, y, got, want)
				}
			}
		}
	}
}

func TestResizedCropUpscaleConstant(t *testing.T) {
	// a constant 28x28 grayscale image (IDX-sized) upscales to a constant 224x224 RGB one
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range g.Pix {
		g.Pix[i] = 77
	}
	out := ResizedCrop(vision.RGB(g), image.Rect(0, 0, 28, 28), 224, vision.Bicubic)
	for i, v := range out.Pix {
		if want := uint8(77); i%4 != 3 && v != want || i%4 == 3 && v != 255 {
			t.Fatalf("byte %d: %d", i, v)
		}
	}
}

func TestFlipHorizontal(t *testing.T) {
	for _, w := range []int{1, 4, 5} {
		img := numbered(w, 3)
		FlipHorizontal(img)
		for y := range 3 {
			for x := range w {
				if got, want := img.NRGBAAt(x, y), numbered(w, 3).NRGBAAt(w-1-x, y); got != want {
					t.Fatalf("w %d (%d,%d): %v, want %v", w, x, y, got, want)
				}
			}
		}
	}
}

// TestTrainApply checks the whole training transform where it is hand-computable: a crop of
// the full square image at its own size, flipped or not, then normalised.
func TestTrainApply(t *testing.T) {
	img := numbered(6, 6)
	for _, flip := range []float64{0, 1} {
		tr := Train{Crop: 6, Scale: [2]float64{1, 1}, Ratio: [2]float64{1, 1}, FlipProb: flip,
			Interp: vision.Bicubic, Mean: vision.ImageNetMean, Std: vision.ImageNetStd}
		dst := make([]float32, 3*6*6)
		tr.Apply(dst, img, rand.New(rand.NewPCG(3, 4)))
		for c := range 3 {
			for y := range 6 {
				for x := range 6 {
					sx := x
					if flip == 1 {
						sx = 5 - x
					}
					p := img.Pix[y*img.Stride+4*sx+c]
					want := (float32(p)/255 - tr.Mean[c]) / tr.Std[c]
					if got := dst[c*36+y*6+x]; math.Abs(float64(got-want)) > 1e-5 {
						t.Fatalf("flip %v c%d (%d,%d): %v, want %v", flip, c, x, y, got, want)
					}
				}
			}
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	img := numbered(50, 40)
	tr := NewTrain(16, vision.Bilinear)
	a, b := make([]float32, 3*16*16), make([]float32, 3*16*16)
	tr.Apply(a, img, sampleRNG(7, 1, 3))
	tr.Apply(b, img, sampleRNG(7, 1, 3))
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same stream, different output")
		}
	}
	tr.Apply(b, img, sampleRNG(7, 2, 3))
	same := true
	for i := range a {
		same = same && a[i] == b[i]
	}
	if same {
		t.Error("another epoch gives the same augmentation")
	}
}
