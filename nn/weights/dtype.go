package weights

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is the element type of a tensor as stored in a weight file. Every tensor is
// converted to float32 when it is read; the DType records what the file held.
type DType uint8

// The element types a weight file may hold. Names are those of the safetensors format.
const (
	DTypeInvalid DType = iota
	F32                // IEEE 754 binary32
	F16                // IEEE 754 binary16
	BF16               // bfloat16: the top 16 bits of a binary32
	F64                // IEEE 754 binary64, rounded to nearest float32
	I64                // signed integers, converted to the nearest float32
	I32
	I16
	I8
	U8
	BOOL // 0 or 1
	// Element types that a file may declare (so its layout can be checked) but that
	// cannot be converted to float32 here.
	U16
	U32
	U64
	F8E4M3
	F8E5M2
)

var dtypeNames = [...]string{
	DTypeInvalid: "invalid",
	F32:          "F32",
	F16:          "F16",
	BF16:         "BF16",
	F64:          "F64",
	I64:          "I64",
	I32:          "I32",
	I16:          "I16",
	I8:           "I8",
	U8:           "U8",
	BOOL:         "BOOL",
	U16:          "U16",
	U32:          "U32",
	U64:          "U64",
	F8E4M3:       "F8_E4M3",
	F8E5M2:       "F8_E5M2",
}

var dtypeSizes = [...]int64{
	F32: 4, F16: 2, BF16: 2, F64: 8,
	I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
	U16: 2, U32: 4, U64: 8, F8E4M3: 1, F8E5M2: 1,
}

// String returns the safetensors name of the type ("F32", "BF16", ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the number of bytes of one element (0 for DTypeInvalid).
func (d DType) Size() int64 {
	if int(d) < len(dtypeSizes) {
		return dtypeSizes[d]
	}
	return 0
}

// convertible reports whether elements of type d can be converted to float32.
func (d DType) convertible() bool { return d >= F32 && d <= BOOL }

// parseDType returns the DType with the given safetensors name.
func parseDType(s string) (DType, bool) {
	for d, name := range dtypeNames {
		if d != int(DTypeInvalid) && name == s {
			return DType(d), true
		}
	}
	return DTypeInvalid, false
}

// decode converts n elements of type d from raw into dst, reading element i at byte offset
// (start + i*stride) * d.Size() of raw. The caller guarantees that every element read lies
// inside raw and that d is convertible. order is the byte order of raw.
func decode(dst []float32, raw []byte, d DType, order binary.ByteOrder, start, stride int64) {
	size := d.Size()
	at := start * size
	step := stride * size
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(order.Uint32(raw[at:]))
			at += step
		}
	case F16:
		for i := range dst {
			dst[i] = f16ToF32(order.Uint16(raw[at:]))
			at += step
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(order.Uint16(raw[at:])) << 16)
			at += step
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(order.Uint64(raw[at:])))
			at += step
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(order.Uint64(raw[at:])))
			at += step
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(order.Uint32(raw[at:])))
			at += step
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(order.Uint16(raw[at:])))
			at += step
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(raw[at]))
			at += step
		}
	case U8:
		for i := range dst {
			dst[i] = float32(raw[at])
			at += step
		}
	case BOOL:
		for i := range dst {
			if raw[at] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
			at += step
		}
	default:
		panic("weights: decode: unconvertible dtype " + d.String())
	}
}

// f16ToF32 converts IEEE 754 binary16 bits to float32 exactly: every binary16 value,
// subnormals included, is representable as a float32. Infinities keep their sign; NaNs
// keep their sign and payload (shifted into the top of the float32 mantissa) and come out
// quiet, as PyTorch and the x86 F16C instruction VCVTPH2PS convert them.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && mant == 0: // Inf
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0x1f: // NaN, quieted
		return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	default: // subnormal: mant * 2^-24, normal as a float32
		shift := uint32(0)
		for mant&0x400 == 0 {
			mant <<= 1
			shift++
		}
		// The leading one moved to bit 10; the value is 1.m * 2^(-14-shift).
		return math.Float32frombits(sign | (113-shift)<<23 | (mant&0x3ff)<<13)
	}
}
