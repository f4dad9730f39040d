package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// forEachSIMD runs f once per SIMD path this machine supports, with that path forced.
func forEachSIMD(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := ActiveSIMD()
	defer SetSIMD(saved)
	for _, s := range supportedSIMDs() {
		if err := SetSIMD(s); err != nil {
			t.Fatal(err)
		}
		t.Run(s.String(), f)
	}
}

// supportedSIMDs lists the SIMD paths this machine and build support, best first.
func supportedSIMDs() []SIMD {
	var paths []SIMD
	for s := BestSIMD(); s >= Generic; s-- {
		paths = append(paths, s)
	}
	return paths
}

// withThreads runs f with the shared pool resized to n workers.
func withThreads(n int, f func()) {
	saved := Threads()
	SetThreads(n)
	defer SetThreads(saved)
	f()
}

// gemmCase is one Sgemm call with padded operands: padding (past each row, up to ld) holds NaN in
// A and B, which must never be read, and a sentinel in C, which must never be written.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	a, b, c, c0    []float32
}

const sentinel = float32(-12345.5)

func newGemmCase(rng *rand.Rand, transA, transB bool, m, n, k int, alpha, beta float32, pad int) *gemmCase {
	g := &gemmCase{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	g.lda, g.ldb, g.ldc = max(1, aCols+pad), max(1, bCols+pad), max(1, n+pad)
	g.a = paddedRandom(rng, aRows, aCols, g.lda, float32(math.NaN()))
	g.b = paddedRandom(rng, bRows, bCols, g.ldb, float32(math.NaN()))
	g.c = paddedRandom(rng, m, n, g.ldc, sentinel)
	if beta == 0 {
		for i := range m {
			for j := range n {
				g.c[i*g.ldc+j] = float32(math.NaN())
			}
		}
	}
	g.c0 = append([]float32(nil), g.c...)
	return g
}

// paddedRandom returns a rows x cols matrix of values in [-1, 1) with leading dimension ld and
// fill in the padding. Its length is exactly what the matrix spans.
func paddedRandom(rng *rand.Rand, rows, cols, ld int, fill float32) []float32 {
	s := make([]float32, matrixLen(rows, cols, ld))
	for i := range s {
		if i%ld < cols {
			s[i] = 2*rng.Float32() - 1
		} else {
			s[i] = fill
		}
	}
	return s
}

func (g *gemmCase) String() string {
	return fmt.Sprintf("transA=%v transB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.lda, g.ldb, g.ldc)
}

// operands returns op(A) as m rows of k and op(B) transposed, as n rows of k, in float64.
func (g *gemmCase) operands() (opA, opBT [][]float64) {
	return float64Rows(g.a, g.lda, g.transA, g.m, g.k), float64Rows(g.b, g.ldb, !g.transB, g.n, g.k)
}

// float64Rows returns the rows x cols matrix stored in s with leading dimension ld, read
// transposed (element [i][p] at s[p*ld+i]) when trans is set.
func float64Rows(s []float32, ld int, trans bool, rows, cols int) [][]float64 {
	out := make([][]float64, rows)
	for i := range out {
		out[i] = make([]float64, cols)
		for p := range out[i] {
			if trans {
				out[i][p] = float64(s[p*ld+i])
			} else {
				out[i][p] = float64(s[i*ld+p])
			}
		}
	}
	return out
}

// check compares c (the result) with a float64 reference computed from the case's inputs, and the
// padding of C with the sentinel. bias, if set, is what the epilogue should have added.
func (g *gemmCase) check(t *testing.T, c []float32, bias func(i, j int) float64) {
	t.Helper()
	const eps = 1.0 / (1 << 23)
	bad := 0
	opA, opBT := g.operands()
	checkC(t, g, c, func(i, j int, got float32) {
		want, mag, _ := g.reference(opA, opBT, i, j)
		if bias != nil {
			want += bias(i, j)
			mag += math.Abs(bias(i, j))
		}
		tol := 2*float64(g.k+4)*eps*mag + 1e-30
		if !(math.Abs(float64(got)-want) <= tol) {
			bad++
			if bad <= 3 {
				t.Errorf("%v: C[%d,%d] = %v, want %v (tol %.3g)", g, i, j, got, want, tol)
			}
		}
	})
	if bad > 0 {
		t.Fatalf("%v: %d wrong elements", g, bad)
	}
}

// reference returns C[i,j] = alpha*A*B + beta*C0 in float64, the sum of the magnitudes of its
// terms, and the GEMM's error bound for it.
func (g *gemmCase) reference(opA, opBT [][]float64, i, j int) (c, mag, tol float64) {
	if g.alpha != 0 { // A and B are not read: they may hold NaN
		for p, bv := range opBT[j] {
			c += opA[i][p] * bv
			mag += math.Abs(opA[i][p] * bv)
		}
	}
	c, mag = float64(g.alpha)*c, math.Abs(float64(g.alpha))*mag
	if g.beta != 0 { // with beta = 0, C holds NaN that must not be read
		c0 := float64(g.c0[i*g.ldc+j])
		c += float64(g.beta) * c0
		mag += math.Abs(float64(g.beta) * c0)
	}
	return c, mag, 2*float64(g.k+4)*roundoff*2*mag + roundoff*math.Abs(c) + 1e-30
}

// checkC calls check(i, j, c) for every element of C inside the matrix and fails if an element
// of the padding past n changed.
func checkC(t *testing.T, g *gemmCase, c []float32, check func(i, j int, got float32)) {
	t.Helper()
	for i := range g.m {
		for j := range g.ldc {
			idx := i*g.ldc + j
			if idx >= len(c) {
				break
			}
			if j >= g.n {
				if c[idx] != sentinel {
					t.Fatalf("%v: padding C[%d,%d] changed to %v", g, i, j, c[idx])
				}
				continue
			}
			check(i, j, c[idx])
		}
	}
}

func (g *gemmCase) run(ep Epilogue) []float32 {
	c := append([]float32(nil), g.c0...)
	SgemmEpilogue(ep, g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, c, g.ldc)
	return c
}

// mustPanic returns the message of the panic f raises, failing the test if it does not.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

func wantPanic(t *testing.T, substr string, f func()) {
	t.Helper()
	if msg := mustPanic(t, f); !strings.Contains(msg, substr) {
		t.Errorf("panic %q does not mention %q", msg, substr)
	}
}
