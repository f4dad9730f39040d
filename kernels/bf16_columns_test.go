package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// columnPairsSentinel fills dst around the pairs roundColumnPairs writes. No pair is these bits:
// both halves are a NaN with the quiet bit (0x0040) clear, which the rounding always sets.
const columnPairsSentinel = uint32(0x7f817f81)

// columnPairsValues returns n values that exercise the rounding: random bit patterns, ties
// (low 16 bits exactly 0x8000, with bit 16 even and odd), subnormals, signed zeros,
// infinities, quiet and signalling NaNs of both signs, and ordinary floats.
func columnPairsValues(rng *rand.Rand, n int) []float32 {
	special := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff812345,
		0x00000001, 0x807fffff, 0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000, 0x7f7f8000, 0x7f7fffff}
	x := make([]float32, n)
	for i := range x {
		switch i % 7 {
		case 0:
			x[i] = math.Float32frombits(rng.Uint32())
		case 1:
			x[i] = math.Float32frombits(rng.Uint32()&0xffff0000 | 0x8000) // a tie, bit 16 random
		case 2:
			x[i] = math.Float32frombits(rng.Uint32() & 0x807fffff) // subnormal or zero
		case 3:
			x[i] = math.Float32frombits(special[rng.IntN(len(special))])
		default:
			x[i] = float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-20)))
		}
	}
	return x
}

// checkRoundColumnPairs runs roundColumnPairs on src ([rows, cols], rows lds apart) into a
// buffer of pairs ldd apart filled with a sentinel, and returns a description of the first
// pair that differs from bf16Pair's, or of the first sentinel overwritten; "" if none.
func checkRoundColumnPairs(src []float32, lds, rows, cols, ldd int) string {
	pairs := (rows + 1) / 2
	dst := make([]float32, pairs*ldd+32)
	for i := range dst {
		dst[i] = math.Float32frombits(columnPairsSentinel)
	}
	roundColumnPairs(dst, ldd, src, lds, rows, cols)
	for i, v := range dst {
		p, c := i/ldd, i%ldd
		want := columnPairsSentinel
		if p < pairs && c < cols {
			hi := float32(0)
			if 2*p+1 < rows {
				hi = src[(2*p+1)*lds+c]
			}
			want = math.Float32bits(bf16Pair(src[2*p*lds+c], hi))
		}
		if got := math.Float32bits(v); got != want {
			return fmt.Sprintf("rows=%d cols=%d lds=%d ldd=%d: dst[%d] (pair row %d, column %d) = %#08x, want %#08x",
				rows, cols, lds, ldd, i, p, c, got, want)
		}
	}
	return ""
}

// TestRoundColumnPairs checks roundColumnPairs against bf16Pair bit for bit on every SIMD path,
// over odd and even row counts, column counts around the assembly's blocks of 16 and 32 (and
// past the 256 zeros the last row of an odd count is paired with), and padded strides; nothing
// outside the pairs may be written.
func TestRoundColumnPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(70, 207))
	forEachSIMD(t, func(t *testing.T) {
		for _, rows := range []int{0, 1, 2, 3, 5, 14, 15, 69} {
			for _, cols := range []int{0, 1, 15, 16, 17, 31, 32, 33, 207, 300, 529} {
				for _, pad := range [][2]int{{0, 0}, {3, 0}, {0, 5}, {17, 33}} {
					lds, ldd := cols+pad[0], cols+pad[1]
					n := 0
					if rows > 0 {
						n = (rows-1)*lds + cols // exactly as long as the last row needs
					}
					src := columnPairsValues(rng, n)
					if msg := checkRoundColumnPairs(src, lds, rows, cols, max(ldd, 1)); msg != "" {
						t.Fatal(msg)
					}
				}
			}
		}
	})
}

// FuzzRoundColumnPairs checks roundColumnPairs against bf16Pair bit for bit on every SIMD path,
// the values arbitrary bit patterns (repeated to fill the matrix), the shape and the padding of
// both strides from the input.
func FuzzRoundColumnPairs(f *testing.F) {
	f.Add(bytesOf(0, 1, -1, 1e-40, -1e-40, posInf32, negInf32, nanF32, math.Float32frombits(0x3f808000),
		math.Float32frombits(0x3f818000)), uint8(5), uint16(33), uint8(0), uint8(3))
	f.Add(bytesOf(1.5, -2.25, 3e38, math.Float32frombits(0x7f800001)), uint8(69), uint16(207), uint8(9), uint8(0))
	f.Add([]byte{}, uint8(2), uint16(16), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, rows8 uint8, cols16 uint16, ldsPad, lddPad uint8) {
		rows, cols := int(rows8%72), int(cols16%600)
		lds, ldd := cols+int(ldsPad%20), max(cols+int(lddPad%20), 1)
		values := floatsOf(data)
		n := 0
		if rows > 0 {
			n = (rows-1)*lds + cols
		}
		src := make([]float32, n)
		for i := range src {
			if len(values) > 0 {
				src[i] = values[i%len(values)]
			}
		}
		saved := ActiveSIMD()
		defer SetSIMD(saved)
		for _, s := range supportedSIMDs() {
			if err := SetSIMD(s); err != nil {
				t.Fatal(err)
			}
			if msg := checkRoundColumnPairs(src, lds, rows, cols, ldd); msg != "" {
				t.Fatalf("%v: %s", s, msg)
			}
		}
	})
}

// BenchmarkRoundColumnPairs rounds a block of attention's backward pass (70 rows of 207
// columns) on each SIMD path.
func BenchmarkRoundColumnPairs(b *testing.B) {
	const rows, cols = 70, 207
	src := columnPairsValues(rand.New(rand.NewPCG(1, 2)), rows*cols)
	dst := make([]float32, (rows+1)/2*cols)
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	for _, s := range supportedSIMDs() {
		if err := SetSIMD(s); err != nil {
			b.Fatal(err)
		}
		b.Run(s.String(), func(b *testing.B) {
			b.SetBytes(rows * cols * 4)
			for b.Loop() {
				roundColumnPairs(dst, cols, src, cols, rows, cols)
			}
		})
	}
}
