package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

var sweepSizes = []int{0, 1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 383, 385}

var transposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// TestSgemmSweep checks every path against the float64 reference: each size of the sweep in each
// dimension, with the other two drawn from the sweep, both transposes, padded leading dimensions.
func TestSgemmSweep(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		withThreads(3, func() {
			rng := rand.New(rand.NewPCG(1, 2))
			for _, tr := range transposes {
				sweepShapes(rng, func(m, n, k int) {
					g := newGemmCase(rng, tr[0], tr[1], m, n, k, 1, 0, rng.IntN(4))
					g.check(t, g.run(nil), nil)
				})
			}
		})
	})
}

// sweepShapes calls f with each size of the sweep in each dimension, the other two drawn from the
// sweep (the largest left out under the race detector).
func sweepShapes(rng *rand.Rand, f func(m, n, k int)) {
	for _, s := range sweepSizes {
		dims := [3]int{s, sweepSizes[rng.IntN(len(sweepSizes))], sweepSizes[rng.IntN(len(sweepSizes))]}
		for rot := range 3 {
			m, n, k := dims[rot], dims[(rot+1)%3], dims[(rot+2)%3]
			if raceEnabled && m*n*k > 1<<18 {
				continue
			}
			f(m, n, k)
		}
	}
}

// TestSgemmAlphaBeta covers the scalar cases: beta = 0 overwrites NaN, beta = 1 accumulates,
// alpha = 0 reads neither A nor B.
func TestSgemmAlphaBeta(t *testing.T) {
	scalars := [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2.5, 0}, {0, 0.5}, {0, 0}, {1, float32(math.Copysign(0, -1))}}
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, ab := range scalars {
			for _, tr := range transposes {
				for _, mnk := range [][3]int{{13, 35, 20}, {24, 64, 400}, {5, 3, 1}, {37, 70, 0}} {
					g := newGemmCase(rng, tr[0], tr[1], mnk[0], mnk[1], mnk[2], ab[0], ab[1], 2)
					if ab[0] == 0 {
						fillNaN(g.a)
						fillNaN(g.b)
					}
					g.check(t, g.run(nil), nil)
				}
			}
		}
	})
}

// TestSgemmLargeBlocks crosses several depth and width blocks of B and both task plans, with
// workers that own equal and unequal shares of the tasks.
func TestSgemmLargeBlocks(t *testing.T) {
	if raceEnabled {
		t.Skip("too slow under the race detector")
	}
	forEachSIMD(t, func(t *testing.T) {
		for _, threads := range []int{1, 2, 3} {
			withThreads(threads, func() {
				rng := rand.New(rand.NewPCG(5, 6))
				for _, tr := range transposes {
					for _, mnk := range [][3]int{{100, 1100, 800}, {49, 600, 770}, {7, 1030, 300}} {
						g := newGemmCase(rng, tr[0], tr[1], mnk[0], mnk[1], mnk[2], 0.75, 0.5, 3)
						g.check(t, g.run(nil), nil)
					}
				}
			})
		}
	})
}

func TestSgemmRandom(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for range 60 {
			m, n, k := rng.IntN(150), rng.IntN(150), rng.IntN(150)
			alpha, beta := float32(rng.NormFloat64()), float32(rng.IntN(3))*0.5
			g := newGemmCase(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, m, n, k, alpha, beta, rng.IntN(9))
			g.check(t, g.run(nil), nil)
		}
	})
}

func TestSgemmEpilogueBias(t *testing.T) {
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, mnk := range [][3]int{{29, 70, 33}, {12, 32, 384}, {100, 1030, 500}, {3, 5, 0}} {
			m, n, k := mnk[0], mnk[1], mnk[2]
			for _, beta := range []float32{0, 1} {
				g := newGemmCase(rng, false, true, m, n, k, 1, beta, 1)
				cols := BiasCols(paddedRandom(rng, 1, n, n, 0))
				g.check(t, g.run(cols), func(i, j int) float64 { return float64(cols[j]) })
				rows := BiasRows(paddedRandom(rng, 1, m, m, 0))
				g.check(t, g.run(rows), func(i, j int) float64 { return float64(rows[i]) })
			}
		}
	})
}

func TestSgemmBadArguments(t *testing.T) {
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 12)
	cases := []struct {
		want string
		f    func()
	}{
		{"negative size", func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, b, 2, 0, c, 2) }},
		{"lda = 2, want at least 3", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2) }},
		{"lda = 3, want at least 4", func() { Sgemm(true, false, 4, 2, 3, 1, a, 3, b, 2, 0, c, 2) }},
		{"ldb = 1, want at least 2", func() { Sgemm(false, false, 2, 2, 2, 1, a, 2, b, 1, 0, c, 2) }},
		{"ldb = 2, want at least 3", func() { Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2) }},
		{"ldc = 1, want at least 2", func() { Sgemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 1) }},
		{"len(a) = 12, want at least 15", func() { Sgemm(false, false, 4, 2, 3, 1, a, 4, b, 2, 0, c, 2) }},
		{"len(b) = 12, want at least 15", func() { Sgemm(false, false, 2, 3, 5, 1, a, 5, b, 3, 0, c, 3) }},
		{"len(c) = 12, want at least 14", func() { Sgemm(false, false, 2, 7, 1, 1, a, 1, b, 7, 0, c, 7) }},
		{"len(BiasCols) = 1, want n = 2", func() { SgemmEpilogue(BiasCols{1}, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2) }},
		{"len(BiasRows) = 3, want m = 2", func() { SgemmEpilogue(BiasRows{1, 2, 3}, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2) }},
		{"batch = -1", func() { SgemmStridedBatched(false, false, 1, 1, 1, 1, a, 1, 1, b, 1, 1, 0, c, 1, 1, -1) }},
		{"strideC = 1, want at least 4", func() { SgemmStridedBatched(false, false, 2, 2, 1, 1, a, 1, 2, b, 2, 2, 0, c, 2, 1, 2) }},
		{"len(c) = 0", func() { SgemmStridedBatched(false, false, 2, 2, 1, 1, a, 1, 2, b, 2, 2, 0, c, 2, 4, 4) }},
	}
	for _, tc := range cases {
		wantPanic(t, tc.want, tc.f)
	}
	// Empty products need no storage at all.
	Sgemm(false, false, 0, 5, 5, 1, nil, 5, make([]float32, 25), 5, 0, nil, 5)
	Sgemm(false, false, 3, 3, 0, 1, nil, 1, nil, 3, 0, make([]float32, 9), 3)
}

func fillNaN(s []float32) {
	for i := range s {
		s[i] = float32(math.NaN())
	}
}

// TestSgemmWarmCallAllocatesNothing checks that once warm, Sgemm allocates nothing, serial or
// parallel (sync.Pool drops items at random under the race detector, so it is skipped there).
func TestSgemmWarmCallAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool is randomized under the race detector")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	g := newGemmCase(rng, false, true, 100, 200, 300, 1, 0, 0)
	c := append([]float32(nil), g.c0...)
	for _, threads := range []int{1, 2} {
		withThreads(threads, func() {
			call := func() { Sgemm(false, true, g.m, g.n, g.k, 1, g.a, g.lda, g.b, g.ldb, 0, c, g.ldc) }
			call()
			if allocs := testing.AllocsPerRun(20, call); allocs > 0 {
				t.Errorf("threads=%d: %v allocations per warm call", threads, allocs)
			}
		})
	}
}
