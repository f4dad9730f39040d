package vision

import (
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // decoders registered with image.Decode
	_ "image/jpeg" //
	_ "image/png"  //
	"io"
	"io/fs"
	"os"
)

// DefaultMaxPixels is the default of MaxPixels: 100 megapixels, a 10000 x 10000 image, several
// times the largest image of the benchmarks this module reads. CUB-200-2011's and iNaturalist
// 2018's images have sides of about 500 and 800 pixels at most, In-Shop's are about a
// megapixel, and the largest photos of Cars196 and Stanford Online Products have a few tens
// of megapixels at most. Decoded, 100 megapixels take 400 MB (800 MB at 16 bits per channel).
const DefaultMaxPixels = 100_000_000

// MaxPixels bounds, in pixels (width x height), the images that Load decodes, as their headers
// declare them, and what a resize makes of them (see CheckScale). Change it before loading
// starts: it is read without synchronisation.
var MaxPixels = DefaultMaxPixels

// scaleBufferCost is how many pixels' worth of bytes one entry of a resize's working buffer
// takes: four float64 channels (32 bytes) against four bytes.
const scaleBufferCost = 8

var (
	// ErrTooLarge is wrapped by the errors about an image, or a resize of one, beyond MaxPixels.
	ErrTooLarge = errors.New("image too large")
	// ErrNotRegular is wrapped by the errors about a path that is not a regular file (nor a
	// link to one): a directory, a named pipe, a device or a socket.
	ErrNotRegular = errors.New("not a regular file")
)

// Load decodes the image file at path: a regular file, or a link to one, in a registered
// format, whose header declares a size of at most MaxPixels pixels and no side of zero. The
// header is read first, so a larger image is refused (ErrTooLarge) without being decoded; a
// named pipe, device or directory is refused (ErrNotRegular) without blocking on it. Errors
// name the file.
func Load(path string) (image.Image, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := decodeBounded(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// openRegular opens path for reading if it is a regular file. It checks before opening, so
// that nothing else is opened, and again on the open file (opened without blocking), in case
// the path changed in between.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err == nil {
		err = checkRegular(path, st)
	}
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = checkRegular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkRegular reports an error naming path unless st is a regular file's.
func checkRegular(path string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	kind := "a special file"
	switch t := st.Mode().Type(); {
	case t&fs.ModeDir != 0:
		kind = "a directory"
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("%s: %w", path, fmt.Errorf("%w: %s", ErrNotRegular, kind))
}

// decodeBounded decodes the image of r after checking the size its header declares.
func decodeBounded(r io.ReadSeeker) (image.Image, error) {
	c, _, err := image.DecodeConfig(r)
	if err != nil {
		return nil, err
	}
	if err := checkDeclared(c.Width, c.Height); err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(r)
	return img, err
}

// checkDeclared checks the size an image header declares.
func checkDeclared(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("declared size %dx%d: no pixels", w, h)
	}
	if tooMany(w, h, MaxPixels) {
		return fmt.Errorf("%w: declared size %dx%d is over the limit of %d pixels (vision.MaxPixels)", ErrTooLarge, w, h, MaxPixels)
	}
	return nil
}

// CheckScale reports an error (wrapping ErrTooLarge) if scaling a sw x sh region to dw x dh
// would exceed MaxPixels: its output, dw x dh pixels, or its working buffer, dw x sh entries
// of eight pixels' bytes each (the filter runs along rows, then along columns). ResizeShorter
// and every resize of a transform check it before allocating anything.
func CheckScale(sw, sh, dw, dh int) error {
	if dw <= 0 || dh <= 0 || sw <= 0 || sh <= 0 {
		return fmt.Errorf("resizing %dx%d to %dx%d: no pixels", sw, sh, dw, dh)
	}
	if tooMany(dw, dh, MaxPixels) || tooMany(dw, sh, MaxPixels/scaleBufferCost) {
		return fmt.Errorf("%w: resizing %dx%d to %dx%d is over the limit of %d pixels (vision.MaxPixels)", ErrTooLarge, sw, sh, dw, dh, MaxPixels)
	}
	return nil
}

// tooMany reports whether w*h > limit, for w > 0, without overflowing.
func tooMany(w, h, limit int) bool { return h > limit/w }
