package kernels

// roundColumnPairs rounds a [rows, cols] matrix (rows lds apart) to bf16 pairs down its
// columns: dst[p*ldd + c] holds src[2p, c] in its low and src[2p+1, c] in its high half, the
// high half zero for the last pair when rows is odd. It is the operand layout of a bf16 product
// whose depth runs along src's rows (P^T dout in attention's backward pass). dst is
// [(rows+1)/2, cols] with rows ldd apart.
func roundColumnPairs(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	fn := bf16ColumnPairsFor(active)
	for p := 0; p < rows; p += 2 {
		lo := src[p*lds : p*lds+cols]
		out := dst[p/2*ldd : p/2*ldd+cols]
		if p+1 == rows {
			// The last row of an odd count pairs with zeros, a block of them at a time.
			for c := 0; c < cols; c += len(zeroColumns) {
				end := min(cols, c+len(zeroColumns))
				pairColumns(fn, out[c:end], lo[c:end], zeroColumns[:end-c])
			}
			continue
		}
		pairColumns(fn, out, lo, src[(p+1)*lds:(p+1)*lds+cols])
	}
}

// pairColumns sets out[c] = bf16Pair(lo[c], hi[c]): the assembly fn (if not nil) for the
// columns in whole blocks of 16, the Go loop for the rest. lo and hi are as long as out.
func pairColumns(fn bf16ColumnPairsKernel, out, lo, hi []float32) {
	lo, hi = lo[:len(out)], hi[:len(out)]
	done := 0
	if fn != nil && len(out) >= 16 {
		done = len(out) &^ 15
		fn(&out[0], &lo[0], &hi[0], done)
	}
	for c := done; c < len(out); c++ {
		out[c] = bf16Pair(lo[c], hi[c])
	}
}

// bf16ColumnPairsKernel rounds the n float32 values (a multiple of 16) at lo and at hi to bf16
// pairs at dst: dst[j] holds lo[j] in its low and hi[j] in its high half.
type bf16ColumnPairsKernel func(dst, lo, hi *float32, n int)

// zeroColumns is the row of zeros the last row of an odd count pairs with.
var zeroColumns [256]float32
