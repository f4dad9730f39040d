package vision

import "image"

// JPEG images arrive as YCbCr with subsampled chroma. Go's image/draw upsamples chroma by
// repeating samples; libjpeg (behind Pillow, hence behind every PyTorch data pipeline) uses
// "fancy" triangular upsampling and its own fixed-point colour conversion. ycbcrToRGB does
// the same as libjpeg for 4:2:0, 4:2:2 and 4:4:4, so decoded pixels match Pillow's up to
// differences in the inverse DCT (at most a level or so).

// ycbcrToRGB converts img as libjpeg does, or returns nil for a subsampling it does not cover.
func ycbcrToRGB(img *image.YCbCr) *image.NRGBA {
	var up upsampler
	switch img.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		up = upsample444
	case image.YCbCrSubsampleRatio422:
		up = upsample422
	case image.YCbCrSubsampleRatio420:
		up = upsample420
	default:
		return nil
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	cb, cr := make([]int32, w+1), make([]int32, w+1)
	for y := range h {
		up(cb, img.Cb, img, y)
		up(cr, img.Cr, img, y)
		yrow := img.Y[(y+b.Min.Y-img.Rect.Min.Y)*img.YStride+(b.Min.X-img.Rect.Min.X):]
		pix := out.Pix[y*out.Stride:]
		for x := range w {
			r, g, bl := libjpegRGB(int32(yrow[x]), cb[x], cr[x])
			pix[4*x], pix[4*x+1], pix[4*x+2], pix[4*x+3] = r, g, bl, 255
		}
	}
	return out
}

// upsampler writes the chroma samples of output row y (relative to the bounds) into dst.
type upsampler func(dst []int32, plane []uint8, img *image.YCbCr, y int)

// chromaRow returns chroma row cy of a plane (clamped to the plane), starting at the bounds'
// first chroma column, and the number of chroma columns.
func chromaRow(plane []uint8, img *image.YCbCr, cy, xShift, yShift int) ([]uint8, int) {
	r := img.Rect
	rows := (r.Max.Y+1)>>yShift - r.Min.Y>>yShift
	cols := (r.Max.X+1)>>xShift - r.Min.X>>xShift
	cy = min(max(cy, 0), rows-1)
	return plane[cy*img.CStride : cy*img.CStride+cols], cols
}

func upsample444(dst []int32, plane []uint8, img *image.YCbCr, y int) {
	row, cols := chromaRow(plane, img, y, 0, 0)
	for x := range cols {
		dst[x] = int32(row[x])
	}
}

// upsample422 is libjpeg's h2v1 fancy upsampling: each output sample is 3/4 of the nearest
// input sample and 1/4 of the next nearest, with alternating rounding.
func upsample422(dst []int32, plane []uint8, img *image.YCbCr, y int) {
	row, cols := chromaRow(plane, img, y, 1, 0)
	for c := range cols {
		this := 3 * int32(row[c])
		left, right := int32(row[max(c-1, 0)]), int32(row[min(c+1, cols-1)])
		dst[2*c] = (this + left + 1) >> 2
		if 2*c+1 < len(dst) {
			dst[2*c+1] = (this + right + 2) >> 2
		}
	}
}

// upsample420 is libjpeg's h2v2 fancy upsampling: a 3:1 vertical blend with the nearer
// neighbouring chroma row, then 3:1 horizontally, rounding alternately.
func upsample420(dst []int32, plane []uint8, img *image.YCbCr, y int) {
	cy := y >> 1
	near := cy - 1 // the upper output row of a pair blends with the chroma row above
	if y&1 == 1 {
		near = cy + 1
	}
	row0, cols := chromaRow(plane, img, cy, 1, 1)
	row1, _ := chromaRow(plane, img, near, 1, 1)
	sum := func(c int) int32 {
		c = min(max(c, 0), cols-1)
		return 3*int32(row0[c]) + int32(row1[c])
	}
	for c := range cols {
		this := 3 * sum(c)
		dst[2*c] = (this + sum(c-1) + 8) >> 4
		if 2*c+1 < len(dst) {
			dst[2*c+1] = (this + sum(c+1) + 7) >> 4
		}
	}
}

// libjpegRGB is libjpeg's YCbCr to RGB conversion in 16-bit fixed point (jdcolor.c's tables
// computed inline), clamped to 0-255.
func libjpegRGB(y, cb, cr int32) (r, g, b uint8) {
	const half = 1 << 15
	fix := func(x float64) int32 { return int32(x*65536 + 0.5) }
	cb -= 128
	cr -= 128
	rr := y + (fix(1.40200)*cr+half)>>16
	gg := y + (-fix(0.34414)*cb-fix(0.71414)*cr+half)>>16
	bb := y + (fix(1.77200)*cb+half)>>16
	return clamp8(rr), clamp8(gg), clamp8(bb)
}

func clamp8(v int32) uint8 { return uint8(min(max(v, 0), 255)) }
