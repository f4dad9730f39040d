package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkBiasGELU compares C after a BiasGELU epilogue, and Pre if set, with a float64 reference:
// pre = alpha*A*B + beta*C0 + bias, C = GELU(pre). The GEMM's own error bound carries over
// through GELU, whose slope is at most 1.13.
func checkBiasGELU(t *testing.T, g *gemmCase, c []float32, ep *BiasGELU) {
	t.Helper()
	opA, opBT := g.operands()
	ld := ep.Ld
	if ld == 0 {
		ld = g.n
	}
	checkC(t, g, c, func(i, j int, got float32) {
		pre, _, preTol := g.reference(opA, opBT, i, j)
		pre += float64(ep.Bias[j])
		preTol += roundoff * math.Abs(float64(ep.Bias[j]))
		if ep.Pre != nil {
			if got := float64(ep.Pre[i*ld+j]); !(math.Abs(got-pre) <= preTol) {
				t.Fatalf("%v: Pre[%d,%d] = %v, want %v (tol %.3g)", g, i, j, got, pre, preTol)
			}
		}
		want := gelu64(pre)
		tol := 1.13*preTol + max(2.4e-7, 2*roundoff*math.Abs(want))
		if !(math.Abs(float64(got)-want) <= tol) {
			t.Fatalf("%v: C[%d,%d] = %v, want GELU(%v) = %v (tol %.3g)", g, i, j, got, pre, want, tol)
		}
	})
}

// checkGELUGrad compares C after a GELUGrad epilogue with a float64 reference:
// C = GELU'(Pre) * (alpha*A*B + beta*C0), GELU' being within 2.3e-7 of exact and at most 1.13.
func checkGELUGrad(t *testing.T, g *gemmCase, c []float32, ep *GELUGrad) {
	t.Helper()
	opA, opBT := g.operands()
	checkC(t, g, c, func(i, j int, got float32) {
		dy, _, tol := g.reference(opA, opBT, i, j)
		slope := geluGrad64(float64(ep.Pre[i*ep.Ld+j]))
		want := slope * dy
		tol = 1.13*tol + 2.3e-7*math.Abs(dy) + 2*roundoff*math.Abs(want)
		if !(math.Abs(float64(got)-want) <= tol) {
			t.Fatalf("%v: C[%d,%d] = %v, want GELU'(%v) * %v = %v (tol %.3g)", g, i, j, got, ep.Pre[i*ep.Ld+j], dy, want, tol)
		}
	})
}

func TestSgemmEpilogueBiasGELU(t *testing.T) {
	shapes := [][3]int{{29, 70, 33}, {12, 32, 384}, {3, 5, 0}, {1, 1, 1}, {100, 1030, 500}, {64, 1536, 96}}
	if raceEnabled {
		shapes = shapes[:4] // the float64 reference is slow under the race detector
	}
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(20, 20))
		for _, mnk := range shapes {
			m, n, k := mnk[0], mnk[1], mnk[2]
			for _, beta := range []float32{0, 1} {
				for _, pre := range []string{"none", "compact", "ldc"} {
					pad := rng.IntN(3)
					g := newGemmCase(rng, false, true, m, n, k, 1.5, beta, pad)
					ep := &BiasGELU{Bias: paddedRandom(rng, 1, n, n, 0)}
					for i := range ep.Bias {
						ep.Bias[i] *= 3
					}
					switch pre {
					case "compact":
						ep.Pre = make([]float32, m*n)
					case "ldc":
						ep.Pre, ep.Ld = make([]float32, matrixLen(m, n, g.ldc)), g.ldc
					}
					checkBiasGELU(t, g, g.run(ep), ep)
				}
			}
		}
	})
}

func TestSgemmEpilogueGELUGrad(t *testing.T) {
	shapes := [][3]int{{29, 70, 33}, {12, 32, 384}, {3, 5, 0}, {1, 1, 1}, {100, 1030, 500}, {64, 1536, 96}}
	if raceEnabled {
		shapes = shapes[:4]
	}
	forEachSIMD(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(22, 22))
		for _, mnk := range shapes {
			m, n, k := mnk[0], mnk[1], mnk[2]
			for _, beta := range []float32{0, 1} {
				pad := rng.IntN(3)
				g := newGemmCase(rng, false, false, m, n, k, 1.5, beta, pad)
				ep := &GELUGrad{Ld: n + rng.IntN(3)}
				ep.Pre = paddedRandom(rng, m, n, ep.Ld, float32(math.NaN()))
				for i := range ep.Pre {
					ep.Pre[i] *= 3
				}
				checkGELUGrad(t, g, g.run(ep), ep)
			}
		}
	})
}

func TestBiasGELUValidate(t *testing.T) {
	a, b, c := make([]float32, 12), make([]float32, 12), make([]float32, 12)
	cases := []struct {
		want string
		ep   *BiasGELU
	}{
		{"epilogue: len(BiasGELU.Bias) = 3, want n = 2", &BiasGELU{Bias: make([]float32, 3)}},
		{"epilogue: BiasGELU.Ld = 1, want 0 or at least n = 2", &BiasGELU{Bias: make([]float32, 2), Pre: make([]float32, 4), Ld: 1}},
		{"epilogue: len(BiasGELU.Pre) = 3, want at least 4 for 2x2 with Ld = 2", &BiasGELU{Bias: make([]float32, 2), Pre: make([]float32, 3)}},
		{"epilogue: len(BiasGELU.Pre) = 5, want at least 7 for 2x2 with Ld = 5", &BiasGELU{Bias: make([]float32, 2), Pre: make([]float32, 5), Ld: 5}},
	}
	for _, tc := range cases {
		wantPanic(t, tc.want, func() { SgemmEpilogue(tc.ep, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2) })
	}
	ok := &BiasGELU{Bias: make([]float32, 2), Pre: make([]float32, 7), Ld: 5}
	SgemmEpilogue(ok, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	wantPanic(t, "epilogue: GELUGrad.Ld = 0, want at least n = 2", func() {
		SgemmEpilogue(&GELUGrad{Pre: make([]float32, 4)}, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	})
	wantPanic(t, "epilogue: len(GELUGrad.Pre) = 4, want at least 5 for 2x2 with Ld = 3", func() {
		SgemmEpilogue(&GELUGrad{Pre: make([]float32, 4), Ld: 3}, false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
	})
}

// TestBiasGELUWarmCallAllocatesNothing checks that Sgemm with a *BiasGELU epilogue does not
// allocate once warm.
func TestBiasGELUWarmCallAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool is randomized under the race detector")
	}
	rng := rand.New(rand.NewPCG(21, 21))
	g := newGemmCase(rng, false, true, 100, 200, 64, 1, 0, 0)
	ep := &BiasGELU{Bias: make([]float32, 200), Pre: make([]float32, 100*200)}
	c := append([]float32(nil), g.c0...)
	call := func() { SgemmEpilogue(ep, false, true, g.m, g.n, g.k, 1, g.a, g.lda, g.b, g.ldb, 0, c, g.ldc) }
	call()
	if allocs := testing.AllocsPerRun(10, call); allocs > 0 {
		t.Errorf("%v allocations per warm call", allocs)
	}
}
