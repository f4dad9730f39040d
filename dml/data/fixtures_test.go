package data

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// Fixture datasets are generated into t.TempDir() by the helpers below: a few small JPEGs per
// class in each benchmark's layout, with one truncated JPEG among them.

// jpegBytes encodes a w x h gradient whose colours depend on seed.
func jpegBytes(t testing.TB, w, h, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*255/w + seed*37), uint8(y*255/h + seed*11), uint8(seed * 53), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeJPEG writes a small JPEG at path.
func writeJPEG(t testing.TB, path string, seed int) {
	writeFile(t, path, jpegBytes(t, 40+seed%7, 30+seed%5, seed))
}

// writeCorrupt writes a truncated JPEG at path.
func writeCorrupt(t testing.TB, path string) {
	b := jpegBytes(t, 40, 30, 99)
	writeFile(t, path, b[:len(b)/2])
}

func writeText(t testing.TB, path string, lines ...string) {
	writeFile(t, path, []byte(strings.Join(lines, "\n")+"\n"))
}

// makeFolder writes root/<class>/<i>.jpg for the given classes and images per class; the
// image named corrupt (class/file), if any, is truncated.
func makeFolder(t testing.TB, root string, classes []string, per int, corrupt string) {
	seed := 0
	for _, c := range classes {
		for i := range per {
			name := fmt.Sprintf("%s/%02d.jpg", c, i)
			if name == corrupt {
				writeCorrupt(t, filepath.Join(root, name))
			} else {
				writeJPEG(t, filepath.Join(root, name), seed)
			}
			seed++
		}
	}
}

// MAT-file writing (little-endian level 5), for fixtures and the fuzz corpus.

func matElem(typ uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

func matSmall(typ uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(data))<<16|typ)
	b = append(b, data...)
	for len(b) < 8 {
		b = append(b, 0)
	}
	return b
}

func matMatrix(name string, class uint32, dims []int, body ...[]byte) []byte {
	flags := binary.LittleEndian.AppendUint32(nil, class)
	flags = binary.LittleEndian.AppendUint32(flags, 0)
	var d []byte
	for _, x := range dims {
		d = binary.LittleEndian.AppendUint32(d, uint32(x))
	}
	in := matElem(miUINT32, flags)
	in = append(in, matElem(miINT32, d)...)
	if name == "" {
		in = append(in, matElem(miINT8, nil)...)
	} else {
		in = append(in, matElem(miINT8, []byte(name))...)
	}
	for _, b := range body {
		in = append(in, b...)
	}
	return matElem(miMATRIX, in)
}

func matChar(s string) []byte {
	var d []byte
	for _, u := range utf16.Encode([]rune(s)) {
		d = binary.LittleEndian.AppendUint16(d, u)
	}
	return matMatrix("", mxCHAR, []int{1, len([]rune(s))}, matElem(miUINT16, d))
}

func matDouble(v float64) []byte {
	return matMatrix("", mxDOUBLE, []int{1, 1}, matElem(miDOUBLE, binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))))
}

func matUint8(v uint8) []byte {
	return matMatrix("", 9, []int{1, 1}, matSmall(miUINT8, []byte{v}))
}

// matStruct writes a 1xN struct array; elems[i][f] is the encoded field f of element i.
func matStruct(name string, fields []string, elems [][][]byte) []byte {
	const flen = 32
	names := make([]byte, flen*len(fields))
	for i, f := range fields {
		copy(names[i*flen:], f)
	}
	body := [][]byte{matSmall(miINT32, binary.LittleEndian.AppendUint32(nil, flen)), matElem(miINT8, names)}
	for _, e := range elems {
		body = append(body, e...)
	}
	return matMatrix(name, mxSTRUCT, []int{1, len(elems)}, body...)
}

func matCell(name string, cells ...[]byte) []byte {
	return matMatrix(name, mxCELL, []int{1, len(cells)}, cells...)
}

func matCompressed(elem []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(elem)
	w.Close()
	b := binary.LittleEndian.AppendUint32(nil, miCOMPRESSED)
	b = binary.LittleEndian.AppendUint32(b, uint32(z.Len()))
	return append(b, z.Bytes()...)
}

func matFile(vars ...[]byte) []byte {
	h := make([]byte, 128)
	copy(h, "MATLAB 5.0 MAT-file, written by semprox tests")
	for i := 44; i < 116; i++ {
		h[i] = ' '
	}
	binary.LittleEndian.PutUint16(h[124:], 0x0100)
	copy(h[126:], "IM")
	for _, v := range vars {
		h = append(h, v...)
	}
	return h
}

// carsAnnos writes cars_annos.mat for the given (path, class) pairs: annotations compressed,
// class_names uncompressed.
func carsAnnos(paths []string, classes []int, nclass int) []byte {
	var elems [][][]byte
	for i, p := range paths {
		elems = append(elems, [][]byte{matChar(p), matDouble(1), matDouble(2), matUint8(uint8(classes[i])), matUint8(uint8(i % 2))})
	}
	ann := matStruct("annotations", []string{"relative_im_path", "bbox_x1", "bbox_y1", "class", "test"}, elems)
	var names [][]byte
	for c := 1; c <= nclass; c++ {
		names = append(names, matChar(fmt.Sprintf("Car %d", c)))
	}
	return matFile(matCompressed(ann), matCell("class_names", names...))
}

// idxBytes encodes an IDX file of unsigned bytes.
func idxBytes(dims []int, data []byte) []byte {
	b := []byte{0, 0, 8, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gzipBytes(b []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}
