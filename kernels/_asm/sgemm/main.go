// Command sgemm generates the SGEMM micro-kernels of package kernels.
//
// Algorithm: a register-blocked outer-product micro-kernel. The tile C[MR, NR] stays in vector
// registers (MR rows, NR/lanes vectors per row). For each p < k it loads one row of B (NR values),
// broadcasts the MR values A[r, p] into a register one at a time and accumulates
// acc[r] += A[r, p] * B[p, :] with fused multiply-adds. At the end it writes
// C = alpha*acc + beta*C; when beta is exactly zero C is only written, never read, so NaN or Inf
// already in C is overwritten as BLAS requires.
//
// A and B are read through strides, so one kernel serves packed panels and matrices in place:
// A[r, p] is at a + r*aRow + p*aStep and B[p, j] is at b + p*bStep + j (strides in elements).
// The MR row addresses are formed from two base pointers per group of six rows and the index
// registers aRow, 3*aRow and 5*aRow with the x86 scales 1, 2 and 4, so no packing of A is needed.
//
// Kernels: 14x32 for AVX-512 (28 accumulators in zmm) and 6x16 for AVX2+FMA (12 in ymm). C is
// walked row by row with a single pointer, so the general registers serve the rows of A.
//
// The bf16 kernel (AVX512_BF16) is the 14x32 one over pairs of depth: each 32-bit element of A
// and B holds two bf16 values of consecutive depth, the broadcast pair of A meets 16 pairs of B
// in one VDPBF16PS, which adds both products to the float32 accumulator. Go's assembler and avo
// do not know VDPBF16PS, so it is emitted as bytes by the encoder in evex.go.
//
// Run `go generate` in package kernels (or `make generate`) to rewrite sgemm_kernel_amd64.s and
// sgemm_kernel_amd64.go.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// kernelSpec describes one micro-kernel: MR rows of C, vecs vectors of lanes floats per row.
// fma accumulates one step of the product: acc += a * b, a holding the broadcast value of A.
type kernelSpec struct {
	name   string
	doc    string
	rows   int
	vecs   int
	lanes  int
	newVec func() vector
	zero   func(v vector)
	fma    func(b, a, acc vector)
}

// fp32Doc and bf16Doc describe what a kernel computes; %[1]s is its name and %[2]d, %[3]d its tile.
const (
	fp32Doc = "%[1]s sets C[%[2]d,%[3]d] = alpha*A*B + beta*C with A[r,p] at a[r*aRow+p*aStep] and B[p,j] at b[p*bStep+j] (strides in elements); C rows are ldc elements apart. k may be 0."
	bf16Doc = "%[1]s sets C[%[2]d,%[3]d] = alpha*A*B + beta*C in bf16 products summed in float32. k counts pairs of depth: the 32-bit element A[r,p] at a[r*aRow+p*aStep] holds A[r,2p] in its low and A[r,2p+1] in its high 16 bits as bf16, and B[p,j] at b[p*bStep+j] holds B[2p,j] and B[2p+1,j] alike (strides in 32-bit elements); C is float32, its rows ldc elements apart. k may be 0."
)

func main() {
	ConstraintExpr("amd64,gc,!purego")

	sgemmKernel(kernelSpec{
		name: "sgemmKernel14x32AVX512", doc: fp32Doc, rows: 14, vecs: 2, lanes: 16,
		newVec: func() vector { return ZMM() },
		zero:   func(v vector) { VPXORD(v, v, v) },
		fma:    func(b, a, acc vector) { VFMADD231PS(b, a, acc) },
	})
	sgemmKernel(kernelSpec{
		name: "sgemmKernel6x16AVX2", doc: fp32Doc, rows: 6, vecs: 2, lanes: 8,
		newVec: func() vector { return YMM() },
		zero:   func(v vector) { VXORPS(v, v, v) },
		fma:    func(b, a, acc vector) { VFMADD231PS(b, a, acc) },
	})
	// The bf16 kernel is the same outer product over pairs of depth, VDPBF16PS in place of the
	// FMA. Its vector registers are physical, as the raw encodings of VDPBF16PS name them.
	zmm := physicalZMM(14*2 + 2)
	sgemmKernel(kernelSpec{
		name: "sgemmKernel14x32BF16AVX512", doc: bf16Doc, rows: 14, vecs: 2, lanes: 16,
		newVec: zmm,
		zero:   func(v vector) { VPXORD(v, v, v) },
		fma:    func(b, a, acc vector) { opVDPBF16PS.emit(acc, b, a) },
	})
	bf16Pairs()
	bf16ColumnPairs()
	Generate()
}

// rowAddressing addresses MR rows of a matrix whose rows are strideElems elements apart:
// one base register per group of six rows and the index registers holding 1, 3 and 5 row strides in bytes.
type rowAddressing struct {
	bases            []Register
	one, three, five Register
}

func newRowAddressing(rows int, base, strideElems Register) rowAddressing {
	ra := rowAddressing{one: GP64(), three: GP64(), five: GP64()}
	MOVQ(strideElems, ra.one)
	SHLQ(U8(2), ra.one)
	LEAQ(Mem{Base: ra.one, Index: ra.one, Scale: 2}, ra.three)
	LEAQ(Mem{Base: ra.one, Index: ra.one, Scale: 4}, ra.five)
	ra.bases = []Register{base}
	for g := 1; g*6 < rows; g++ {
		next := GP64()
		prev := ra.bases[g-1]
		// next = prev + 6*stride = prev + 2*(3*stride)
		LEAQ(Mem{Base: prev, Index: ra.three, Scale: 2}, next)
		ra.bases = append(ra.bases, next)
	}
	return ra
}

// row returns the address of row r.
func (ra rowAddressing) row(r int) Mem {
	base := ra.bases[r/6]
	switch r % 6 {
	case 0:
		return Mem{Base: base}
	case 1:
		return Mem{Base: base, Index: ra.one, Scale: 1}
	case 2:
		return Mem{Base: base, Index: ra.one, Scale: 2}
	case 3:
		return Mem{Base: base, Index: ra.three, Scale: 1}
	case 4:
		return Mem{Base: base, Index: ra.one, Scale: 4}
	default:
		return Mem{Base: base, Index: ra.five, Scale: 1}
	}
}

// advance adds step bytes to every base pointer.
func (ra rowAddressing) advance(step Register) {
	for _, b := range ra.bases {
		ADDQ(step, b)
	}
}

func sgemmKernel(s kernelSpec) {
	vecBytes := 4 * s.lanes
	TEXT(s.name, NOSPLIT, "func(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32)")
	Doc(fmt.Sprintf(s.doc, s.name, s.rows, s.vecs*s.lanes))

	k := Load(Param("k"), GP64())
	aBase := Load(Param("a"), GP64())
	aRow := Load(Param("aRow"), GP64())
	aStep := Load(Param("aStep"), GP64())
	SHLQ(U8(2), aStep)
	bPtr := Load(Param("b"), GP64())
	bStep := Load(Param("bStep"), GP64())
	SHLQ(U8(2), bStep)
	Comment("Prefetch the C tile while the products accumulate.")
	cRow, ldc := cRowPointer()
	for r := 0; r < s.rows; r++ {
		for off := 0; off < s.vecs*vecBytes; off += 64 {
			PREFETCHT0(Mem{Base: cRow}.Offset(off))
		}
		if r+1 < s.rows {
			ADDQ(ldc, cRow)
		}
	}

	acc := make([][]vector, s.rows)
	for r := range acc {
		acc[r] = make([]vector, s.vecs)
		for v := range acc[r] {
			acc[r][v] = s.newVec()
			s.zero(acc[r][v])
		}
	}

	aRows := newRowAddressing(s.rows, aBase, aRow)
	bRow := make([]vector, s.vecs)
	for v := range bRow {
		bRow[v] = s.newVec()
	}
	TESTQ(k, k)
	JZ(LabelRef("epilogue"))

	Label("loop")
	for v := range bRow {
		VMOVUPS(Mem{Base: bPtr}.Offset(v*vecBytes), bRow[v])
	}
	for r := 0; r < s.rows; r++ {
		t := s.newVec()
		VBROADCASTSS(aRows.row(r), t)
		for v := range bRow {
			s.fma(bRow[v], t, acc[r][v])
		}
	}
	aRows.advance(aStep)
	ADDQ(bStep, bPtr)
	DECQ(k)
	JNZ(LabelRef("loop"))

	Label("epilogue")
	alpha := s.newVec()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	for r := range acc {
		for v := range acc[r] {
			VMULPS(alpha, acc[r][v], acc[r][v])
		}
	}
	Comment("beta is zero (+0 or -0) when its bits other than the sign are all clear.")
	betaBits := GP32()
	MOVL(paramAddr("beta"), betaBits)
	ANDL(U32(0x7fffffff), betaBits)
	JNZ(LabelRef("accumulate"))

	Comment("beta == 0: write C without reading it.")
	cRow, ldc = cRowPointer()
	for r := range acc {
		for v := range acc[r] {
			VMOVUPS(acc[r][v], Mem{Base: cRow}.Offset(v*vecBytes))
		}
		if r+1 < len(acc) {
			ADDQ(ldc, cRow)
		}
	}
	VZEROUPPER()
	RET()

	Label("accumulate")
	beta := s.newVec()
	VBROADCASTSS(paramAddr("beta"), beta)
	cRow, ldc = cRowPointer()
	for r := range acc {
		for v := range acc[r] {
			VFMADD231PS(Mem{Base: cRow}.Offset(v*vecBytes), beta, acc[r][v])
			VMOVUPS(acc[r][v], Mem{Base: cRow}.Offset(v*vecBytes))
		}
		if r+1 < len(acc) {
			ADDQ(ldc, cRow)
		}
	}
	VZEROUPPER()
	RET()
}

// physicalZMM returns an allocator of physical zmm registers: the first fixed calls get Z0, Z1, ...
// in turn (accumulators and rows of B, live through the loop), later ones alternate between the
// two registers left at the top (short-lived broadcasts and constants).
func physicalZMM(fixed int) func() vector {
	next := 0
	return func() vector {
		i := next
		if i >= fixed {
			i = fixed + (i-fixed)%2
		}
		next++
		return zmmByNumber[i]
	}
}

var zmmByNumber = []vector{
	Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31,
}

// cRowPointer loads a pointer to the first row of C and the row stride in bytes. The rows of C
// are walked with that one pointer, so the general registers stay free for the rows of A while
// the products accumulate.
func cRowPointer() (row, stride Register) {
	row = Load(Param("c"), GP64())
	stride = Load(Param("ldc"), GP64())
	SHLQ(U8(2), stride)
	return row, stride
}

// paramAddr is the memory operand of a float32 argument, so it can be broadcast straight into a
// vector register (legacy SSE loads cannot reach X16-X31).
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
