package kernels

import "fmt"

// serialPool runs every task on the calling goroutine.
var serialPool = NewPool(1)

// SgemmStridedBatched computes batch independent products of one shape,
//
//	C_i = alpha*op(A_i)*op(B_i) + beta*C_i   for i < batch,
//
// where A_i is the matrix starting at a[i*strideA], B_i at b[i*strideB] and C_i at c[i*strideC],
// each laid out as in Sgemm. A stride of 0 for A or B uses one matrix for the whole batch. The C_i
// must not overlap: strideC must be at least (m-1)*ldc+n when batch > 1. Small products run in
// parallel across the batch, large ones one after another, each in parallel. Arguments are checked
// as in Sgemm; a bad stride or batch panics naming it.
func SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32,
	a []float32, lda, strideA int, b []float32, ldb, strideB int,
	beta float32, c []float32, ldc, strideC int, batch int) {
	const fn = "SgemmStridedBatched"
	if batch < 0 {
		panic(fmt.Sprintf("kernels: %s: batch = %d, want at least 0", fn, batch))
	}
	if strideA < 0 || strideB < 0 {
		panic(fmt.Sprintf("kernels: %s: strideA = %d, strideB = %d, want at least 0", fn, strideA, strideB))
	}
	if batch == 0 {
		return
	}
	g := gemmProblem{
		transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		lda: lda, ldb: ldb, ldc: ldc,
	}
	// Check the last item against the whole slices: every earlier one lies below it.
	last := batch - 1
	g.a, g.b, g.c = tailFrom(a, last*strideA), tailFrom(b, last*strideB), tailFrom(c, last*strideC)
	g.check(fn)
	if batch > 1 && strideC < matrixLen(m, n, ldc) {
		panic(fmt.Sprintf("kernels: %s: strideC = %d, want at least %d so that the C matrices do not overlap", fn, strideC, matrixLen(m, n, ldc)))
	}
	item := func(p *Pool, i int) {
		gi := g
		gi.a, gi.b, gi.c = a[i*strideA:], b[i*strideB:], c[i*strideC:]
		gi.run(p)
	}
	p := pool()
	if batch >= 2*p.Size() || 2*m*n*k < minTaskFlops {
		p.Run(batch, func(_, i int) { item(serialPool, i) })
		return
	}
	for i := range batch {
		item(p, i)
	}
}

// tailFrom returns s[off:], or an empty slice when off is past the end (the check then reports
// the slice as too short).
func tailFrom(s []float32, off int) []float32 {
	if off > len(s) {
		return nil
	}
	return s[off:]
}
