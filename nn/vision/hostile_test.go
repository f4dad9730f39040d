package vision

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
)

var update = flag.Bool("update", false, "write the hostile images of testdata again from their generators")

// hostile are the image bombs of testdata, tiny files whose headers declare huge images; the
// tests of dml/data and cmd/embed use them too.
var hostile = []struct {
	file  string
	w, h  int
	loads bool // within MaxPixels: only its resize is refused
	gen   func() []byte
}{
	{"bomb_100000x100000.png", 100000, 100000, false, func() []byte { return pngHeader(100000, 100000) }},
	{"bomb_65535x65535.gif", 65535, 65535, false, func() []byte { return gifHeader(65535, 65535, false) }},
	{"tall_1x2000000.png", 1, 2_000_000, true, tallPNG},
}

// pngHeader is a PNG (8-bit RGBA) whose header declares w x h and whose data holds one byte.
func pngHeader(w, h uint32) []byte {
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	var idat bytes.Buffer
	z := zlib.NewWriter(&idat)
	z.Write([]byte{0})
	z.Close()
	b := []byte("\x89PNG\r\n\x1a\n")
	b = pngChunk(b, "IHDR", ihdr[:])
	b = pngChunk(b, "IDAT", idat.Bytes())
	return pngChunk(b, "IEND", nil)
}

// pngChunk appends a chunk with its length and CRC to b.
func pngChunk(b []byte, kind string, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	start := len(b)
	b = append(append(b, kind...), data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// gifHeader is a GIF of 28 bytes with a w x h screen and a w x h frame whose data codes no
// pixel. Without a colour table the frame is an error, but only once its pixels have been
// allocated; withColours adds a table of two colours (6 bytes).
func gifHeader(w, h uint16, withColours bool) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0, 0, 0, 0x2c, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	if withColours {
		b = append(b, 0x80, 0, 0, 0, 255, 255, 255)
	} else {
		b = append(b, 0)
	}
	// minimum code size 2; one sub-block with the codes clear (4) and end (5), 3 bits each
	return append(b, 2, 1, 0x2c, 0, 0x3b)
}

// tallPNG is a valid black 1 x 2,000,000 grayscale PNG (about 4 KB).
func tallPNG() []byte {
	var b bytes.Buffer
	e := png.Encoder{CompressionLevel: png.BestCompression}
	if err := e.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 2_000_000))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// The hostile images are small, declare their sizes, and (but for the PNG encoder's output,
// which may change with Go) are what their generators make; -update writes them again.
func TestHostileFixtures(t *testing.T) {
	for _, h := range hostile {
		path := filepath.Join("testdata", h.file)
		if *update {
			if err := os.WriteFile(path, h.gen(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil || c.Width != h.w || c.Height != h.h || len(b) > 8<<10 {
			t.Errorf("%s: %d bytes declaring %dx%d (%v), want at most 8 KB declaring %dx%d", path, len(b), c.Width, c.Height, err, h.w, h.h)
		}
		if !h.loads && !bytes.Equal(b, h.gen()) {
			t.Errorf("%s differs from its generator's output", path)
		}
	}
}

// evalTransform is the usual evaluation transform, 256 then 224.
var evalTransform = Preprocess{Resize: 256, Crop: 224, Interp: Bicubic, Mean: ImageNetMean, Std: ImageNetStd}

// An image bomb is refused by Load (declared size) or by the evaluation transform (resized
// size) with an error naming the file, within 4 GB of address space and 5 s.
func TestBombsRefused(t *testing.T) {
	for _, h := range hostile {
		t.Run(h.file, func(t *testing.T) {
			if !childtest.Child(t) {
				childtest.RunLimited(t, 4<<30, 5*time.Second)
				return
			}
			path := filepath.Join("testdata", h.file)
			img, err := Load(path)
			if h.loads != (err == nil) || err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Load: %v", err)
			}
			err = evalTransform.ApplyFile(make([]float32, 3*224*224), path)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ApplyFile: error %v, want one naming %s, image too large", err, path)
			}
			t.Log(err)
			if img != nil {
				checkApplyPanics(t, img)
			}
		})
	}
}

// checkApplyPanics checks that the evaluation transform of img panics with ErrTooLarge.
func checkApplyPanics(t *testing.T, img image.Image) {
	t.Helper()
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Apply panicked with %v, want ErrTooLarge", err)
		}
	}()
	evalTransform.Apply(make([]float32, 3*224*224), img)
}

// A header declaring a side of zero is refused.
func TestLoadRefusesNoPixels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.gif")
	if err := os.WriteFile(path, gifHeader(0, 0, true), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path+": declared size 0x0: no pixels") {
		t.Errorf("Load of a 0x0 GIF: %v", err)
	}
}

// MaxPixels bounds Load and the resizes; by default a 10000 x 10000 image loads and resizes to
// 1000 x 1000, not to 2000 x 2000.
func TestMaxPixels(t *testing.T) {
	defer func(m int) { MaxPixels = m }(MaxPixels)
	path := filepath.Join("testdata", "src.png") // 48 x 36
	for _, c := range []struct {
		max int
		ok  bool
	}{{48 * 36, true}, {48*36 - 1, false}} {
		MaxPixels = c.max
		if _, err := Load(path); (err == nil) != c.ok || err != nil && !errors.Is(err, ErrTooLarge) {
			t.Errorf("MaxPixels %d: %v", c.max, err)
		}
	}
	MaxPixels = DefaultMaxPixels
	for _, c := range []struct {
		sw, sh, dw, dh int
		ok             bool
	}{
		{10000, 10000, 256, 256, true},
		{10000, 10000, 1000, 1000, true},
		{10000, 10000, 2000, 2000, false}, // working buffer 2000 x 10000 entries of 32 bytes
		{6000, 4000, 384, 256, true},
		{1, 2_000_000, 256, 512_000_000, false},
		{2_000_000, 1, 512_000_000, 256, false},
		{1000, 1000, 20000, 20000, false},
		{200, 100_000, 256, 128_000, false}, // output within, working buffer (256 x 100000) beyond
		{0, 10, 5, 5, false},
	} {
		if err := CheckScale(c.sw, c.sh, c.dw, c.dh); (err == nil) != c.ok {
			t.Errorf("CheckScale(%d, %d, %d, %d): %v", c.sw, c.sh, c.dw, c.dh, err)
		}
	}
}

// ApplyBytes gives ApplyFile's pixels for the same file, and refuses what Load refuses, naming
// the file as it is told.
func TestApplyBytesIsApplyFile(t *testing.T) {
	tr := Preprocess{Resize: 40, Crop: 32, Interp: Bicubic, Mean: ImageNetMean, Std: ImageNetStd}
	path := filepath.Join("..", "..", "testdata", "torchref", "images", "000.png")
	want, got := make([]float32, 3*32*32), make([]float32, 3*32*32)
	if err := tr.ApplyFile(want, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.ApplyBytes(got, b, "gs://bucket/000.png"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("ApplyBytes and ApplyFile differ on the same file")
	}
	for name, bad := range map[string][]byte{"truncated.png": b[:len(b)/2], "text.png": []byte("not an image"), "empty.png": nil} {
		err := tr.ApplyBytes(got, bad, "gs://bucket/"+name)
		if err == nil || !strings.Contains(err.Error(), "gs://bucket/"+name) {
			t.Errorf("%s: error %v, want one naming it", name, err)
		}
	}
	bomb, err := os.ReadFile(filepath.Join("testdata", "bomb_100000x100000.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.ApplyBytes(got, bomb, "bomb.png"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bomb: error %v, want ErrTooLarge", err)
	}
}
