package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/semprox/semprox/tensor"
)

// The safetensors layout (https://huggingface.co/docs/safetensors): an unsigned 64-bit
// little-endian header length N, N bytes of JSON, then the data section. The JSON object
// maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets
// into the data section) and may hold "__metadata__", a map of strings to strings. Element
// data is little-endian and C-ordered.

// maxHeaderLen caps the JSON header, as the reference implementation does.
const maxHeaderLen = 100 << 20

// metadataKey is the reserved header entry for free-form string metadata.
const metadataKey = "__metadata__"

// maxDims caps a tensor's dimensions in either format: a hostile header or pickle could
// otherwise give one empty tensor millions of them, each copied (and, for a PyTorch
// tensor, walked for every row).
const maxDims = 64

// stEntry is one tensor of a safetensors header.
type stEntry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int64 // byte offsets into the data section
}

// stHeader is a parsed and validated safetensors header.
type stHeader struct {
	dataStart int64             // file offset of the data section: 8 + N
	entries   []stEntry         // in header order
	metadata  map[string]string // "__metadata__", nil if absent
}

// readSafetensorsHeader reads and validates the header of the safetensors file r of size
// bytes. Every tensor's bytes are checked to lie inside the data section, to match its
// shape and dtype exactly, and not to overlap another tensor; together the tensors must
// cover the data section with no gap, as the reference implementation requires. Nothing it
// allocates exceeds the file's size.
func readSafetensorsHeader(r io.ReaderAt, size int64, path string) (*stHeader, error) {
	var prefix [8]byte
	if size < 8 {
		return nil, fileErr(path, "safetensors: file is %d bytes, too short for the 8-byte header length", size)
	}
	if err := readFullAt(r, prefix[:], 0); err != nil {
		return nil, fileErr(path, "safetensors: reading the header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > maxHeaderLen {
		return nil, fileErr(path, "safetensors: header length %d exceeds the limit of %d bytes", n, maxHeaderLen)
	}
	if n > uint64(size-8) {
		return nil, fileErr(path, "safetensors: header length %d runs past the end of the %d-byte file (truncated?)", n, size)
	}
	js := make([]byte, n)
	if err := readFullAt(r, js, 8); err != nil {
		return nil, fileErr(path, "safetensors: reading the header: %v", err)
	}
	h, err := parseSafetensorsHeader(js, size-8-int64(n), path)
	if err != nil {
		return nil, err
	}
	h.dataStart = 8 + int64(n)
	return h, nil
}

// stRawEntry is the JSON form of a header entry; pointers tell absent fields apart.
type stRawEntry struct {
	DType       *string   `json:"dtype"`
	Shape       *jsonInts `json:"shape"`
	DataOffsets *jsonInts `json:"data_offsets"`
}

// jsonInts is a JSON array of at most maxDims numbers; a longer one is refused as it is
// decoded, before its elements are kept.
type jsonInts []json.Number

func (n *jsonInts) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return errors.New("not an array of numbers")
	}
	for dec.More() {
		if len(*n) == maxDims {
			return fmt.Errorf("an array of more than %d numbers (a tensor has at most %d dimensions)", maxDims, maxDims)
		}
		var v json.Number
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*n = append(*n, v)
	}
	return nil
}

// parseSafetensorsHeader parses the JSON header js of a file whose data section is dataLen
// bytes, keeping the entries in header order and rejecting duplicate names.
func parseSafetensorsHeader(js []byte, dataLen int64, path string) (*stHeader, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	bad := func(format string, args ...any) error {
		return fileErr(path, "safetensors: header: "+format, args...)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("not a JSON object")
	}
	h := &stHeader{}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("invalid JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, bad("invalid JSON: key %v is not a string", tok)
		}
		if seen[name] {
			return nil, tensorErr(path, name, "safetensors: header names this tensor twice")
		}
		seen[name] = true
		if name == metadataKey {
			if err := dec.Decode(&h.metadata); err != nil {
				return nil, bad("%s must map strings to strings: %v", metadataKey, err)
			}
			continue
		}
		var raw stRawEntry
		if err := dec.Decode(&raw); err != nil {
			return nil, tensorErr(path, name, "safetensors: header entry is not {dtype, shape, data_offsets}: %v", err)
		}
		e, err := raw.entry(name)
		if err != nil {
			return nil, &Error{Path: path, Tensor: name, Err: fmt.Errorf("safetensors: header: %w", err)}
		}
		h.entries = append(h.entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, bad("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("unexpected data after the JSON object")
	}
	if err := checkLayout(h.entries, dataLen, path); err != nil {
		return nil, err
	}
	return h, nil
}

// entry converts and checks one header entry on its own (the layout as a whole is checked
// by checkLayout).
func (raw *stRawEntry) entry(name string) (stEntry, error) {
	e := stEntry{name: name}
	switch {
	case raw.DType == nil:
		return e, errors.New(`missing "dtype"`)
	case raw.Shape == nil:
		return e, errors.New(`missing "shape"`)
	case raw.DataOffsets == nil:
		return e, errors.New(`missing "data_offsets"`)
	}
	d, ok := parseDType(*raw.DType)
	if !ok {
		return e, fmt.Errorf("unknown dtype %q", *raw.DType)
	}
	e.dtype = d
	e.shape = make([]int, len(*raw.Shape))
	for i, v := range *raw.Shape {
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt {
			return e, fmt.Errorf("shape %v: dimension %d (%s) is not a non-negative integer", *raw.Shape, i, v)
		}
		e.shape[i] = int(n)
	}
	if len(*raw.DataOffsets) != 2 {
		return e, fmt.Errorf("data_offsets %v: want [begin, end]", *raw.DataOffsets)
	}
	var off [2]int64
	for i, v := range *raw.DataOffsets {
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil || n < 0 {
			return e, fmt.Errorf("data_offsets %v: %s is not a non-negative integer", *raw.DataOffsets, v)
		}
		off[i] = n
	}
	e.begin, e.end = off[0], off[1]
	if e.begin > e.end {
		return e, fmt.Errorf("data_offsets [%d, %d]: begin after end", e.begin, e.end)
	}
	return e, nil
}

// checkLayout checks every entry's byte range against its shape and dtype and against the
// data section of dataLen bytes, and that the ranges tile the data section exactly.
func checkLayout(entries []stEntry, dataLen int64, path string) error {
	for _, e := range entries {
		if e.end > dataLen {
			return tensorErr(path, e.name, "safetensors: data_offsets [%d, %d] run past the end of the %d-byte data section (truncated file?)",
				e.begin, e.end, dataLen)
		}
		want, ok := byteSize(e.shape, e.dtype)
		if !ok || want != e.end-e.begin {
			need := "more than the file holds"
			if ok {
				need = strconv.FormatInt(want, 10)
			}
			return tensorErr(path, e.name, "safetensors: data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %s",
				e.begin, e.end, e.end-e.begin, e.shape, e.dtype, need)
		}
	}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if c := cmpInt64(entries[a].begin, entries[b].begin); c != 0 {
			return c
		}
		return cmpInt64(entries[a].end, entries[b].end)
	})
	next := int64(0)
	for k, i := range order {
		e := entries[i]
		switch {
		case e.begin < next:
			prev := entries[order[k-1]]
			return tensorErr(path, e.name, "safetensors: data_offsets [%d, %d] overlap those of tensor %q [%d, %d]",
				e.begin, e.end, prev.name, prev.begin, prev.end)
		case e.begin > next:
			return tensorErr(path, e.name, "safetensors: data_offsets [%d, %d] leave bytes [%d, %d) of the data section unused",
				e.begin, e.end, next, e.begin)
		}
		next = e.end
	}
	if next != dataLen {
		return fileErr(path, "safetensors: the tensors cover %d bytes but the data section has %d (trailing bytes)", next, dataLen)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// byteSize returns the number of bytes of a tensor of the given shape and dtype, and false
// if it overflows int64.
func byteSize(shape []int, d DType) (int64, bool) {
	n, ok := numElements(shape)
	if !ok || n > math.MaxInt64/d.Size() {
		return 0, false
	}
	return n * d.Size(), true
}

// numElements returns the product of shape (1 for a scalar), and false if the product of
// its non-zero dimensions overflows int: an empty tensor of shape [2^40, 2^40, 0] cannot
// be made either. Dimensions are non-negative.
func numElements(shape []int) (int64, bool) {
	n, empty := int64(1), false
	for _, d := range shape {
		switch {
		case d == 0:
			empty = true
		case int64(d) > math.MaxInt/n:
			return 0, false
		default:
			n *= int64(d)
		}
	}
	if empty {
		return 0, true
	}
	return n, true
}

// readSafetensors reads every tensor of the safetensors file r of size bytes, converting
// each to float32.
func readSafetensors(r io.ReaderAt, size int64, path string) (*Checkpoint, error) {
	h, err := readSafetensorsHeader(r, size, path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{
		Path:     path,
		Format:   Safetensors,
		Names:    make([]string, 0, len(h.entries)),
		Tensors:  make(map[string]*tensor.Tensor, len(h.entries)),
		DTypes:   make(map[string]DType, len(h.entries)),
		Metadata: h.metadata,
	}
	for _, e := range h.entries {
		if !e.dtype.convertible() {
			return nil, tensorErr(path, e.name, "safetensors: dtype %s cannot be converted to float32 (F32, F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL can)", e.dtype)
		}
	}
	buf := make([]byte, min(size, 1<<20))
	for _, e := range h.entries {
		t := tensor.New(e.shape...)
		if err := readContiguous(r, h.dataStart+e.begin, e.dtype, t.Data(), buf); err != nil {
			return nil, tensorErr(path, e.name, "safetensors: reading data: %v", err)
		}
		c.Names = append(c.Names, e.name)
		c.Tensors[e.name] = t
		c.DTypes[e.name] = e.dtype
	}
	return c, nil
}

// readContiguous reads len(dst) little-endian elements of type d from r at offset off into
// dst, converting them to float32, through buf.
func readContiguous(r io.ReaderAt, off int64, d DType, dst []float32, buf []byte) error {
	size := d.Size()
	per := max(int64(len(buf))/size, 1)
	if int64(len(buf)) < size {
		buf = make([]byte, size)
	}
	for len(dst) > 0 {
		n := min(per, int64(len(dst)))
		b := buf[:n*size]
		if err := readFullAt(r, b, off); err != nil {
			return err
		}
		decode(dst[:n], b, d, binary.LittleEndian, 0, 1)
		dst = dst[n:]
		off += n * size
	}
	return nil
}

// readFullAt reads exactly len(b) bytes at off, reporting a short read as
// io.ErrUnexpectedEOF.
func readFullAt(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
