package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vectorSizes are the lengths every vector kernel is tried at: around the vector widths (8 and
// 16 lanes) and the unrolled passes, and a few larger ones.
var vectorSizes = []int{0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 129, 383, 385, 1000}

// roundoff is the unit roundoff of float32.
const roundoff = 1.0 / (1 << 24)

var (
	nanF32   = float32(math.NaN())
	posInf32 = float32(math.Inf(1))
	negInf32 = float32(math.Inf(-1))
)

// randomSizes returns vectorSizes and n random lengths below limit.
func randomSizes(rng *rand.Rand, n, limit int) []int {
	sizes := append([]int(nil), vectorSizes...)
	for range n {
		sizes = append(sizes, 1+rng.IntN(limit))
	}
	return sizes
}

// guarded is a slice with sentinels past its end (and its capacity cut there), so a kernel
// that writes past the end is caught.
type guarded struct {
	all []float32
	n   int
}

const guardLen = 40

func newGuarded(n int) guarded {
	g := guarded{all: make([]float32, n+guardLen), n: n}
	for i := n; i < len(g.all); i++ {
		g.all[i] = sentinel
	}
	return g
}

func (g guarded) s() []float32 { return g.all[:g.n:g.n] }

func (g guarded) check(t *testing.T, what string) {
	t.Helper()
	for i := g.n; i < len(g.all); i++ {
		if g.all[i] != sentinel {
			t.Fatalf("%s: wrote past the end: element %d of %d changed to %v", what, i, g.n, g.all[i])
		}
	}
}

// vecOf returns n values drawn from dist.
func vecOf(rng *rand.Rand, n int, dist func(*rand.Rand) float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = dist(rng)
	}
	return s
}

func normalDist(scale float64) func(*rand.Rand) float32 {
	return func(rng *rand.Rand) float32 { return float32(rng.NormFloat64() * scale) }
}

func uniformDist(lo, hi float64) func(*rand.Rand) float32 {
	return func(rng *rand.Rand) float32 { return float32(lo + (hi-lo)*rng.Float64()) }
}

// ulp is the spacing of float32 values at the float32 nearest y (the subnormal spacing for
// zero and subnormals).
func ulp32(y float64) float64 {
	f := math.Abs(float64(float32(y)))
	if math.IsInf(f, 0) {
		return math.Ldexp(1, 104)
	}
	e := int(math.Float32bits(float32(f))>>23) & 0xff
	if e == 0 {
		return math.Ldexp(1, -149)
	}
	return math.Ldexp(1, e-127-23)
}

// ulpErr32 is |got - want| in ulps of want.
func ulpErr32(got float32, want float64) float64 {
	if math.IsInf(want, 0) || math.IsNaN(want) || math.IsInf(float64(got), 0) || math.IsNaN(float64(got)) {
		if float64(got) == want || (math.IsNaN(want) && got != got) {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(float64(got)-want) / ulp32(want)
}

// gelu64 is the exact GELU in float64.
func gelu64(x float64) float64 {
	if math.IsInf(x, -1) {
		return 0
	}
	return 0.5 * x * math.Erfc(-x/math.Sqrt2)
}

// geluGrad64 is GELU' in float64.
func geluGrad64(x float64) float64 {
	if math.IsInf(x, 0) {
		if x > 0 {
			return 1
		}
		return 0
	}
	return 0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
}

// geluOK is the GELU accuracy criterion: within 2e-7 of the exact value, or the correctly
// rounded float32 (for results of 4 and more, float32 values are 4.8e-7 apart, so the
// correctly rounded one may be up to 2.4e-7 away).
func geluOK(got float32, want float64) bool {
	if math.IsNaN(want) {
		return got != got
	}
	return math.Abs(float64(got)-want) <= 2e-7 || got == float32(want)
}

// sameBits reports whether a and b are the same float32, counting all NaNs as equal.
func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// sumAndMag64 returns the float64 sum of f(i) for i < n and the sum of |f(i)|.
func sumAndMag64(n int, f func(i int) float64) (sum, mag float64) {
	for i := range n {
		v := f(i)
		sum += v
		mag += math.Abs(v)
	}
	return sum, mag
}

// sumTol bounds the error of a float32 sum of n terms of total magnitude mag, summed as the
// kernels do (at least four partial sums, each block of asmBlock added at the end).
func sumTol(n int, mag float64) float64 {
	return float64(n/4+n/asmBlock+16) * roundoff * mag
}

func checkNear(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol) && !(math.IsNaN(got) && math.IsNaN(want)) && got != want {
		t.Errorf("%s = %v, want %v (tol %.3g)", what, got, want, tol)
	}
}

// simdName is the test name of the active path.
func simdName() string { return fmt.Sprint(ActiveSIMD()) }
