package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf16"
)

// A small reader of MATLAB level 5 MAT-files (the format of cars_annos.mat): numeric, char,
// cell and struct arrays, optionally zlib-compressed (miCOMPRESSED). Sparse arrays, objects
// and complex parts beyond the real one are rejected or ignored.
//
// File layout: a 128-byte header (116 bytes of text, 8 of subsystem offset, a 2-byte version
// and the 2-byte endian indicator "IM" for little-endian, "MI" for big-endian), then data
// elements. Each element has an 8-byte tag (uint32 type, uint32 byte count) and its data
// padded to 8 bytes, or a "small element" whose tag packs the count in the upper 16 bits of
// the type word and whose data (at most 4 bytes) fills the tag's second word.

// MAT data types.
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	miUTF8       = 16
	miUTF16      = 17
	miUTF32      = 18
)

// MAT array classes.
const (
	mxCELL   = 1
	mxSTRUCT = 2
	mxCHAR   = 4
	mxDOUBLE = 6
	mxUINT64 = 15
)

// maxMATInflate bounds the decompressed size of one miCOMPRESSED element.
const maxMATInflate = 1 << 30

// MATArray is one MATLAB array. Exactly one of Numbers, Text, Cells and Fields is used, by
// Class: numeric classes fill Numbers (real part, column-major), char fills Text (the
// characters in column-major order; for a 1xN string, the string), cell fills Cells
// (column-major) and struct fills Fields and Elems (Elems[i][f] is field Fields[f] of element
// i, elements in column-major order).
type MATArray struct {
	Name    string
	Class   int
	Dims    []int
	Numbers []float64
	Text    string
	Cells   []*MATArray
	Fields  []string
	Elems   [][]*MATArray
}

// Len is the number of elements, the product of Dims.
func (a *MATArray) Len() int {
	n := 1
	for _, d := range a.Dims {
		n *= d
	}
	return n
}

// Field returns field name of struct element i, or nil.
func (a *MATArray) Field(i int, name string) *MATArray {
	if i < 0 || i >= len(a.Elems) {
		return nil
	}
	for f, n := range a.Fields {
		if n == name {
			return a.Elems[i][f]
		}
	}
	return nil
}

// ReadMAT parses a level 5 MAT-file and returns its top-level variables in file order.
func ReadMAT(b []byte) ([]*MATArray, error) {
	if len(b) < 128 {
		return nil, errors.New("mat: shorter than the 128-byte header")
	}
	var order binary.ByteOrder
	switch string(b[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		return nil, errors.New("mat: no endian indicator: not a level 5 MAT-file")
	}
	p := matParser{order: order}
	var vars []*MATArray
	rest := b[128:]
	for len(rest) > 0 {
		if len(rest) < 8 && allZero(rest) {
			break
		}
		typ, data, next, err := p.element(rest)
		if err != nil {
			return nil, fmt.Errorf("mat: at byte %d: %w", len(b)-len(rest), err)
		}
		switch typ {
		case miCOMPRESSED:
			inner, err := inflate(data)
			if err != nil {
				return nil, fmt.Errorf("mat: at byte %d: %w", len(b)-len(rest), err)
			}
			ityp, idata, _, err := p.element(inner)
			if err != nil {
				return nil, fmt.Errorf("mat: in compressed element at byte %d: %w", len(b)-len(rest), err)
			}
			if ityp != miMATRIX {
				return nil, fmt.Errorf("mat: compressed element holds type %d, want miMATRIX", ityp)
			}
			a, err := p.matrix(idata, 0)
			if err != nil {
				return nil, fmt.Errorf("mat: in compressed element at byte %d: %w", len(b)-len(rest), err)
			}
			vars = append(vars, a)
		case miMATRIX:
			a, err := p.matrix(data, 0)
			if err != nil {
				return nil, fmt.Errorf("mat: at byte %d: %w", len(b)-len(rest), err)
			}
			vars = append(vars, a)
		}
		rest = next
	}
	return vars, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func inflate(data []byte) ([]byte, error) {
	z, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("miCOMPRESSED: %w", err)
	}
	defer z.Close()
	out, err := io.ReadAll(io.LimitReader(z, maxMATInflate+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("miCOMPRESSED: %w", err)
	}
	if len(out) > maxMATInflate {
		return nil, errors.New("miCOMPRESSED: inflates past 1 GiB")
	}
	return out, nil
}

type matParser struct{ order binary.ByteOrder }

// element splits the data element at the start of b: its type, its data and what follows.
func (p matParser) element(b []byte) (typ uint32, data, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, errors.New("truncated element tag")
	}
	w := p.order.Uint32(b)
	if n := w >> 16; n != 0 { // small element
		if n > 4 {
			return 0, nil, nil, fmt.Errorf("small element of %d bytes", n)
		}
		return w & 0xffff, b[4 : 4+n], b[8:], nil
	}
	n := uint64(p.order.Uint32(b[4:]))
	if n > uint64(len(b)-8) {
		return 0, nil, nil, fmt.Errorf("element of type %d claims %d bytes, %d left", w, n, len(b)-8)
	}
	end := 8 + int(n)
	data = b[8:end]
	if w != miCOMPRESSED { // compressed elements are not padded
		end = 8 + int((n+7)&^7)
	}
	if end > len(b) {
		end = len(b)
	}
	return w, data, b[end:], nil
}

// sub reads the next element of a matrix, requiring one of the given types (none: any).
func (p matParser) sub(b *[]byte, what string) (uint32, []byte, error) {
	typ, data, rest, err := p.element(*b)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, err)
	}
	*b = rest
	return typ, data, nil
}

const maxMATDepth = 32

// matrix parses the data of a miMATRIX element.
func (p matParser) matrix(b []byte, depth int) (*MATArray, error) {
	if depth > maxMATDepth {
		return nil, errors.New("arrays nested too deep")
	}
	a := &MATArray{}
	if len(b) == 0 { // an empty cell or field
		a.Class = mxDOUBLE
		a.Dims = []int{0, 0}
		return a, nil
	}
	typ, flags, err := p.sub(&b, "array flags")
	if err != nil {
		return nil, err
	}
	if typ != miUINT32 || len(flags) < 8 {
		return nil, fmt.Errorf("array flags: type %d, %d bytes", typ, len(flags))
	}
	fw := p.order.Uint32(flags)
	a.Class = int(fw & 0xff)
	complexPart := fw&0x800 != 0
	typ, dims, err := p.sub(&b, "dimensions")
	if err != nil {
		return nil, err
	}
	if typ != miINT32 || len(dims) < 8 || len(dims)%4 != 0 {
		return nil, fmt.Errorf("dimensions: type %d, %d bytes", typ, len(dims))
	}
	n := 1
	for i := 0; i < len(dims); i += 4 {
		d := int(int32(p.order.Uint32(dims[i:])))
		if d < 0 || (d != 0 && n > math.MaxInt32/d) {
			return nil, fmt.Errorf("dimensions: bad size %d", d)
		}
		n *= d
		a.Dims = append(a.Dims, d)
	}
	typ, name, err := p.sub(&b, "array name")
	if err != nil {
		return nil, err
	}
	if typ != miINT8 {
		return nil, fmt.Errorf("array name: type %d", typ)
	}
	a.Name = string(name)
	switch {
	case a.Class == mxCELL:
		if n > len(b)/8 {
			return nil, fmt.Errorf("cell of %d elements in %d bytes", n, len(b))
		}
		for i := range n {
			typ, data, err := p.sub(&b, fmt.Sprintf("cell %d", i))
			if err != nil {
				return nil, err
			}
			if typ != miMATRIX {
				return nil, fmt.Errorf("cell %d: type %d, want miMATRIX", i, typ)
			}
			c, err := p.matrix(data, depth+1)
			if err != nil {
				return nil, fmt.Errorf("cell %d: %w", i, err)
			}
			a.Cells = append(a.Cells, c)
		}
	case a.Class == mxSTRUCT:
		typ, fl, err := p.sub(&b, "field name length")
		if err != nil {
			return nil, err
		}
		if typ != miINT32 || len(fl) < 4 {
			return nil, fmt.Errorf("field name length: type %d", typ)
		}
		flen := int(int32(p.order.Uint32(fl)))
		if flen <= 0 || flen > 64*1024 {
			return nil, fmt.Errorf("field name length %d", flen)
		}
		typ, names, err := p.sub(&b, "field names")
		if err != nil {
			return nil, err
		}
		if typ != miINT8 || len(names)%flen != 0 {
			return nil, fmt.Errorf("field names: type %d, %d bytes for length %d", typ, len(names), flen)
		}
		for i := 0; i < len(names); i += flen {
			a.Fields = append(a.Fields, string(bytes.TrimRight(names[i:i+flen], "\x00")))
		}
		nf := len(a.Fields)
		if nf > 0 && n > len(b)/(8*nf) {
			return nil, fmt.Errorf("struct of %d elements x %d fields in %d bytes", n, nf, len(b))
		}
		if nf == 0 {
			n = 0 // elements without fields hold nothing
		}
		for i := range n {
			row := make([]*MATArray, nf)
			for f := range nf {
				typ, data, err := p.sub(&b, fmt.Sprintf("element %d field %s", i, a.Fields[f]))
				if err != nil {
					return nil, err
				}
				if typ != miMATRIX {
					return nil, fmt.Errorf("element %d field %s: type %d, want miMATRIX", i, a.Fields[f], typ)
				}
				if row[f], err = p.matrix(data, depth+1); err != nil {
					return nil, fmt.Errorf("element %d field %s: %w", i, a.Fields[f], err)
				}
			}
			a.Elems = append(a.Elems, row)
		}
	case a.Class == mxCHAR:
		typ, data, err := p.sub(&b, "char data")
		if err != nil {
			return nil, err
		}
		text, err := p.text(typ, data)
		if err != nil {
			return nil, err
		}
		a.Text = text
	case a.Class >= mxDOUBLE && a.Class <= mxUINT64:
		typ, data, err := p.sub(&b, "real part")
		if err != nil {
			return nil, err
		}
		if a.Numbers, err = p.numbers(typ, data); err != nil {
			return nil, err
		}
		if len(a.Numbers) != n {
			return nil, fmt.Errorf("numeric array of %d elements holds %d", n, len(a.Numbers))
		}
		_ = complexPart // the imaginary part, if any, is ignored
	default:
		return nil, fmt.Errorf("unsupported array class %d", a.Class)
	}
	return a, nil
}

func (p matParser) text(typ uint32, data []byte) (string, error) {
	switch typ {
	case miUINT8, miINT8, miUTF8:
		return string(data), nil
	case miUINT16, miINT16, miUTF16:
		u := make([]uint16, len(data)/2)
		for i := range u {
			u[i] = p.order.Uint16(data[2*i:])
		}
		return string(utf16.Decode(u)), nil
	case miUINT32, miINT32, miUTF32:
		r := make([]rune, len(data)/4)
		for i := range r {
			r[i] = rune(p.order.Uint32(data[4*i:]))
		}
		return string(r), nil
	}
	return "", fmt.Errorf("char data of type %d", typ)
}

func (p matParser) numbers(typ uint32, data []byte) ([]float64, error) {
	var size int
	switch typ {
	case miINT8, miUINT8:
		size = 1
	case miINT16, miUINT16:
		size = 2
	case miINT32, miUINT32, miSINGLE:
		size = 4
	case miDOUBLE, miINT64, miUINT64:
		size = 8
	default:
		return nil, fmt.Errorf("numeric data of type %d", typ)
	}
	out := make([]float64, len(data)/size)
	for i := range out {
		d := data[i*size:]
		switch typ {
		case miINT8:
			out[i] = float64(int8(d[0]))
		case miUINT8:
			out[i] = float64(d[0])
		case miINT16:
			out[i] = float64(int16(p.order.Uint16(d)))
		case miUINT16:
			out[i] = float64(p.order.Uint16(d))
		case miINT32:
			out[i] = float64(int32(p.order.Uint32(d)))
		case miUINT32:
			out[i] = float64(p.order.Uint32(d))
		case miSINGLE:
			out[i] = float64(math.Float32frombits(p.order.Uint32(d)))
		case miDOUBLE:
			out[i] = math.Float64frombits(p.order.Uint64(d))
		case miINT64:
			out[i] = float64(int64(p.order.Uint64(d)))
		case miUINT64:
			out[i] = float64(p.order.Uint64(d))
		}
	}
	return out, nil
}
