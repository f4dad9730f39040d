package kernels

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where op(X) is X, or X
// transposed when transX is true.
//
//	op(A) is [m,k]: A is stored [m,k] (lda >= k) or, transposed, [k,m] (lda >= m)
//	op(B) is [k,n]: B is stored [k,n] (ldb >= n) or, transposed, [n,k] (ldb >= k)
//	C is [m,n] (ldc >= n)
//
// m, n or k may be 0. When beta is 0, C is written without being read, so NaN or Inf in C is
// overwritten; when alpha is 0, A and B are not read. C must not overlap A or B. Sgemm runs in
// parallel on the shared worker pool (see SetThreads) and does not allocate once warm.
// It panics, naming the argument, when a size is negative, a leading dimension is too small or a
// slice is too short.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmEpilogue(nil, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmEpilogue is Sgemm followed by ep applied to every finished tile of C while the tile is
// still in cache (for example a bias add, see BiasCols and BiasRows). A nil ep is no epilogue.
func SgemmEpilogue(ep Epilogue, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := gemmProblem{
		transA: transA, transB: transB, m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc,
		ep: ep,
	}
	g.check("Sgemm")
	g.run(pool())
}

// gemmProblem is one C = alpha*op(A)*op(B) + beta*C call with its arguments.
type gemmProblem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	ep             Epilogue
	packed         *PackedB  // op(B) packed once (b is then nil), or nil
	aSums          []float32 // [k]: the column sums of A are added to it (A not transposed), or nil
}

// check panics, naming the argument, unless every size, leading dimension and slice length is
// consistent.
func (g *gemmProblem) check(fn string) {
	if g.m < 0 || g.n < 0 || g.k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size m=%d n=%d k=%d", fn, g.m, g.n, g.k))
	}
	aRows, aCols := g.m, g.k
	if g.transA {
		aRows, aCols = g.k, g.m
	}
	bRows, bCols := g.k, g.n
	if g.transB {
		bRows, bCols = g.n, g.k
	}
	checkMatrix(fn, "a", "lda", g.a, aRows, aCols, g.lda)
	if g.packed == nil {
		checkMatrix(fn, "b", "ldb", g.b, bRows, bCols, g.ldb)
	}
	checkMatrix(fn, "c", "ldc", g.c, g.m, g.n, g.ldc)
	if g.aSums != nil && len(g.aSums) != g.k {
		panic(fmt.Sprintf("kernels: %s: len(sums) = %d, want k = %d", fn, len(g.aSums), g.k))
	}
	if g.ep != nil {
		if err := g.ep.Validate(g.m, g.n); err != nil {
			panic(fmt.Sprintf("kernels: %s: epilogue: %v", fn, err))
		}
	}
}

// checkMatrix panics unless s holds a rows x cols row-major matrix with leading dimension ld.
func checkMatrix(fn, name, ldName string, s []float32, rows, cols, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("kernels: %s: %s = %d, want at least %d (the row length of %s)", fn, ldName, ld, max(1, cols), name))
	}
	if need := matrixLen(rows, cols, ld); len(s) < need {
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d, want at least %d for %dx%d with %s = %d", fn, name, len(s), need, rows, cols, ldName, ld))
	}
}

// matrixLen is the number of elements a rows x cols matrix with leading dimension ld spans.
func matrixLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}
