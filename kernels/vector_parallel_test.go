package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// vectorCall runs one vector kernel on fixed inputs and returns every output.
type vectorCall struct {
	name string
	run  func() [][]float32
}

// vectorCalls builds a call of every kernel on rows x cols inputs (rows*cols elements for the
// element-wise ones).
func vectorCalls(rng *rand.Rand, rows, cols int) []vectorCall {
	n := rows * cols
	x, y := vecOf(rng, n, normalDist(2)), vecOf(rng, n, normalDist(1))
	gamma, beta := vecOf(rng, cols, uniformDist(0.5, 1.5)), vecOf(rng, cols, normalDist(0.2))
	dg0, db0 := vecOf(rng, cols, normalDist(1)), vecOf(rng, cols, normalDist(1))
	out := func(k int) [][]float32 {
		o := make([][]float32, k)
		for i := range o {
			o[i] = make([]float32, n)
		}
		return o
	}
	return []vectorCall{
		{"Add", func() [][]float32 { o := out(1); Add(o[0], x, y); return o }},
		{"Scale", func() [][]float32 { o := out(1); Scale(o[0], 0.7, x); return o }},
		{"Axpy", func() [][]float32 { o := out(1); copy(o[0], y); Axpy(0.7, x, o[0]); return o }},
		{"Copy", func() [][]float32 { o := out(1); Copy(o[0], x); return o }},
		{"Exp", func() [][]float32 { o := out(1); Exp(o[0], x); return o }},
		{"GELU", func() [][]float32 { o := out(1); GELU(o[0], x); return o }},
		{"GELUBackward", func() [][]float32 { o := out(1); GELUBackward(o[0], y, x); return o }},
		{"Softmax", func() [][]float32 { o := out(1); Softmax(o[0], x, cols); return o }},
		{"LayerNorm", func() [][]float32 {
			o := out(1)
			mean, rstd := make([]float32, rows), make([]float32, rows)
			LayerNorm(o[0], mean, rstd, x, gamma, beta, cols, 1e-5)
			return append(o, mean, rstd)
		}},
		{"LayerNormBackward", func() [][]float32 {
			o := out(2)
			mean, rstd := make([]float32, rows), make([]float32, rows)
			LayerNorm(o[1], mean, rstd, x, gamma, beta, cols, 1e-5)
			dg, db := append([]float32(nil), dg0...), append([]float32(nil), db0...)
			LayerNormBackward(o[0], dg, db, y, x, mean, rstd, gamma, cols)
			return append(o, dg, db)
		}},
		{"L2Normalize", func() [][]float32 {
			o, norm := out(1), make([]float32, rows)
			L2Normalize(o[0], norm, x, cols, 1e-6)
			return append(o, norm)
		}},
		{"L2NormalizeBackward", func() [][]float32 {
			o, norm := out(2), make([]float32, rows)
			L2Normalize(o[1], norm, x, cols, 1e-6)
			L2NormalizeBackward(o[0], y, o[1], norm, cols, 1e-6)
			return o
		}},
	}
}

// TestVectorThreads checks that calls large enough to use the pool give the same bits with 1, 2
// and 3 workers (LayerNormBackward's dgamma and dbeta included), and the same as a call too
// small to split.
func TestVectorThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	shapes := [][2]int{{1, parallelMin}, {1, parallelMin + 17}, {333, 301}, {70, 1000}, {1100, 66}, {3, 40000}}
	if raceEnabled {
		shapes = shapes[:3]
	}
	for _, sh := range shapes {
		calls := vectorCalls(rng, sh[0], sh[1])
		forEachSIMD(t, func(t *testing.T) {
			for _, c := range calls {
				var want [][]float32
				for _, threads := range []int{1, 2, 3} {
					var got [][]float32
					withThreads(threads, func() { got = c.run() })
					if want == nil {
						want = got
						continue
					}
					for k := range want {
						for i := range want[k] {
							if !sameBits(got[k][i], want[k][i]) {
								t.Fatalf("%s %dx%d: output %d [%d] = %v with %d threads, %v with 1", c.name, sh[0], sh[1], k, i, got[k][i], threads, want[k][i])
							}
						}
					}
				}
			}
		})
	}
}

// TestVectorWarmCallsAllocateNothing checks that once warm, no vector kernel allocates, serial
// or split over the pool (sync.Pool drops items at random under the race detector).
func TestVectorWarmCallsAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool is randomized under the race detector")
	}
	rng := rand.New(rand.NewPCG(17, 17))
	for _, sh := range [][2]int{{3, 100}, {300, 301}} {
		rows, cols := sh[0], sh[1]
		n := rows * cols
		x, y, z := vecOf(rng, n, normalDist(1)), make([]float32, n), make([]float32, n)
		g, b := vecOf(rng, cols, normalDist(1)), vecOf(rng, cols, normalDist(1))
		dg, db := make([]float32, cols), make([]float32, cols)
		mean, rstd := make([]float32, rows), make([]float32, rows)
		calls := map[string]func(){
			"Add":                 func() { Add(y, x, x) },
			"Scale":               func() { Scale(y, 2, x) },
			"Axpy":                func() { Axpy(2, x, y) },
			"Copy":                func() { Copy(y, x) },
			"Sum":                 func() { Sum(x) },
			"Dot":                 func() { Dot(x, y) },
			"Max":                 func() { Max(x) },
			"Exp":                 func() { Exp(y, x) },
			"ExpSum":              func() { ExpSum(y, x, 1) },
			"GELU":                func() { GELU(y, x) },
			"GELUBackward":        func() { GELUBackward(y, x, x) },
			"Softmax":             func() { Softmax(y, x, cols) },
			"LayerNorm":           func() { LayerNorm(y, mean, rstd, x, g, b, cols, 1e-5) },
			"LayerNormBackward":   func() { LayerNormBackward(z, dg, db, x, x, mean, rstd, g, cols) },
			"L2Normalize":         func() { L2Normalize(y, mean, x, cols, 1e-6) },
			"L2NormalizeBackward": func() { L2NormalizeBackward(z, x, y, mean, cols, 1e-6) },
		}
		for _, threads := range []int{1, 2} {
			withThreads(threads, func() {
				for name, call := range calls {
					call()
					if allocs := testing.AllocsPerRun(10, call); allocs > 0 {
						t.Errorf("%s %dx%d threads=%d: %v allocations per warm call", name, rows, cols, threads, allocs)
					}
				}
			})
		}
	}
}

func ExampleGELU() {
	x := []float32{-3, -1, 0, 1, 3}
	y := make([]float32, len(x))
	GELU(y, x)
	fmt.Printf("%.6f\n", y)
	// Output: [-0.004050 -0.158655 0.000000 0.841345 2.995950]
}
