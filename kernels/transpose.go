package kernels

// transposeBlock is an assembly transpose of one n x n block: dst[p*ldd+j] = src[j*lds+p].
type transposeBlock struct {
	n  int
	fn func(dst *float32, ldd int, src *float32, lds int)
}

// transposeInto sets dst[p*ldd+j] = src[j*lds+p] for j < rows and p < depth: rows of src become
// columns of dst. Whole blocks go through the active path's block transpose, the rest through
// transposeGo.
func transposeInto(dst []float32, ldd int, src []float32, lds, rows, depth int) {
	if rows == 0 || depth == 0 {
		return
	}
	_ = src[(rows-1)*lds+depth-1]
	_ = dst[(depth-1)*ldd+rows-1]
	j := 0
	if t := transposeBlockFor(active); t.fn != nil {
		whole := depth / t.n * t.n
		for ; j+t.n <= rows; j += t.n {
			for p := 0; p < whole; p += t.n {
				t.fn(&dst[p*ldd+j], ldd, &src[j*lds+p], lds)
			}
			if whole < depth {
				transposeGo(dst[whole*ldd+j:], ldd, src[j*lds+whole:], lds, t.n, depth-whole)
			}
		}
	}
	if j < rows {
		transposeGo(dst[j:], ldd, src[j*lds:], lds, rows-j, depth)
	}
}

// transposeGo is transposeInto in plain Go, four rows of src at a time so each step writes four
// adjacent values of a row of dst.
func transposeGo(dst []float32, ldd int, src []float32, lds, rows, depth int) {
	j := 0
	for ; j+4 <= rows; j += 4 {
		s0 := src[j*lds : j*lds+depth]
		s1 := src[(j+1)*lds : (j+1)*lds+depth][:len(s0)]
		s2 := src[(j+2)*lds : (j+2)*lds+depth][:len(s0)]
		s3 := src[(j+3)*lds : (j+3)*lds+depth][:len(s0)]
		for p := range s0 {
			d := (*[4]float32)(dst[p*ldd+j:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; j < rows; j++ {
		for p, v := range src[j*lds : j*lds+depth] {
			dst[p*ldd+j] = v
		}
	}
}
