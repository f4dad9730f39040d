package weights

import (
	"encoding/binary"
	"math"
	"testing"
)

// f16Reference is binary16's definition evaluated in float64.
func f16Reference(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * mant * math.Pow(2, -24)
	case 0x1f:
		if mant == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + mant/1024) * math.Pow(2, float64(exp-15))
}

// TestF16Exhaustive checks every one of the 65536 binary16 values against the format's
// definition: finite values and infinities exactly, NaNs as quiet NaNs with their sign and
// payload.
func TestF16Exhaustive(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got := math.Float32bits(f16ToF32(h))
		ref := f16Reference(h)
		var want uint32
		if math.IsNaN(ref) {
			want = uint32(h&0x8000)<<16 | 0x7fc00000 | uint32(h&0x3ff)<<13
		} else {
			want = math.Float32bits(float32(ref)) // exact: binary16 values are float32 values
			if float64(float32(ref)) != ref {
				t.Fatalf("%#04x: reference %v is not a float32", h, ref)
			}
		}
		if got != want {
			t.Fatalf("f16ToF32(%#04x) = %#08x (%v), want %#08x (%v)", h, got, math.Float32frombits(got), want, math.Float32frombits(want))
		}
	}
}

// TestBF16Exhaustive checks every bfloat16 value against its definition: the top half of a
// binary32, evaluated in float64 from sign, exponent and mantissa.
func TestBF16Exhaustive(t *testing.T) {
	raw := make([]byte, 2)
	dst := make([]float32, 1)
	for i := range 1 << 16 {
		binary.LittleEndian.PutUint16(raw, uint16(i))
		decode(dst, raw, BF16, binary.LittleEndian, 0, 1)
		sign := 1.0
		if i&0x8000 != 0 {
			sign = -1
		}
		exp, mant := (i>>7)&0xff, float64(i&0x7f)
		got := dst[0]
		switch {
		case exp == 0xff && mant != 0:
			if math.Float32bits(got) != uint32(i)<<16 {
				t.Fatalf("%#04x: NaN came out as %#08x", i, math.Float32bits(got))
			}
		case exp == 0xff:
			if !math.IsInf(float64(got), int(sign)) {
				t.Fatalf("%#04x: got %v, want infinity", i, got)
			}
		default:
			want := sign * mant / 128 * math.Pow(2, -126)
			if exp != 0 {
				want = sign * (1 + mant/128) * math.Pow(2, float64(exp-127))
			}
			if float64(got) != want || math.Signbit(float64(got)) != (sign < 0) {
				t.Fatalf("%#04x: got %v, want %v", i, got, want)
			}
		}
	}
}

// TestDecodeStridedAndBigEndian reads every convertible dtype with an offset, a stride and
// both byte orders.
func TestDecodeStridedAndBigEndian(t *testing.T) {
	vals := []float64{3, -2, 0, 1, 5, -7}
	for _, d := range []DType{F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL} {
		for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			size := int(d.Size())
			raw := make([]byte, len(vals)*size)
			for i, v := range vals {
				if d == U8 || d == BOOL {
					v = math.Abs(v)
					if d == BOOL {
						v = math.Min(v, 1)
					}
				}
				b := raw[i*size:]
				switch d {
				case F32:
					order.PutUint32(b, math.Float32bits(float32(v)))
				case F16:
					order.PutUint16(b, map[float64]uint16{3: 0x4200, -2: 0xc000, 0: 0, 1: 0x3c00, 5: 0x4500, -7: 0xc700}[v])
				case BF16:
					order.PutUint16(b, uint16(math.Float32bits(float32(v))>>16))
				case F64:
					order.PutUint64(b, math.Float64bits(v))
				case I64:
					order.PutUint64(b, uint64(int64(v)))
				case I32:
					order.PutUint32(b, uint32(int32(v)))
				case I16:
					order.PutUint16(b, uint16(int16(v)))
				case I8, U8, BOOL:
					b[0] = byte(int8(v))
				}
			}
			dst := make([]float32, 3)
			decode(dst, raw, d, order, 1, 2) // elements 1, 3, 5
			for k, i := range []int{1, 3, 5} {
				want := vals[i]
				if d == U8 {
					want = math.Abs(want)
				}
				if d == BOOL {
					want = math.Min(math.Abs(want), 1)
				}
				if float64(dst[k]) != want {
					t.Errorf("%s %v: element %d = %v, want %v", d, order, i, dst[k], want)
				}
			}
		}
	}
}

func TestDTypeNames(t *testing.T) {
	for d := F32; d <= F8E5M2; d++ {
		got, ok := parseDType(d.String())
		if !ok || got != d || d.Size() == 0 {
			t.Errorf("parseDType(%q) = %v, %v; Size %d", d.String(), got, ok, d.Size())
		}
	}
	if _, ok := parseDType("invalid"); ok {
		t.Error(`parseDType("invalid") succeeded`)
	}
	if DType(200).String() != "DType(200)" || DType(200).Size() != 0 {
		t.Error("out-of-range DType")
	}
}
