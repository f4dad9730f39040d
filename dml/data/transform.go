package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	xdraw "golang.org/x/image/draw"

	"github.com/semprox/semprox/nn/vision"
)

// Transform turns a decoded image into the normalised input of a model. A Transform may also
// have a method Check(size image.Point) error, as EvalTransform has (from [vision.Preprocess]): the Loader
// calls it before Apply and treats an image it refuses, such as one whose resize would exceed
// [vision.MaxPixels], as unreadable.
type Transform interface {
	// Size is the side of the square output: Apply writes [3, Size, Size].
	Size() int
	// Apply writes the transformed img into dst (len 3*Size*Size), drawing any randomness
	// from rng alone.
	Apply(dst []float32, img image.Image, rng *rand.Rand)
}

// Train is the training augmentation of the DML reference code (torchvision's
// RandomResizedCrop(Size, Scale, Ratio) then RandomHorizontalFlip(FlipProb) then Normalize):
// a random region of the image is resized to Size x Size, so small images (IDX, 28x28) are
// upscaled to the model's input size.
type Train struct {
	Crop      int
	Scale     [2]float64 // area fraction range of the crop
	Ratio     [2]float64 // aspect ratio (width/height) range of the crop
	FlipProb  float64
	Interp    vision.Interpolation
	Mean, Std [3]float32
}

// NewTrain returns the usual training transform to size x size: scale 0.08-1, ratio 3/4-4/3,
// flip with probability 0.5, ImageNet normalisation.
func NewTrain(size int, interp vision.Interpolation) Train {
	return Train{
		Crop: size, Scale: [2]float64{0.08, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}, FlipProb: 0.5,
		Interp: interp, Mean: vision.ImageNetMean, Std: vision.ImageNetStd,
	}
}

// Size implements Transform.
func (t Train) Size() int { return t.Crop }

// Apply implements Transform. It draws the crop, then the flip, from rng.
func (t Train) Apply(dst []float32, img image.Image, rng *rand.Rand) {
	src := vision.RGB(img)
	r := CropParams(rng, src.Bounds().Dx(), src.Bounds().Dy(), t.Scale, t.Ratio)
	out := ResizedCrop(src, r, t.Crop, t.Interp)
	if rng.Float64() < t.FlipProb {
		FlipHorizontal(out)
	}
	vision.Normalize(dst, out, t.Mean, t.Std)
}

// EvalTransform adapts [vision.Preprocess] (resize the shorter side, center crop, normalise) to Transform;
// it draws nothing from rng.
type EvalTransform struct{ vision.Preprocess }

// Size implements Transform.
func (t EvalTransform) Size() int { return t.Crop }

// Apply implements Transform. It panics where Check (promoted from vision.Preprocess) fails.
func (t EvalTransform) Apply(dst []float32, img image.Image, _ *rand.Rand) {
	t.Preprocess.Apply(dst, img)
}

// CropParams draws the region of a RandomResizedCrop of a w x h image as torchvision's
// RandomResizedCrop.get_params does: up to 10 attempts at an area fraction uniform in scale
// and an aspect ratio log-uniform in ratio, sides rounded half to even, accepted when the
// region fits, placed uniformly; else the whole image clamped to the ratio range, centred.
// The result is relative to (0, 0).
func CropParams(rng *rand.Rand, w, h int, scale, ratio [2]float64) image.Rectangle {
	area := float64(w * h)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * (scale[0] + rng.Float64()*(scale[1]-scale[0]))
		aspect := math.Exp(logLo + rng.Float64()*(logHi-logLo))
		cw := int(math.RoundToEven(math.Sqrt(target * aspect)))
		ch := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			top := rng.IntN(h - ch + 1)
			left := rng.IntN(w - cw + 1)
			return image.Rect(left, top, left+cw, top+ch)
		}
	}
	in := float64(w) / float64(h)
	cw, ch := w, h
	switch {
	case in < min(ratio[0], ratio[1]):
		ch = int(math.RoundToEven(float64(cw) / min(ratio[0], ratio[1])))
	case in > max(ratio[0], ratio[1]):
		cw = int(math.RoundToEven(float64(ch) * max(ratio[0], ratio[1])))
	}
	top, left := (h-ch)/2, (w-cw)/2
	return image.Rect(left, top, left+cw, top+ch)
}

// ResizedCrop returns region r of img (r relative to img's origin) resized to size x size.
// It panics on a region outside img, and, before allocating, on a resize beyond
// [vision.MaxPixels] ([vision.CheckScale]); the Loader treats either as an unreadable image.
func ResizedCrop(img *image.NRGBA, r image.Rectangle, size int, interp vision.Interpolation) *image.NRGBA {
	r = r.Add(img.Bounds().Min)
	if !r.In(img.Bounds()) || r.Empty() {
		panic(fmt.Sprintf("data: ResizedCrop: region %v outside image %v", r, img.Bounds()))
	}
	if err := vision.CheckScale(r.Dx(), r.Dy(), size, size); err != nil {
		panic(fmt.Errorf("data: ResizedCrop: %w", err))
	}
	out := image.NewNRGBA(image.Rect(0, 0, size, size))
	k := xdraw.CatmullRom // vision.Bicubic: Pillow's BICUBIC
	if interp == vision.Bilinear {
		k = xdraw.BiLinear
	}
	k.Scale(out, out.Bounds(), img, r, xdraw.Src, nil)
	return out
}

// FlipHorizontal mirrors img left to right in place.
func FlipHorizontal(img *image.NRGBA) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			a, b := row[4*i:4*i+4:4*i+4], row[4*j:4*j+4:4*j+4]
			a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3] = b[0], b[1], b[2], b[3], a[0], a[1], a[2], a[3]
		}
	}
}

// sampleRNG returns the random stream of one sample in one epoch: a PCG seeded from (seed,
// epoch, index) through splitmix64, so that a sample's augmentation depends on nothing else.
func sampleRNG(seed uint64, epoch, index int) *rand.Rand {
	a := splitmix(seed ^ splitmix(uint64(epoch)+0x9e3779b97f4a7c15))
	b := splitmix(a ^ splitmix(uint64(index)))
	return rand.New(rand.NewPCG(a, b))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
