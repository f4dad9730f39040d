package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"math"

	xdraw "golang.org/x/image/draw"
)

// RGB returns img as 8-bit non-premultiplied RGBA (alpha ignored later, as Pillow's
// convert("RGB") does), converting any colour model; JPEG's YCbCr as libjpeg converts it.
func RGB(img image.Image) *image.NRGBA {
	switch m := img.(type) {
	case *image.NRGBA:
		return m
	case *image.YCbCr:
		if out := ycbcrToRGB(m); out != nil {
			return out
		}
	case *image.Gray:
		return grayToRGB(m)
	}
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

// grayToRGB is what draw.Draw makes of a grayscale image, each level copied to R, G and B
// with an opaque alpha, without its colour conversion per pixel.
func grayToRGB(img *image.Gray) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][:b.Dx()]
		pix := out.Pix[y*out.Stride:]
		for x, v := range row {
			pix[4*x], pix[4*x+1], pix[4*x+2], pix[4*x+3] = v, v, v, 255
		}
	}
	return out
}

// Interpolation selects the resampling filter of a resize.
type Interpolation int

const (
	// Bicubic is Catmull-Rom, Pillow's BICUBIC (torchvision's default for timm models).
	Bicubic Interpolation = iota
	// Bilinear is Pillow's BILINEAR.
	Bilinear
)

// ParseInterpolation parses "bicubic" or "bilinear".
func ParseInterpolation(s string) (Interpolation, error) {
	switch s {
	case "bicubic":
		return Bicubic, nil
	case "bilinear":
		return Bilinear, nil
	}
	return 0, fmt.Errorf("vision: unknown interpolation %q: want bicubic or bilinear", s)
}

// String returns the name ParseInterpolation reads.
func (i Interpolation) String() string {
	if i == Bilinear {
		return "bilinear"
	}
	return "bicubic"
}

func (i Interpolation) kernel() *xdraw.Kernel {
	if i == Bilinear {
		return xdraw.BiLinear
	}
	return xdraw.CatmullRom
}

// ResizeShorter scales img so that its shorter side is size, keeping the aspect ratio as
// torchvision's Resize(size) does (the longer side becomes floor(size*long/short)). The
// filter widens when shrinking, so downscaling averages like Pillow's. An image already of
// that size is returned unchanged. It panics, before allocating, where CheckResize reports an
// error: an empty image, or one whose resize would exceed MaxPixels.
func ResizeShorter(img *image.NRGBA, size int, interp Interpolation) *image.NRGBA {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if err := CheckResize(w, h, size); err != nil {
		panic(err)
	}
	nw, nh := resizedSize(w, h, size)
	if nw == w && nh == h {
		return img
	}
	out := image.NewNRGBA(image.Rect(0, 0, nw, nh))
	interp.kernel().Scale(out, out.Bounds(), img, img.Bounds(), xdraw.Src, nil)
	return out
}

// CheckResize reports an error unless ResizeShorter can resize a w x h image to size: the
// image has pixels and the resize stays within MaxPixels (CheckScale). A very elongated image
// fails it: resizing 1 x 2,000,000 to a shorter side of 256 would make 256 x 512,000,000.
func CheckResize(w, h, size int) error {
	if w <= 0 || h <= 0 || size <= 0 {
		return fmt.Errorf("resizing %dx%d to a shorter side of %d: no pixels", w, h, size)
	}
	nw, nh := resizedSize(w, h, size)
	return CheckScale(w, h, nw, nh)
}

// resizedSize is the size of a w x h image (both positive) resized to a shorter side of size.
func resizedSize(w, h, size int) (nw, nh int) {
	nw, nh = size, size
	if w < h {
		nh = int(float64(size) * float64(h) / float64(w))
	} else {
		nw = int(float64(size) * float64(w) / float64(h))
	}
	return nw, nh
}

// CenterCrop returns the central size x size region of img (torchvision's rounding of the
// offsets); an image smaller than size on a side is padded with black there, as torchvision
// pads.
func CenterCrop(img *image.NRGBA, size int) *image.NRGBA {
	b := img.Bounds()
	left := int(math.Round(float64(b.Dx()-size) / 2))
	top := int(math.Round(float64(b.Dy()-size) / 2))
	out := image.NewNRGBA(image.Rect(0, 0, size, size))
	draw.Draw(out, out.Bounds(), img, image.Pt(b.Min.X+left, b.Min.Y+top), draw.Src)
	return out
}

// Normalize writes img ([H, W] pixels) into dst as [3, H, W] with
// dst[c, y, x] = (pixel_c / 255 - mean[c]) / std[c]. len(dst) must be 3*H*W.
func Normalize(dst []float32, img *image.NRGBA, mean, std [3]float32) {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	if len(dst) != 3*w*h {
		panic(fmt.Sprintf("vision: Normalize: len(dst) = %d, want 3*%d*%d", len(dst), h, w))
	}
	var scale, shift [3]float32
	for c := range 3 {
		scale[c] = 1 / (255 * std[c])
		shift[c] = -mean[c] / std[c]
	}
	plane := w * h
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			for c := range 3 {
				dst[c*plane+y*w+x] = float32(row[4*x+c])*scale[c] + shift[c]
			}
		}
	}
}

// Preprocess is the evaluation transform of DML papers and timm: resize the shorter side to Resize,
// center crop Crop, normalise.
type Preprocess struct {
	Resize, Crop int
	Interp       Interpolation
	Mean, Std    [3]float32
}

// ImageNetMean and ImageNetStd are the normalisation of DINO and most timm models; AugReg's
// in21k models use 0.5 for both.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Check reports an error unless Apply can transform an image of the given size within
// MaxPixels: the crop, and the resize (CheckResize), where Apply panics if it fails.
func (t Preprocess) Check(size image.Point) error {
	if t.Crop <= 0 {
		return fmt.Errorf("a center crop of %d: no pixels", t.Crop)
	}
	if tooMany(t.Crop, t.Crop, MaxPixels) {
		return fmt.Errorf("%w: a center crop of %d is over the limit of %d pixels (vision.MaxPixels)", ErrTooLarge, t.Crop, MaxPixels)
	}
	return CheckResize(size.X, size.Y, t.Resize)
}

// ApplyFile loads the image file at path (see Load) and writes it transformed into dst,
// [3, Crop, Crop]. An image that Check refuses is an error naming the file, as Load's are.
func (t Preprocess) ApplyFile(dst []float32, path string) error {
	img, err := Load(path)
	if err != nil {
		return err
	}
	if err := t.Check(img.Bounds().Size()); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	t.Apply(dst, img)
	return nil
}

// ApplyBytes decodes the image file held in b, as ApplyFile decodes one on disk (see Load: its
// header is checked before it is decoded), and writes it transformed into dst, [3, Crop, Crop].
// Errors name the file as name.
func (t Preprocess) ApplyBytes(dst []float32, b []byte, name string) error {
	img, err := decodeBounded(bytes.NewReader(b))
	if err == nil {
		err = t.Check(img.Bounds().Size())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	t.Apply(dst, img)
	return nil
}

// Apply writes the transformed img into dst, [3, Crop, Crop].
func (t Preprocess) Apply(dst []float32, img image.Image) {
	Normalize(dst, CenterCrop(ResizeShorter(RGB(img), t.Resize, t.Interp), t.Crop), t.Mean, t.Std)
}
