package tensor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/semprox/semprox/internal/atomicfile"
)

// NumPy's .npy format: a magic string, a version, a little-endian header length and a header
// that is a Python dict literal giving the element type ('descr'), the order and the shape,
// then the elements. See numpy.lib.format.

const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header a reader accepts, so a corrupt length cannot exhaust memory.
const maxNPYHeader = 1 << 20

// npyHeader is the parsed header of a .npy file.
type npyHeader struct {
	descr string // e.g. "<f4"
	shape []int
}

var (
	npyDescrRE = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyOrderRE = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShapeRE = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

func readNPYHeader(r io.Reader) (npyHeader, error) {
	h, _, err := readNPYHeaderLimit(r, maxNPYHeader)
	return h, err
}

// readNPYHeaderLimit reads a .npy preamble and header whose header (the dict after the
// preamble) is at most limit bytes long, and returns it with the bytes read.
func readNPYHeaderLimit(r io.Reader, limit int) (npyHeader, int64, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return npyHeader{}, 0, fmt.Errorf("not a .npy file: %w", noEOF(err))
	}
	if string(pre[:6]) != npyMagic {
		return npyHeader{}, 0, errors.New("not a .npy file: bad magic")
	}
	var n, lenBytes int
	switch pre[6] {
	case 1:
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return npyHeader{}, 0, fmt.Errorf("truncated header: %w", noEOF(err))
		}
		n, lenBytes = int(binary.LittleEndian.Uint16(l[:])), 2
	case 2, 3:
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return npyHeader{}, 0, fmt.Errorf("truncated header: %w", noEOF(err))
		}
		n, lenBytes = int(binary.LittleEndian.Uint32(l[:])), 4
	default:
		return npyHeader{}, 0, fmt.Errorf("unsupported .npy version %d.%d", pre[6], pre[7])
	}
	if n > min(limit, maxNPYHeader) {
		return npyHeader{}, 0, fmt.Errorf("header of %d bytes is too long", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return npyHeader{}, 0, fmt.Errorf("truncated header: %w", noEOF(err))
	}
	h, err := parseNPYHeader(string(buf))
	return h, int64(len(pre) + lenBytes + n), err
}

// NPYHeader describes the array that a .npy file holds.
type NPYHeader struct {
	Descr string // NumPy's element type, such as "<f4" (little-endian float32) or "<f2"
	Shape []int  // in C (row-major) order; empty for a scalar
	Len   int64  // bytes from the start of the file to the first element
}

// ReadNPYHeader reads the preamble and header of a .npy array from r and leaves r at the
// first element, for a caller that decodes the elements itself. The header (the dict after
// the preamble) may be at most limit bytes long, and never more than 1 MiB: a longer one is
// refused before anything is allocated for it. Fortran-ordered arrays are refused. The
// element type is returned as the file states it, unchecked, and the shape's size is not
// checked against anything: both are the caller's to validate.
func ReadNPYHeader(r io.Reader, limit int) (NPYHeader, error) {
	h, n, err := readNPYHeaderLimit(r, limit)
	if err != nil {
		return NPYHeader{}, err
	}
	return NPYHeader{Descr: h.descr, Shape: h.shape, Len: n}, nil
}

func parseNPYHeader(h string) (npyHeader, error) {
	d, o, s := npyDescrRE.FindStringSubmatch(h), npyOrderRE.FindStringSubmatch(h), npyShapeRE.FindStringSubmatch(h)
	if d == nil || o == nil || s == nil {
		return npyHeader{}, fmt.Errorf("malformed header %q", strings.TrimSpace(h))
	}
	if o[1] == "True" {
		return npyHeader{}, errors.New("Fortran-ordered arrays are not supported (save with np.ascontiguousarray)")
	}
	hdr := npyHeader{descr: d[1]}
	for _, f := range strings.Split(s[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSuffix(f, "L"))
		if err != nil || v < 0 {
			return npyHeader{}, fmt.Errorf("bad dimension %q in shape (%s)", f, s[1])
		}
		hdr.shape = append(hdr.shape, v)
	}
	return hdr, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// elements returns the element count of the header's shape and the byte size of one element,
// checking the count against limit bytes when limit >= 0.
func (h npyHeader) elements(limit int64) (n, size int, err error) {
	size, ok := map[string]int{"<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|i1": 1, "|u1": 1, "<i2": 2, "<u2": 2, "<u4": 4, "<u8": 8, "|b1": 1}[h.descr]
	if !ok {
		return 0, 0, fmt.Errorf("unsupported element type %q (want little-endian floats or integers)", h.descr)
	}
	n = 1
	for _, d := range h.shape {
		if d != 0 && n > math.MaxInt32/d {
			return 0, 0, fmt.Errorf("shape %v is too large", h.shape)
		}
		n *= d
	}
	if limit >= 0 && int64(n)*int64(size) > limit {
		return 0, 0, fmt.Errorf("shape %v needs %d bytes of data, the file has %d", h.shape, int64(n)*int64(size), limit)
	}
	return n, size, nil
}

// decodeNPY reads the elements after the header as float64s.
func decodeNPY(r io.Reader, h npyHeader, limit int64) ([]float64, error) {
	n, size, err := h.elements(limit)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, n*size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("truncated data: %w", noEOF(err))
	}
	out := make([]float64, n)
	le := binary.LittleEndian
	for i := range out {
		b := raw[i*size:]
		switch h.descr {
		case "<f4":
			out[i] = float64(math.Float32frombits(le.Uint32(b)))
		case "<f8":
			out[i] = math.Float64frombits(le.Uint64(b))
		case "<i4":
			out[i] = float64(int32(le.Uint32(b)))
		case "<i8":
			out[i] = float64(int64(le.Uint64(b)))
		case "|i1":
			out[i] = float64(int8(b[0]))
		case "|u1", "|b1":
			out[i] = float64(b[0])
		case "<i2":
			out[i] = float64(int16(le.Uint16(b)))
		case "<u2":
			out[i] = float64(le.Uint16(b))
		case "<u4":
			out[i] = float64(le.Uint32(b))
		case "<u8":
			out[i] = float64(le.Uint64(b))
		}
	}
	return out, nil
}

// DecodeNPY reads a .npy array of floats or integers from r, which holds at most size bytes
// (a header claiming more elements is refused before anything is allocated for them), into a
// float32 tensor of its shape. Errors name the file as name.
func DecodeNPY(r io.Reader, size int64, name string) (*Tensor, error) {
	br := bufio.NewReader(r)
	h, err := readNPYHeader(br)
	if err == nil {
		var vals []float64
		if vals, err = decodeNPY(br, h, size); err == nil {
			t := New(h.shape...)
			for i, v := range vals {
				t.data[i] = float32(v)
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, err)
}

// ReadNPY reads a .npy file of floats or integers into a float32 tensor of its shape.
// Errors name the file.
func ReadNPY(path string) (*Tensor, error) {
	vals, shape, err := readNPYFile(path)
	if err != nil {
		return nil, err
	}
	t := New(shape...)
	for i, v := range vals {
		t.data[i] = float32(v)
	}
	return t, nil
}

// ReadNPYInts reads a .npy file of integers (or of floats holding integral values, such as
// labels saved as float32) as int64s, with its shape. Errors name the file.
func ReadNPYInts(path string) ([]int64, []int, error) {
	vals, shape, err := readNPYFile(path)
	if err != nil {
		return nil, nil, err
	}
	out, err := integers(vals, path)
	return out, shape, err
}

// DecodeNPYInts is ReadNPYInts on a .npy array read from r, which holds at most size bytes.
// Errors name the file as name.
func DecodeNPYInts(r io.Reader, size int64, name string) ([]int64, []int, error) {
	br := bufio.NewReader(r)
	h, err := readNPYHeader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	vals, err := decodeNPY(br, h, size)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	out, err := integers(vals, name)
	return out, h.shape, err
}

// integers converts integral values (exact up to 2^53) to int64s, or names the first that is not.
func integers(vals []float64, name string) ([]int64, error) {
	out := make([]int64, len(vals))
	for i, v := range vals {
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, fmt.Errorf("%s: element %d is %v, not an integer", name, i, v)
		}
		out[i] = int64(v)
	}
	return out, nil
}

func readNPYFile(path string) ([]float64, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	r := bufio.NewReader(f)
	h, err := readNPYHeader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	vals, err := decodeNPY(r, h, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return vals, h.shape, nil
}

// WriteNPY writes t as a little-endian float32 .npy file, atomically: to a temporary file in
// the same directory, then renamed over path, so a failure leaves no partial file.
func WriteNPY(path string, t *Tensor) error {
	if err := atomicfile.Write(path, func(w io.Writer) error { return EncodeNPY(w, t) }); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// EncodeNPY writes t to w as a little-endian float32 .npy file, the bytes WriteNPY writes.
func EncodeNPY(w io.Writer, t *Tensor) error {
	dims := make([]string, len(t.shape))
	for i, d := range t.shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape)
	// Pad with spaces so that the data starts on a 64-byte boundary; the header ends in '\n'.
	pad := 64 - (len(npyMagic)+4+len(h)+1)%64
	h += strings.Repeat(" ", pad%64) + "\n"
	bw := bufio.NewWriter(w)
	bw.WriteString(npyMagic)
	bw.Write([]byte{1, 0})
	binary.Write(bw, binary.LittleEndian, uint16(len(h)))
	bw.WriteString(h)
	var b [4]byte
	for _, v := range t.data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}
