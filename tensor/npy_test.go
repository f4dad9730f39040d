package tensor

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The files in testdata were written by numpy.save.
func TestReadNPYFromNumPy(t *testing.T) {
	cases := []struct {
		file  string
		shape []int
		data  []float32
	}{
		{"f4.npy", []int{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}},
		{"f8.npy", []int{3}, []float32{1.5, -2.25, 3e10}},
		{"i8.npy", []int{2, 2}, []float32{3, -1, 7, 0}},
		{"scalar.npy", []int{}, []float32{2.5}},
	}
	for _, c := range cases {
		got, err := ReadNPY(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Shape(), c.shape) || !reflect.DeepEqual(got.Data(), c.data) {
			t.Errorf("%s: %v %v, want %v %v", c.file, got.Shape(), got.Data(), c.shape, c.data)
		}
	}
	ints, shape, err := ReadNPYInts(filepath.Join("testdata", "i4.npy"))
	if err != nil || !reflect.DeepEqual(ints, []int64{5, 6, 7}) || !reflect.DeepEqual(shape, []int{3}) {
		t.Errorf("i4.npy: %v %v %v", ints, shape, err)
	}
	if _, _, err := ReadNPYInts(filepath.Join("testdata", "f4.npy")); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Errorf("fractional labels accepted: %v", err)
	}
}

func TestReadNPYErrors(t *testing.T) {
	for file, want := range map[string]string{
		"fortran.npy": "Fortran",
		"f4big.npy":   "unsupported element type",
		"missing.npy": "no such file",
	} {
		_, err := ReadNPY(filepath.Join("testdata", file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", file, err, want)
		}
	}
	dir := t.TempDir()
	whole, _ := os.ReadFile(filepath.Join("testdata", "f4.npy"))
	for name, content := range map[string][]byte{
		"truncated data":   whole[:len(whole)-3],
		"truncated header": whole[:20],
		"bad magic":        append([]byte("NOTNPY"), whole[6:]...),
	} {
		path := filepath.Join(dir, "x.npy")
		os.WriteFile(path, content, 0o644)
		if _, err := ReadNPY(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}

func TestWriteNPYRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.npy")
	for _, shape := range [][]int{{2, 3}, {4}, {}, {0, 5}} {
		src := New(shape...)
		for i := range src.Data() {
			src.Data()[i] = float32(i) - 1.5
		}
		if err := WriteNPY(path, src); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if hl := 10 + int(raw[8]) + int(raw[9])<<8; hl%64 != 0 {
			t.Errorf("%v: data starts at %d, not a multiple of 64", shape, hl)
		}
		got, err := ReadNPY(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Shape(), src.Shape()) || !reflect.DeepEqual(got.Data(), src.Data()) {
			t.Errorf("round trip of %v gave %v %v", shape, got.Shape(), got.Data())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func FuzzReadNPY(f *testing.F) {
	for _, name := range []string{"f4.npy", "i8.npy", "scalar.npy", "fortran.npy"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := readNPYHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		// The data limit is the input's length: a header may not claim more than that.
		vals, err := decodeNPY(bytes.NewReader(b), h, int64(len(b)))
		if err != nil {
			return
		}
		n := 1
		for _, d := range h.shape {
			n *= d
		}
		if len(vals) != n || len(vals) > len(b) {
			t.Fatalf("shape %v decoded to %d values from %d bytes", h.shape, len(vals), len(b))
		}
	})
}

// DecodeNPY reads what EncodeNPY writes, and refuses a truncated stream or a header that claims
// more than the stream's size, naming it.
func TestDecodeNPY(t *testing.T) {
	want := FromSlice([]float32{1, -2.5, 3, 0, 5, 6}, 2, 3)
	var buf bytes.Buffer
	if err := EncodeNPY(&buf, want); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	got, err := DecodeNPY(bytes.NewReader(b), int64(len(b)), "mem.npy")
	if err != nil || !slices.Equal(got.Shape(), want.Shape()) || !slices.Equal(got.Data(), want.Data()) {
		t.Fatalf("round trip: %v %v, %v", got, err, want)
	}
	for name, c := range map[string]struct {
		b    []byte
		size int64
	}{"truncated": {b[:len(b)-3], int64(len(b))}, "claims more than its size": {b, 10}, "empty": {nil, 0}} {
		if _, err := DecodeNPY(bytes.NewReader(c.b), c.size, "gs://b/x.npy"); err == nil || !strings.Contains(err.Error(), "gs://b/x.npy") {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}
