package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// PackedB is a matrix op(B) [k,n] packed once into the blocks and panels the micro-kernel reads,
// in float32 or in bf16, for products that use the same B many times: a frozen weight. Products
// with it (SgemmPacked) skip packing B, and in bf16 they run the bf16 kernel.
//
// The packing belongs to the SIMD path active when it was made; after SetSIMD, the first product
// packs the source again for the new path. B itself must therefore stay unchanged while the
// PackedB is in use: values written to B later are not seen until Repack.
type PackedB struct {
	k, n      int
	precision Precision
	b         []float32 // the source, [k,n] (ldb >= n) or, transposed, [n,k] (ldb >= k)
	ldb       int
	trans     bool

	mu      sync.Mutex // held while packing
	packing atomic.Pointer[packing]
}

// packing is a PackedB's blocks for one SIMD path's kernel, in the order gemmRun.block visits
// them (column blocks, then depth blocks within each).
type packing struct {
	simd   SIMD
	kern   gemmKernel
	blocks [][]float32
	size   int // elements in all blocks
}

// PackB packs op(B) [k,n] for products in the given precision, where op(B) is B stored [k,n]
// (ldb >= n) or, when trans is set, B stored [n,k] (ldb >= k) and transposed. The weight w of a
// layer x w^T, w [out,in], is PackB(p, true, in, out, w, in); the input gradient's dy w is
// PackB(p, false, out, in, w, in). It panics, naming the argument, on a negative size, a short
// leading dimension or slice, or an unknown precision.
func PackB(precision Precision, trans bool, k, n int, b []float32, ldb int) *PackedB {
	if k < 0 || n < 0 {
		panic(fmt.Sprintf("kernels: PackB: negative size k=%d n=%d", k, n))
	}
	if precision != FP32 && precision != BF16 {
		panic(fmt.Sprintf("kernels: PackB: unknown precision %v", precision))
	}
	rows, cols := k, n
	if trans {
		rows, cols = n, k
	}
	checkMatrix("PackB", "b", "ldb", b, rows, cols, ldb)
	pb := &PackedB{k: k, n: n, precision: precision, b: b, ldb: ldb, trans: trans}
	pb.Repack()
	return pb
}

// Dims returns the depth k and width n of op(B).
func (pb *PackedB) Dims() (k, n int) { return pb.k, pb.n }

// Precision returns the precision products with pb run in.
func (pb *PackedB) Precision() Precision { return pb.precision }

// Bytes is the memory the packed copy takes.
func (pb *PackedB) Bytes() int {
	if p := pb.packing.Load(); p != nil {
		return 4 * p.size
	}
	return 0
}

// Repack packs B again, for the active SIMD path, after its values changed.
func (pb *PackedB) Repack() {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	pb.packing.Store(pb.pack(active))
}

// current returns the packing for the active SIMD path, packing B for it first if need be.
func (pb *PackedB) current() *packing {
	if p := pb.packing.Load(); p != nil && p.simd == active {
		return p
	}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if p := pb.packing.Load(); p != nil && p.simd == active {
		return p
	}
	p := pb.pack(active)
	pb.packing.Store(p)
	return p
}

// pack returns B packed for the kernel of path s in pb's precision.
func (pb *PackedB) pack(s SIMD) *packing {
	kern := sgemmKernelFor(s)
	if pb.precision == BF16 {
		kern = bf16GemmKernelFor(s)
	}
	p := &packing{simd: s, kern: kern}
	if pb.k == 0 || pb.n == 0 {
		return p
	}
	nbMax, kbMax := kern.blocking(pb.n, pb.k)
	for jc := 0; jc < pb.n; jc += nbMax {
		for pc := 0; pc < pb.k; pc += kbMax {
			nb, kb := min(nbMax, pb.n-jc), min(kbMax, pb.k-pc)
			panel := kern.steps(kb) * kern.nr
			blk := AlignedFloat32s(ceilDiv(nb, kern.nr) * panel)
			for q := range ceilDiv(nb, kern.nr) {
				j0 := jc + q*kern.nr
				pb.packPanel(blk[q*panel:(q+1)*panel], kern, pc, kb, j0, min(kern.nr, jc+nb-j0))
			}
			p.blocks = append(p.blocks, blk)
			p.size += len(blk)
		}
	}
	return p
}

// packPanel writes op(B)[p0:p0+kb, j0:j0+cols] into dst as the kernel reads a panel: kb rows of
// nr values, or for a bf16 kernel kb/2 rounded up rows of nr pairs; zero padded.
func (pb *PackedB) packPanel(dst []float32, kern gemmKernel, p0, kb, j0, cols int) {
	if !kern.pairs {
		packPanel(dst, pb.b, pb.ldb, pb.trans, p0, kb, j0, cols, kern.nr)
		return
	}
	clear(dst)
	for p := 0; p < kb; p += 2 {
		row := dst[p/2*kern.nr:]
		for j := range cols {
			hi := float32(0)
			if p+1 < kb {
				hi = pb.at(p0+p+1, j0+j)
			}
			row[j] = bf16Pair(pb.at(p0+p, j0+j), hi)
		}
	}
}

// at is op(B)[p, j].
func (pb *PackedB) at(p, j int) float32 {
	if pb.trans {
		return pb.b[j*pb.ldb+p]
	}
	return pb.b[p*pb.ldb+j]
}

// SgemmPacked computes C = alpha*A*op(B) + beta*C with op(B) [k,n] packed by PackB, applying ep
// to every finished tile of C as SgemmEpilogue does (nil for none).
//
//	A is [m,k] (lda >= k), not transposed; C is [m,n] (ldc >= n)
//
// In BF16, A is rounded to bf16 as it is read and the products are summed in float32. It panics,
// naming the argument, as Sgemm does.
func SgemmPacked(ep Epilogue, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int) {
	sgemmPacked("SgemmPacked", ep, nil, m, alpha, a, lda, b, beta, c, ldc)
}

// SgemmPackedColumnSums is SgemmPacked that also adds the column sums of A to sums [k],
// sums[p] += A[0,p] + ... + A[m-1,p], in float32 from A as given (not rounded), while the product
// reads A: the bias gradient of a linear layer taken with its input gradient dy w, without a
// pass of its own over dy. The rows are summed strip by strip of the kernel's tile height, then
// the strips in order, so the result depends on the SIMD path but not on the number of threads.
// It panics as SgemmPacked does, and if len(sums) is not k.
func SgemmPackedColumnSums(ep Epilogue, sums []float32, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int) {
	if sums == nil {
		sums = []float32{}
	}
	sgemmPacked("SgemmPackedColumnSums", ep, sums, m, alpha, a, lda, b, beta, c, ldc)
}

func sgemmPacked(fn string, ep Epilogue, sums []float32, m int, alpha float32, a []float32, lda int, b *PackedB, beta float32, c []float32, ldc int) {
	if b == nil {
		panic("kernels: " + fn + ": b is nil")
	}
	g := gemmProblem{
		m: m, n: b.n, k: b.k,
		alpha: alpha, beta: beta,
		a: a, c: c, lda: lda, ldc: ldc,
		ep: ep, packed: b, aSums: sums,
	}
	g.check(fn)
	g.run(pool())
}
