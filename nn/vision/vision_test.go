package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/tensor"
)

func load(t *testing.T, name string) *image.NRGBA {
	t.Helper()
	img, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return RGB(img)
}

// pixelDiff returns the largest and the mean absolute difference of the RGB channels.
func pixelDiff(t *testing.T, a, b *image.NRGBA) (worst int, mean float64) {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes %v and %v differ", a.Bounds().Size(), b.Bounds().Size())
	}
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	total := 0
	for y := range h {
		for x := range w {
			for c := range 3 {
				d := int(a.Pix[y*a.Stride+4*x+c]) - int(b.Pix[y*b.Stride+4*x+c])
				d = max(d, -d)
				worst = max(worst, d)
				total += d
			}
		}
	}
	return worst, float64(total) / float64(3*w*h)
}

// Resizing agrees with Pillow's (the reference files were written by PIL.Image.resize) to
// within rounding: x/image works in 16 bits, Pillow in 8 with its own rounding.
func TestResizeMatchesPillow(t *testing.T) {
	src := load(t, "src.png")
	cases := []struct {
		file   string
		size   int
		interp Interpolation
	}{
		{"pil_bicubic_26x20.png", 20, Bicubic},
		{"pil_bilinear_26x20.png", 20, Bilinear},
		{"pil_bicubic_80x60.png", 60, Bicubic},
	}
	for _, c := range cases {
		worst, mean := pixelDiff(t, ResizeShorter(src, c.size, c.interp), load(t, c.file))
		t.Logf("%s: largest difference %d, mean %.3f", c.file, worst, mean)
		if worst > 4 || mean > 0.5 {
			t.Errorf("%s: largest difference %d, mean %.3f levels", c.file, worst, mean)
		}
	}
	if ResizeShorter(src, 36, Bicubic) != src {
		t.Error("resizing to the same size made a copy")
	}
}

func TestDecodeColourModels(t *testing.T) {
	rgb := load(t, "src.png")
	gray := load(t, "gray.png")
	if p := gray.Pix[4*5:]; p[0] != p[1] || p[1] != p[2] {
		t.Errorf("grayscale pixel decoded as %v", p[:3])
	}
	// Pillow's decodes of the JPEGs, converted to RGB, are the reference (IDCTs differ slightly).
	for _, name := range []string{"rgb", "cmyk", "odd420", "rgb422", "rgb444"} {
		worst, mean := pixelDiff(t, load(t, name+".jpg"), load(t, name+"_pil.png"))
		t.Logf("%s.jpg: largest difference %d, mean %.3f", name, worst, mean)
		if worst > 3 || mean > 0.2 {
			t.Errorf("%s.jpg: mean difference %.2f (worst %d) from Pillow's decode", name, mean, worst)
		}
	}
	if rgb.Bounds().Dx() != 48 {
		t.Errorf("src.png is %v wide, want 48", rgb.Bounds().Dx())
	}
	if _, err := Load(filepath.Join("testdata", "missing.png")); err == nil {
		t.Error("missing file loaded")
	}
	if _, err := Load("vision.go"); err == nil || !strings.Contains(err.Error(), "vision.go") {
		t.Errorf("non-image error %v does not name the file", err)
	}
}

// RGB's copy of a grayscale image is draw.Draw's, for a sub-image too.
func TestRGBGrayMatchesDraw(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 37, 23))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 97)
	}
	for _, img := range []*image.Gray{g, g.SubImage(image.Rect(5, 3, 30, 20)).(*image.Gray)} {
		b := img.Bounds()
		want := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(want, want.Bounds(), img, b.Min, draw.Src)
		if got := RGB(img); !bytes.Equal(got.Pix, want.Pix) || got.Rect != want.Rect {
			t.Errorf("%v: RGB differs from draw.Draw", b)
		}
	}
}

func TestCenterCropAndNormalize(t *testing.T) {
	src := load(t, "src.png") // 48 x 36
	crop := CenterCrop(src, 20)
	if crop.Bounds().Dx() != 20 || crop.Bounds().Dy() != 20 {
		t.Fatalf("crop is %v", crop.Bounds())
	}
	// torchvision: left = round((48-20)/2) = 14, top = round((36-20)/2) = 8
	for c := range 4 {
		if crop.Pix[c] != src.Pix[8*src.Stride+4*14+c] {
			t.Fatal("crop offset differs from torchvision's")
		}
	}
	dst := make([]float32, 3*20*20)
	mean, std := [3]float32{0.5, 0.4, 0.3}, [3]float32{0.2, 0.25, 0.5}
	Normalize(dst, crop, mean, std)
	for c := range 3 {
		want := (float64(crop.Pix[4*(3*20+7)+c])/255 - float64(mean[c])) / float64(std[c])
		if got := float64(dst[c*400+3*20+7]); math.Abs(got-want) > 1e-6 {
			t.Errorf("channel %d: %v, want %v", c, got, want)
		}
	}
	padded := CenterCrop(crop, 24)
	if padded.Pix[0] != 0 || padded.Pix[3] != 0 {
		t.Error("padding of a small image is not black")
	}
}

// The reference images of testdata/torchref through Resize(64), CenterCrop(32) and
// Normalize(0.5, 0.5) are PyTorch's input.npy.
func TestEvalMatchesTorchref(t *testing.T) {
	want, err := tensor.ReadNPY(filepath.Join("..", "..", "testdata", "torchref", "input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	half := [3]float32{0.5, 0.5, 0.5}
	tr := Preprocess{Resize: 64, Crop: 32, Interp: Bicubic, Mean: half, Std: half}
	for b := range want.Dim(0) {
		img, err := Load(filepath.Join("..", "..", "testdata", "torchref", "images", fmt.Sprintf("%03d.png", b)))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, want.Row(b).Len())
		tr.Apply(got, img)
		for i, w := range want.Row(b).Data() {
			if math.Abs(float64(got[i]-w)) > 1e-6 {
				t.Fatalf("image %d element %d: %v, want %v", b, i, got[i], w)
			}
		}
	}
}
