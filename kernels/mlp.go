package kernels

import (
	"fmt"
	"sync"
)

// mlpChunkRows is the number of rows of a PackedMLP chunk: a multiple of every micro-kernel's
// tile height (14, 6 and 2 rows), small enough that a chunk's hidden activation (84 x 1536
// floats for ViT-S/16, 0.5 MiB) stays in L2 between the two products.
const mlpChunkRows = 84

// hiddenBuffers holds the per-chunk hidden activations of PackedMLP calls.
var hiddenBuffers sync.Pool

// PackedMLP computes a transformer MLP with both weights packed (PackB), chunk of rows by chunk
// of rows, each chunk on one worker, so that its hidden activation goes from the first product
// to the second in cache instead of through memory:
//
//	y = GELU(x op(B1) + b1) op(B2) + b2
//	x is [rows, in]; w1 is op(B1) [in, hidden], b1 [hidden]; w2 is op(B2) [hidden, out],
//	b2 [out] or nil; y is [rows, out]; pre is nil or [rows, hidden]
//
// When pre is not nil it receives the pre-activation x op(B1) + b1, which GELUGrad needs. The
// result is bit for bit that of the two SgemmPacked calls with BiasGELU and BiasCols. It panics,
// naming the argument, if a size or a length does not fit.
func PackedMLP(y, pre, x []float32, rows int, w1 *PackedB, b1 []float32, w2 *PackedB, b2 []float32) {
	in, hidden, out := checkChain("PackedMLP", w1, w2, rows)
	checkMatrix("PackedMLP", "x", "in", x, rows, in, max(1, in))
	checkMatrix("PackedMLP", "y", "out", y, rows, out, max(1, out))
	first := BiasGELU{Bias: b1, Pre: pre}
	if err := first.Validate(rows, hidden); err != nil {
		panic("kernels: PackedMLP: " + err.Error())
	}
	if b2 != nil && len(b2) != out {
		panic(fmt.Sprintf("kernels: PackedMLP: len(b2) = %d, want %d", len(b2), out))
	}
	var ep2 Epilogue
	if b2 != nil {
		ep2 = BiasCols(b2)
	}
	ldh := stripCopyStride(hidden)
	chunks := ceilDiv(rows, mlpChunkRows)
	pool().Run(chunks, func(_, t int) {
		r0 := t * mlpChunkRows
		n := min(mlpChunkRows, rows-r0)
		buf := hiddenBuffer(hidden)
		defer hiddenBuffers.Put(buf)
		ep1 := &BiasGELU{Bias: b1}
		if pre != nil {
			ep1.Pre = pre[r0*hidden:]
		}
		g1 := gemmProblem{m: n, n: hidden, k: in, alpha: 1, a: x[r0*in:], lda: max(1, in), c: *buf, ldc: ldh, ep: ep1, packed: w1}
		g1.run(serialPool)
		g2 := gemmProblem{m: n, n: out, k: hidden, alpha: 1, a: *buf, lda: ldh, c: y[r0*out:], ldc: max(1, out), ep: ep2, packed: w2}
		g2.run(serialPool)
	})
}

// mlpSums holds the per-chunk bias gradients of PackedMLPBackward calls.
var mlpSums sync.Pool

// PackedMLPBackward is the backward pass of PackedMLP with frozen weights, chunk of rows by chunk
// of rows, each chunk on one worker, so that the hidden gradient goes from the first product to
// the second in cache instead of through memory:
//
//	dpre = (dy op(B2)) * GELU'(pre);  dx = dpre op(B1) + beta*dx
//	dy is [rows, out]; pre is [rows, hidden], as PackedMLP wrote it; w2 is op(B2) [out, hidden]
//	(the second weight, not transposed); w1 is op(B1) [hidden, in]; dx is [rows, in]
//
// When db2 [out] or db1 [hidden] is not nil, the column sums of dy or of dpre (the biases'
// gradients) are added to it: taken strip by strip as the products read them, then chunk after
// chunk, in an order that does not depend on the number of threads. dx is bit for bit what the
// two products done one after the other (SgemmPacked with GELUGrad, then SgemmPacked) give. It
// panics, naming the argument, if a size or a length does not fit.
func PackedMLPBackward(dx []float32, beta float32, db1, db2, dy, pre []float32, rows int, w1, w2 *PackedB) {
	out, hidden, in := checkChain("PackedMLPBackward", w2, w1, rows)
	checkMatrix("PackedMLPBackward", "dy", "out", dy, rows, out, max(1, out))
	checkMatrix("PackedMLPBackward", "pre", "hidden", pre, rows, hidden, max(1, hidden))
	checkMatrix("PackedMLPBackward", "dx", "in", dx, rows, in, max(1, in))
	checkSums("PackedMLPBackward", "db1", db1, hidden)
	checkSums("PackedMLPBackward", "db2", db2, out)
	ldh := stripCopyStride(hidden)
	chunks := ceilDiv(rows, mlpChunkRows)
	width := hidden + out
	sums, _ := mlpSums.Get().(*[]float32)
	if sums == nil {
		sums = new([]float32)
	}
	defer mlpSums.Put(sums)
	*sums = growAligned(*sums, chunks*width)
	pool().Run(chunks, func(_, t int) {
		r0 := t * mlpChunkRows
		n := min(mlpChunkRows, rows-r0)
		buf := hiddenBuffer(hidden)
		defer hiddenBuffers.Put(buf)
		chunkSums := (*sums)[t*width : (t+1)*width]
		clear(chunkSums)
		s1, s2 := chunkSums[:hidden], chunkSums[hidden:]
		g1 := gemmProblem{m: n, n: hidden, k: out, alpha: 1, a: dy[r0*out:], lda: max(1, out), c: *buf, ldc: ldh,
			ep: &GELUGrad{Pre: pre[r0*hidden:], Ld: max(1, hidden)}, packed: w2, aSums: when(db2 != nil, s2)}
		g1.run(serialPool)
		g2 := gemmProblem{m: n, n: in, k: hidden, alpha: 1, beta: beta, a: *buf, lda: ldh, c: dx[r0*in:], ldc: max(1, in),
			packed: w1, aSums: when(db1 != nil, s1)}
		g2.run(serialPool)
	})
	for t := range chunks {
		chunkSums := (*sums)[t*width : (t+1)*width]
		if db1 != nil {
			addSerial(db1, db1, chunkSums[:hidden])
		}
		if db2 != nil {
			addSerial(db2, db2, chunkSums[hidden:])
		}
	}
}

// checkChain panics, naming the function, unless a and b are packed weights whose products
// chain, op(A) [k, mid] then op(B) [mid, n], and rows >= 0; it returns k, mid and n.
func checkChain(fn string, a, b *PackedB, rows int) (k, mid, n int) {
	if a == nil || b == nil {
		panic("kernels: " + fn + ": a weight is nil")
	}
	k, mid = a.Dims()
	depth, n := b.Dims()
	if depth != mid {
		panic(fmt.Sprintf("kernels: %s: the weights do not chain: [%d, %d], then [%d, %d]", fn, k, mid, depth, n))
	}
	if rows < 0 {
		panic(fmt.Sprintf("kernels: %s: rows = %d", fn, rows))
	}
	return k, mid, n
}

// checkSums panics unless sums is nil or has n elements.
func checkSums(fn, name string, sums []float32, n int) {
	if sums != nil && len(sums) != n {
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d, want %d", fn, name, len(sums), n))
	}
}

// when is s if cond holds, else nil.
func when(cond bool, s []float32) []float32 {
	if cond {
		return s
	}
	return nil
}

// hiddenBuffer returns a buffer for one chunk of a hidden activation of the given width, rows
// stripCopyStride(width) apart; put it back in hiddenBuffers.
func hiddenBuffer(width int) *[]float32 {
	buf, _ := hiddenBuffers.Get().(*[]float32)
	if buf == nil {
		buf = new([]float32)
	}
	*buf = growAligned(*buf, mlpChunkRows*stripCopyStride(width))
	return buf
}
