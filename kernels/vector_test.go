package kernels

import (
	"flag"
	"math"
	"math/rand/v2"
	"testing"
)

// float32Grid returns every stride-th float32 in [lo, hi] (a dense grid in ulps: every binade
// gets the same number of points).
func float32Grid(lo, hi float32, stride uint32) []float32 {
	var xs []float32
	for x := lo; x <= hi; {
		xs = append(xs, x)
		b := math.Float32bits(x)
		switch {
		case x < 0 && b-0x80000000 > stride:
			x = math.Float32frombits(b - stride)
		case x < 0:
			x = 0
		default:
			x = math.Float32frombits(b + stride)
		}
	}
	return xs
}

func gridStride() uint32 {
	if raceEnabled {
		return 20011
	}
	return 1009
}

func TestExpAccuracy(t *testing.T) {
	xs := float32Grid(-87, 88, gridStride())
	forEachSIMD(t, func(t *testing.T) {
		got := make([]float32, len(xs))
		Exp(got, xs)
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			if e := ulpErr32(got[i], math.Exp(float64(x))); e > worst {
				worst, at = e, x
			}
		}
		if worst > 2 {
			t.Errorf("exp: max error %.3f ulp at x = %v, want at most 2", worst, at)
		}
		t.Logf("exp on %d points of [-87, 88]: max error %.3f ulp at x = %v", len(xs), worst, at)
	})
}

func TestExpEdges(t *testing.T) {
	cases := []struct {
		x, want float32
	}{
		{negInf32, 0}, {posInf32, posInf32}, {89, posInf32}, {88.73, posInf32}, {1e30, posInf32}, {-1e30, 0},
		{-104, 0}, {-105, 0}, {-200, 0}, {0, 1}, {float32(math.Copysign(0, -1)), 1},
		{nanF32, nanF32}, {float32(math.Float32frombits(0x7fc12345)), nanF32},
	}
	forEachSIMD(t, func(t *testing.T) {
		// Each case at every position of a 37-element vector: main loop, single vectors, tail.
		for _, c := range cases {
			for pos := range 37 {
				x := make([]float32, 37)
				x[pos] = c.x
				got := make([]float32, len(x))
				Exp(got, x)
				if !sameBits(got[pos], c.want) && !(got[pos] == c.want) {
					t.Fatalf("exp(%v) at %d = %v, want %v", c.x, pos, got[pos], c.want)
				}
				if got[(pos+1)%37] != 1 {
					t.Fatalf("exp(0) next to exp(%v) = %v", c.x, got[(pos+1)%37])
				}
			}
		}
		// The largest finite result, and the subnormal range: within one subnormal step.
		top := float32(88.72283)
		if got := expOne(top); math.IsInf(float64(got), 0) || ulpErr32(got, math.Exp(float64(top))) > 2 {
			t.Errorf("exp(%v) = %v, want %v", top, got, math.Exp(float64(top)))
		}
		for _, x := range float32Grid(-104, -87.3, gridStride()/8) {
			got, want := expOne(x), math.Exp(float64(x))
			if math.Abs(float64(got)-want) > math.Ldexp(1, -149) {
				t.Fatalf("exp(%v) = %g, want %g within one subnormal step", x, got, want)
			}
		}
	})
}

func expOne(x float32) float32 {
	out := []float32{0}
	Exp(out, []float32{x})
	return out[0]
}

// TestVectorMatchesGo checks that every assembly path gives the Go version's bits for exp, GELU
// and GELU' (they follow the same steps) at every size, special values included.
// The GELU tile kernels (GEMM epilogues) give the Go results row by row for tiles whose rows
// are further apart than their length, and leave the gaps between rows alone.
func TestGELUTilesMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, rc := range [][2]int{{1, 1}, {3, 17}, {14, 32}, {14, 128}, {5, 129}, {2, asmBlock/2 + 3}, {40, 1000}} {
		rows, cols := rc[0], rc[1]
		ld, ldp := cols+rng.IntN(9), cols+rng.IntN(9)
		x := vecOf(rng, rows*ld, normalDist(3))
		pre := vecOf(rng, rows*ldp, normalDist(3))
		bias := vecOf(rng, cols, normalDist(1))
		wantGELU, wantPre, wantGrad := append([]float32(nil), x...), append([]float32(nil), pre...), append([]float32(nil), x...)
		for r := range rows {
			biasGELUGo(wantGELU[r*ld:r*ld+cols], wantPre[r*ldp:r*ldp+cols], bias)
			row := wantGrad[r*ld : r*ld+cols]
			geluBackwardGo(row, row, pre[r*ldp:r*ldp+cols])
		}
		forEachSIMD(t, func(t *testing.T) {
			gotGELU, gotPre, gotGrad := append([]float32(nil), x...), append([]float32(nil), pre...), append([]float32(nil), x...)
			biasGELURows(gotGELU, ld, gotPre, ldp, bias, rows, cols)
			geluGradRows(gotGrad, ld, pre, ldp, rows, cols)
			for _, c := range []struct {
				name      string
				got, want []float32
			}{{"biasGELU", gotGELU, wantGELU}, {"pre", gotPre, wantPre}, {"geluGrad", gotGrad, wantGrad}} {
				for i, w := range c.want {
					if !sameBits(c.got[i], w) {
						t.Fatalf("%dx%d: %s[%d] = %v, Go gives %v", rows, cols, c.name, i, c.got[i], w)
					}
				}
			}
		})
	}
}

func TestVectorMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	specials := []float32{0, float32(math.Copysign(0, -1)), posInf32, negInf32, nanF32, 1e-45, -1e-45, 1e-38,
		math.MaxFloat32, -math.MaxFloat32, 88.7, -87.4, -103.9, 19.99, -19.99, 20, 25, -25, 4.0616813, -0.75}
	for _, n := range randomSizes(rng, 10, 3000) {
		x := vecOf(rng, n, normalDist(8))
		for i := range x {
			if rng.IntN(8) == 0 {
				x[i] = specials[rng.IntN(len(specials))]
			}
		}
		dy := vecOf(rng, n, normalDist(1))
		bias := vecOf(rng, n, normalDist(1))
		want := map[string][]float32{"exp": make([]float32, n), "gelu": make([]float32, n), "gelu'": make([]float32, n),
			"biasGELU": append([]float32(nil), x...), "pre": make([]float32, n), "geluGrad": make([]float32, n)}
		expGo(want["exp"], x)
		geluGo(want["gelu"], x)
		geluBackwardGo(want["gelu'"], dy, x)
		biasGELUGo(want["biasGELU"], want["pre"], bias)
		geluBackwardGo(want["geluGrad"], dy, x)
		forEachSIMD(t, func(t *testing.T) {
			got := map[string]guarded{}
			for name := range want {
				got[name] = newGuarded(n)
			}
			Exp(got["exp"].s(), x)
			GELU(got["gelu"].s(), x)
			GELUBackward(got["gelu'"].s(), dy, x)
			copy(got["biasGELU"].s(), x)
			biasGELURows(got["biasGELU"].s(), n, got["pre"].s(), n, bias, 1, n)
			copy(got["geluGrad"].s(), dy)
			geluGradRows(got["geluGrad"].s(), n, x, n, 1, n)
			for name, w := range want {
				g := got[name]
				g.check(t, name)
				for i := range w {
					if !sameBits(g.s()[i], w[i]) {
						t.Fatalf("n=%d %s(%v) = %v, Go gives %v", n, name, x[i], g.s()[i], w[i])
					}
				}
			}
		})
	}
}

func TestGELUAccuracy(t *testing.T) {
	// A dense grid of [-10, 10] (step 2^-12), every stride-th float32 of it, and small values.
	var xs []float32
	for i := -10 << 12; i <= 10<<12; i++ {
		xs = append(xs, float32(i)/(1<<12))
	}
	xs = append(xs, float32Grid(-10, 10, 8*gridStride())...)
	xs = append(xs, 1e-45, -1e-45, 1e-30, -1e-30, 1e-8, -1e-8, 3e-4, -3e-4)
	forEachSIMD(t, func(t *testing.T) {
		got := make([]float32, len(xs))
		GELU(got, xs)
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			want := gelu64(float64(x))
			if !geluOK(got[i], want) {
				t.Errorf("GELU(%v) = %v, want %.9g (or %v)", x, got[i], want, float32(want))
			}
			if e := math.Abs(float64(got[i]) - want); e > worst {
				worst, at = e, x
			}
		}
		t.Logf("GELU on %d points of [-10, 10]: max |error| %.3g at x = %v", len(xs), worst, at)
	})
}

func TestGELUEdges(t *testing.T) {
	cases := []struct{ x, want float32 }{
		{posInf32, posInf32}, {negInf32, 0}, {nanF32, nanF32}, {0, 0}, {float32(math.Copysign(0, -1)), 0},
		{math.MaxFloat32, math.MaxFloat32}, {-math.MaxFloat32, 0}, {1e10, 1e10}, {-1e10, 0}, {30, 30}, {-30, 0},
		{1e-44, 0.5e-44}, {-1e-44, -0.5e-44},
	}
	forEachSIMD(t, func(t *testing.T) {
		for _, c := range cases {
			x := make([]float32, 19)
			for i := range x {
				x[i] = c.x
			}
			dst := make([]float32, len(x))
			GELU(dst, x)
			for i, got := range dst {
				if !(got == c.want || sameBits(got, c.want) || math.Abs(float64(got-c.want)) <= 1.5e-45) {
					t.Fatalf("GELU(%v)[%d] = %v, want %v", c.x, i, got, c.want)
				}
			}
		}
	})
}

// geluGradTol is the tolerance of GELU': 3e-7 absolute (the values lie in [-0.17, 1.13]).
const geluGradTol = 3e-7

func TestGELUBackwardAccuracy(t *testing.T) {
	var xs []float32
	for i := -12 << 10; i <= 12<<10; i++ {
		xs = append(xs, float32(i)/(1<<10))
	}
	xs = append(xs, float32Grid(-12, 12, 8*gridStride())...)
	xs = append(xs, posInf32, negInf32, 1e-40, -1e-40, 50, -50)
	rng := rand.New(rand.NewPCG(2, 2))
	dy := vecOf(rng, len(xs), normalDist(2))
	forEachSIMD(t, func(t *testing.T) {
		got := make([]float32, len(xs))
		GELUBackward(got, dy, xs)
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			d := geluGrad64(float64(x))
			want := float64(dy[i]) * d
			tol := geluGradTol*math.Abs(float64(dy[i])) + roundoff*math.Abs(want)
			if e := math.Abs(float64(got[i]) - want); !(e <= tol) {
				t.Errorf("GELU'(%v) * %v = %v, want %.9g", x, dy[i], got[i], want)
			} else if e/math.Abs(float64(dy[i])) > worst {
				worst, at = e/math.Abs(float64(dy[i])), x
			}
		}
		nanGrad := make([]float32, 1)
		GELUBackward(nanGrad, []float32{1}, []float32{nanF32})
		if nanGrad[0] == nanGrad[0] {
			t.Errorf("GELU'(NaN) = %v", nanGrad[0])
		}
		t.Logf("GELU' on %d points of [-12, 12]: max |error| %.3g at x = %v", len(xs), worst, at)
	})
}

func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range randomSizes(rng, 10, 5000) {
		a, b := vecOf(rng, n, normalDist(3)), vecOf(rng, n, normalDist(3))
		alpha := float32(rng.NormFloat64())
		forEachSIMD(t, func(t *testing.T) {
			dst := newGuarded(n)
			Add(dst.s(), a, b)
			dst.check(t, "Add")
			for i := range n {
				if dst.s()[i] != a[i]+b[i] {
					t.Fatalf("n=%d: Add[%d] = %v, want %v", n, i, dst.s()[i], a[i]+b[i])
				}
			}
			Scale(dst.s(), alpha, a)
			dst.check(t, "Scale")
			for i := range n {
				if dst.s()[i] != alpha*a[i] {
					t.Fatalf("n=%d: Scale[%d] = %v, want %v", n, i, dst.s()[i], alpha*a[i])
				}
			}
			Copy(dst.s(), b)
			dst.check(t, "Copy")
			for i := range n {
				if !sameBits(dst.s()[i], b[i]) {
					t.Fatalf("n=%d: Copy[%d] = %v, want %v", n, i, dst.s()[i], b[i])
				}
			}
			Axpy(alpha, a, dst.s())
			dst.check(t, "Axpy")
			for i := range n {
				want := float64(alpha)*float64(a[i]) + float64(b[i])
				tol := 2 * roundoff * (math.Abs(float64(alpha)*float64(a[i])) + math.Abs(float64(b[i])))
				checkNear(t, "Axpy", float64(dst.s()[i]), want, tol)
			}
			s, tt := float32(rng.NormFloat64()), float32(rng.NormFloat64())
			addScaledMulSerial(dst.s(), a, b, s, tt)
			dst.check(t, "addScaledMul")
			for i := range n {
				want := (float64(a[i]) + float64(s)*float64(b[i])) * float64(tt)
				tol := 3 * roundoff * (math.Abs(float64(a[i])) + math.Abs(float64(s)*float64(b[i]))) * math.Abs(float64(tt))
				checkNear(t, "addScaledMul", float64(dst.s()[i]), want, tol)
			}
		})
	}
}

func TestElementwiseAliasing(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{0, 1, 17, 129, 1000} {
		a, b := vecOf(rng, n, normalDist(2)), vecOf(rng, n, normalDist(2))
		forEachSIMD(t, func(t *testing.T) {
			same := func(name string, got []float32, f func(dst []float32)) {
				want := make([]float32, n)
				f(want)
				for i := range want {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("%s in place, n=%d: [%d] = %v, want %v", name, n, i, got[i], want[i])
					}
				}
			}
			x := append([]float32(nil), a...)
			Add(x, x, b)
			same("Add(a, a, b)", x, func(dst []float32) { Add(dst, a, b) })
			x = append([]float32(nil), b...)
			Add(x, a, x)
			same("Add(b, a, b)", x, func(dst []float32) { Add(dst, a, b) })
			x = append([]float32(nil), a...)
			Scale(x, 1.5, x)
			same("Scale", x, func(dst []float32) { Scale(dst, 1.5, a) })
			x = append([]float32(nil), a...)
			Axpy(-0.5, x, x)
			same("Axpy(x, x)", x, func(dst []float32) { copy(dst, a); Axpy(-0.5, a, dst) })
			x = append([]float32(nil), a...)
			Exp(x, x)
			same("Exp", x, func(dst []float32) { Exp(dst, a) })
			x = append([]float32(nil), a...)
			s := ExpSum(x, x, 0.5)
			same("ExpSum", x, func(dst []float32) {
				if ExpSum(dst, a, 0.5) != s {
					t.Fatal("ExpSum in place returns another sum")
				}
			})
			x = append([]float32(nil), a...)
			GELU(x, x)
			same("GELU", x, func(dst []float32) { GELU(dst, a) })
			x = append([]float32(nil), b...)
			GELUBackward(x, x, a)
			same("GELUBackward(dy, dy, x)", x, func(dst []float32) { GELUBackward(dst, b, a) })
			x = append([]float32(nil), a...)
			GELUBackward(x, b, x)
			same("GELUBackward(x, dy, x)", x, func(dst []float32) { GELUBackward(dst, b, a) })
		})
	}
}

func TestExpSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range randomSizes(rng, 10, 40000) {
		x := vecOf(rng, n, normalDist(4))
		shift := Max(x)
		if n == 0 || rng.IntN(3) == 0 {
			shift = float32(rng.NormFloat64())
		}
		forEachSIMD(t, func(t *testing.T) {
			dst := newGuarded(n)
			got := ExpSum(dst.s(), x, shift)
			dst.check(t, "ExpSum")
			for i := range n {
				if want := exp32(x[i] - shift); !sameBits(dst.s()[i], want) {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst.s()[i], want)
				}
			}
			want, mag := sumAndMag64(n, func(i int) float64 { return float64(dst.s()[i]) })
			checkNear(t, "ExpSum", float64(got), want, sumTol(n, mag))
		})
	}
}

func TestSumDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range randomSizes(rng, 10, 70000) {
		x, y := vecOf(rng, n, normalDist(1)), vecOf(rng, n, uniformDist(-3, 5))
		forEachSIMD(t, func(t *testing.T) {
			want, mag := sumAndMag64(n, func(i int) float64 { return float64(x[i]) })
			checkNear(t, "Sum", float64(Sum(x)), want, sumTol(n, mag))
			want, mag = sumAndMag64(n, func(i int) float64 { return float64(x[i]) * float64(y[i]) })
			checkNear(t, "Dot", float64(Dot(x, y)), want, sumTol(n, mag))
		})
	}
	forEachSIMD(t, func(t *testing.T) {
		if Sum(nil) != 0 || Dot(nil, nil) != 0 {
			t.Error("empty Sum or Dot is not 0")
		}
		if s := Sum([]float32{1, posInf32, 2}); !math.IsInf(float64(s), 1) {
			t.Errorf("Sum with +Inf = %v", s)
		}
		if s := Sum([]float32{1, nanF32, 2}); s == s {
			t.Errorf("Sum with NaN = %v", s)
		}
	})
}

func TestMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	forEachSIMD(t, func(t *testing.T) {
		if m := Max(nil); !math.IsInf(float64(m), -1) {
			t.Errorf("Max(empty) = %v, want -Inf", m)
		}
		for _, n := range randomSizes(rng, 10, 40000) {
			if n == 0 {
				continue
			}
			x := vecOf(rng, n, normalDist(10))
			want := float32(math.Inf(-1))
			for _, v := range x {
				want = max(want, v)
			}
			if got := Max(x); got != want {
				t.Fatalf("n=%d: Max = %v, want %v", n, got, want)
			}
			// A NaN anywhere, in front of, among or after larger values, gives NaN.
			for _, pos := range []int{0, n / 2, n - 1, rng.IntN(n)} {
				y := append([]float32(nil), x...)
				y[pos] = nanF32
				if got := Max(y); got == got {
					t.Fatalf("n=%d: Max with NaN at %d = %v", n, pos, got)
				}
			}
			y := make([]float32, n)
			for i := range y {
				y[i] = negInf32
			}
			if got := Max(y); !math.IsInf(float64(got), -1) {
				t.Fatalf("n=%d: Max of -Inf = %v", n, got)
			}
			y[n-1] = posInf32
			if got := Max(y); !math.IsInf(float64(got), 1) {
				t.Fatalf("n=%d: Max with +Inf last = %v", n, got)
			}
		}
	})
}

func TestVectorBadLengths(t *testing.T) {
	a, b := make([]float32, 4), make([]float32, 3)
	cases := []struct {
		want string
		f    func()
	}{
		{"kernels: Add: len(b) = 3, want 4 (dst)", func() { Add(a, a, b) }},
		{"kernels: Add: len(a) = 3, want 4 (dst)", func() { Add(a, b, a) }},
		{"kernels: Scale: len(x) = 3", func() { Scale(a, 1, b) }},
		{"kernels: Axpy: len(x) = 4, want 3 (y)", func() { Axpy(1, a, b) }},
		{"kernels: Copy: len(src) = 3, want 4 (dst)", func() { Copy(a, b) }},
		{"kernels: Dot: len(y) = 3, want 4 (x)", func() { Dot(a, b) }},
		{"kernels: Exp: len(x) = 3", func() { Exp(a, b) }},
		{"kernels: ExpSum: len(x) = 4, want 3 (dst)", func() { ExpSum(b, a, 0) }},
		{"kernels: GELU: len(x) = 3", func() { GELU(a, b) }},
		{"kernels: GELUBackward: len(dy) = 3", func() { GELUBackward(a, b, a) }},
		{"kernels: GELUBackward: len(x) = 3", func() { GELUBackward(a, a, b) }},
		{"kernels: Softmax: len(x) = 4 is not a multiple of cols = 3", func() { Softmax(a, a, 3) }},
		{"kernels: Softmax: cols = -1", func() { Softmax(a, a, -1) }},
		{"kernels: Softmax: cols = 0 with len(x) = 4", func() { Softmax(a, a, 0) }},
		{"kernels: Softmax: len(dst) = 3, want 4 (x)", func() { Softmax(b, a, 2) }},
		{"kernels: LayerNorm: len(y) = 3", func() { LayerNorm(b, b[:2], b[:2], a, b[:2], b[:2], 2, 1e-5) }},
		{"kernels: LayerNorm: len(mean) = 3, want 2 (rows)", func() { LayerNorm(a, b, b[:2], a, b[:2], b[:2], 2, 1e-5) }},
		{"kernels: LayerNorm: len(rstd) = 1, want 2 (rows)", func() { LayerNorm(a, b[:2], b[:1], a, b[:2], b[:2], 2, 1e-5) }},
		{"kernels: LayerNorm: len(gamma) = 3, want 2 (cols)", func() { LayerNorm(a, b[:2], b[:2], a, b, b[:2], 2, 1e-5) }},
		{"kernels: LayerNorm: len(beta) = 3, want 2 (cols)", func() { LayerNorm(a, b[:2], b[:2], a, b[:2], b, 2, 1e-5) }},
		{"kernels: LayerNorm: len(x) = 3 is not a multiple of cols = 2", func() { LayerNorm(b, a, a, b, a, a, 2, 1e-5) }},
		{"kernels: LayerNormBackward: len(dx) = 3", func() { LayerNormBackward(b, a[:2], a[:2], a, a, a[:2], a[:2], a[:2], 2) }},
		{"kernels: LayerNormBackward: len(dy) = 3", func() { LayerNormBackward(a, a[:2], a[:2], b, a, a[:2], a[:2], a[:2], 2) }},
		{"kernels: LayerNormBackward: len(mean) = 3", func() { LayerNormBackward(a, a[:2], a[:2], a, a, b, a[:2], a[:2], 2) }},
		{"kernels: LayerNormBackward: len(rstd) = 3", func() { LayerNormBackward(a, a[:2], a[:2], a, a, a[:2], b, a[:2], 2) }},
		{"kernels: LayerNormBackward: len(gamma) = 3", func() { LayerNormBackward(a, a[:2], a[:2], a, a, a[:2], a[:2], b, 2) }},
		{"kernels: LayerNormBackward: len(dgamma) = 3", func() { LayerNormBackward(a, b, a[:2], a, a, a[:2], a[:2], a[:2], 2) }},
		{"kernels: LayerNormBackward: len(dbeta) = 3", func() { LayerNormBackward(a, a[:2], b, a, a, a[:2], a[:2], a[:2], 2) }},
		{"kernels: L2Normalize: len(y) = 3", func() { L2Normalize(b, a[:2], a, 2, 1e-12) }},
		{"kernels: L2Normalize: len(norm) = 3, want 2 (rows)", func() { L2Normalize(a, b, a, 2, 1e-12) }},
		{"kernels: L2NormalizeBackward: len(dx) = 3", func() { L2NormalizeBackward(b, a, a, a[:2], 2, 1e-12) }},
		{"kernels: L2NormalizeBackward: len(dy) = 3", func() { L2NormalizeBackward(a, b, a, a[:2], 2, 1e-12) }},
		{"kernels: L2NormalizeBackward: len(norm) = 4, want 2 (rows)", func() { L2NormalizeBackward(a, a, a, a, 2, 1e-12) }},
		{"kernels: L2NormalizeBackward: len(y) = 3 is not a multiple", func() { L2NormalizeBackward(b, b, b, a[:1], 2, 1e-12) }},
	}
	for _, tc := range cases {
		wantPanic(t, tc.want, tc.f)
	}
	// Empty inputs need no storage.
	Add(nil, nil, nil)
	Scale(nil, 2, nil)
	Axpy(2, nil, nil)
	Exp(nil, nil)
	ExpSum(nil, nil, 0)
	GELU(nil, nil)
	GELUBackward(nil, nil, nil)
	Softmax(nil, nil, 0)
	Softmax(nil, nil, 5)
	LayerNorm(nil, nil, nil, nil, a[:3], a[:3], 3, 1e-5)
	LayerNorm(nil, nil, nil, nil, nil, nil, 0, 1e-5)
	LayerNormBackward(nil, a[:3], a[:3], nil, nil, nil, nil, a[:3], 3)
	L2Normalize(nil, nil, nil, 4, 1e-12)
	L2NormalizeBackward(nil, nil, nil, nil, 4, 1e-12)
}

var exhaustive = flag.Bool("exhaustive", false, "check exp and GELU on every float32 of their ranges (minutes)")

// forEachFloat32 calls f with blocks of every float32 in [lo, hi] (lo <= 0 <= hi).
func forEachFloat32(lo, hi float32, f func(xs []float32)) {
	block := make([]float32, 0, 1<<20)
	emit := func(x float32) {
		block = append(block, x)
		if len(block) == cap(block) {
			f(block)
			block = block[:0]
		}
	}
	for b := math.Float32bits(lo); b > 0x80000000; b-- {
		emit(math.Float32frombits(b))
	}
	for b := uint32(0); math.Float32frombits(b) <= hi; b++ {
		emit(math.Float32frombits(b))
	}
	f(block)
}

// TestExhaustive checks exp on every float32 in [-87, 88] and GELU and GELU' on every float32
// in [-10, 10], on every path. Run it with go test -run Exhaustive -exhaustive -timeout 1h.
func TestExhaustive(t *testing.T) {
	if !*exhaustive {
		t.Skip("run with -exhaustive")
	}
	forEachSIMD(t, func(t *testing.T) {
		worst, count := 0.0, 0
		out := make([]float32, 1<<20)
		forEachFloat32(-87, 88, func(xs []float32) {
			Exp(out[:len(xs)], xs)
			for i, x := range xs {
				worst = max(worst, ulpErr32(out[i], math.Exp(float64(x))))
			}
			count += len(xs)
		})
		t.Logf("exp: %d inputs, max error %.3f ulp", count, worst)
		if worst > 2 {
			t.Errorf("exp: max error %.3f ulp", worst)
		}

		var worstGELU, worstGrad float64
		var missed []float32
		grad, ones := make([]float32, 1<<20), make([]float32, 1<<20)
		for i := range ones {
			ones[i] = 1
		}
		count = 0
		forEachFloat32(-10, 10, func(xs []float32) {
			GELU(out[:len(xs)], xs)
			GELUBackward(grad[:len(xs)], ones[:len(xs)], xs)
			for i, x := range xs {
				want := gelu64(float64(x))
				worstGELU = max(worstGELU, math.Abs(float64(out[i])-want))
				if !geluOK(out[i], want) {
					missed = append(missed, x)
				}
				worstGrad = max(worstGrad, math.Abs(float64(grad[i])-geluGrad64(float64(x))))
			}
			count += len(xs)
		})
		t.Logf("GELU: %d inputs, max |error| %.4g; %d neither within 2e-7 nor correctly rounded: %v", count, worstGELU, len(missed), missed)
		t.Logf("GELU': max |error| %.4g", worstGrad)
		if worstGELU > 2.4e-7 || len(missed) > 10 || worstGrad > geluGradTol {
			t.Errorf("GELU: max |error| %.4g, %d missed; GELU': max |error| %.4g", worstGELU, len(missed), worstGrad)
		}
	})
}
