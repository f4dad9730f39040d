package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestSgemmStridedBatched checks every item of a batch against the reference, for small items
// (parallel across the batch), large ones (each parallel) and a shared A (stride 0).
func TestSgemmStridedBatched(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		withThreads(2, func() {
			rng := rand.New(rand.NewPCG(11, 12))
			for _, tc := range []struct {
				m, n, k, batch int
				shareA         bool
			}{{7, 9, 5, 13, false}, {33, 17, 64, 4, true}, {130, 200, 140, 3, false}, {5, 5, 5, 0, false}} {
				items := make([]*gemmCase, max(tc.batch, 1))
				for i := range items {
					items[i] = newGemmCase(rng, true, false, tc.m, tc.n, tc.k, 1.5, 0.5, 2)
					if tc.shareA {
						items[i].a = items[0].a
					}
				}
				strideA, strideB, strideC := len(items[0].a)+3, len(items[0].b)+1, len(items[0].c)+5
				a, b := make([]float32, tc.batch*strideA), make([]float32, tc.batch*strideB)
				c := make([]float32, tc.batch*strideC)
				for i, it := range items[:tc.batch] {
					copy(a[i*strideA:], it.a)
					copy(b[i*strideB:], it.b)
					copy(c[i*strideC:], it.c0)
				}
				if tc.shareA {
					strideA = 0
				}
				g := items[0]
				SgemmStridedBatched(true, false, tc.m, tc.n, tc.k, 1.5, a, g.lda, strideA, b, g.ldb, strideB, 0.5, c, g.ldc, strideC, tc.batch)
				for i, it := range items[:tc.batch] {
					it.check(t, c[i*strideC:i*strideC+len(it.c0)], nil)
				}
			}
		})
	})
}
