package kernels

import (
	"fmt"
	"math"
	"strings"
	"unsafe"
)

// Precision is the number format a packed weight is multiplied in (see PackB).
type Precision int

const (
	// FP32 multiplies in float32, as Sgemm does.
	FP32 Precision = iota
	// BF16 rounds both operands to bfloat16 (8 bits of mantissa, float32's range) and sums the
	// products in float32, as AVX512_BF16's VDPBF16PS does; C stays float32.
	BF16
)

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision returns the precision named by s ("fp32" or "bf16", any case).
func ParsePrecision(s string) (Precision, error) {
	for _, p := range []Precision{FP32, BF16} {
		if strings.EqualFold(strings.TrimSpace(s), p.String()) {
			return p, nil
		}
	}
	return FP32, fmt.Errorf("kernels: unknown precision %q: want fp32 or bf16", s)
}

// AutoPrecision is the precision name that ChoosePrecision resolves to the best one here.
const AutoPrecision = "auto"

// ChoosePrecision returns the precision named by s: "fp32", "bf16", or "auto" (and "") for bf16
// where the active path multiplies it in assembly (HasBF16) and fp32 elsewhere. Asked for bf16
// without that assembly, it still returns BF16, with a warning that the products run in plain
// Go and far slower.
func ChoosePrecision(s string) (p Precision, warning string, err error) {
	if t := strings.TrimSpace(s); t == "" || strings.EqualFold(t, AutoPrecision) {
		if HasBF16() {
			return BF16, "", nil
		}
		return FP32, "", nil
	}
	if p, err = ParsePrecision(s); err != nil {
		return FP32, "", fmt.Errorf("kernels: unknown precision %q: want fp32, bf16 or auto", s)
	}
	if p == BF16 && !HasBF16() {
		warning = fmt.Sprintf("bf16 products run in plain Go on this path (%v, no AVX512_BF16) and are far slower than fp32", active)
	}
	return p, warning, nil
}

// BF16Round returns x rounded to the nearest bfloat16 (ties to even), as a float32: the
// rounding the bf16 kernels apply to both operands. As the hardware does, a subnormal rounds to
// zero of its sign and a NaN stays a (quiet) NaN.
func BF16Round(x float32) float32 {
	return math.Float32frombits(uint32(bf16Bits(x)) << 16)
}

// bf16Bits is the bfloat16 nearest x, ties to even, with subnormals flushed to signed zero and
// NaN made quiet: what VCVTNE2PS2BF16 writes.
func bf16Bits(x float32) uint16 {
	bits := math.Float32bits(x)
	switch {
	case bits&0x7f800000 == 0: // zero or subnormal
		return uint16(bits>>16) & 0x8000
	case bits&0x7fffffff > 0x7f800000: // NaN
		return uint16(bits>>16) | 0x40
	}
	return uint16((bits + 0x7fff + (bits>>16)&1) >> 16)
}

// bf16Pair packs two values of consecutive depth into one 32-bit element of a bf16 operand:
// lo in the low half, hi in the high half.
func bf16Pair(lo, hi float32) float32 {
	return math.Float32frombits(uint32(bf16Bits(lo)) | uint32(bf16Bits(hi))<<16)
}

// unpairBF16 returns the two values of a bf16 pair as float32s.
func unpairBF16(pair float32) (lo, hi float32) {
	bits := math.Float32bits(pair)
	return math.Float32frombits(bits << 16), math.Float32frombits(bits &^ 0xffff)
}

// roundToPairs writes the values of src as bf16 pairs into dst: dst[i] holds src[2i] and
// src[2i+1], the last high half zero when len(src) is odd. dst needs (len(src)+1)/2 elements.
func roundToPairs(dst, src []float32) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[(n+1)/2-1]
	if fn := bf16PairsFor(active); fn != nil {
		fn(&dst[0], &src[0], n)
		return
	}
	for i := 0; i+1 < n; i += 2 {
		dst[i/2] = bf16Pair(src[i], src[i+1])
	}
	if n%2 == 1 {
		dst[n/2] = bf16Pair(src[n-1], 0)
	}
}

// bf16PairsKernel rounds n float32 values at src to (n+1)/2 bf16 pairs at dst, the high half of
// the last pair zero when n is odd.
type bf16PairsKernel func(dst, src *float32, n int)

// genericBF16GemmKernel is the plain Go bf16 micro-kernel: the reference for the assembly one
// and the fallback on CPUs without AVX512_BF16.
var genericBF16GemmKernel = gemmKernel{mr: 2, nr: 3, kc: 256, nc: 510, pairs: true, fn: sgemmKernel2x3BF16Go}

// sgemmKernel2x3BF16Go is the microKernel contract for a 2x3 tile of bf16 pairs (see gemmKernel's
// pairs): each step adds the product of the high halves, then of the low halves, to the float32
// sums. A product of two bf16 values is exact in float32, so only the sums round.
func sgemmKernel2x3BF16Go(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32) {
	var acc [2][3]float32
	for p := range k {
		for r := range acc {
			alo, ahi := unpairBF16(elementAt(a, r*aRow+p*aStep))
			for j := range acc[r] {
				blo, bhi := unpairBF16(elementAt(b, p*bStep+j))
				acc[r][j] += ahi * bhi
				acc[r][j] += alo * blo
			}
		}
	}
	storeRow3(c, alpha, beta, acc[0])
	storeRow3((*float32)(unsafe.Add(unsafe.Pointer(c), uintptr(ldc)*4)), alpha, beta, acc[1])
}

// elementAt is the element i places after p.
func elementAt(p *float32, i int) float32 {
	return *(*float32)(unsafe.Add(unsafe.Pointer(p), uintptr(i)*4))
}
