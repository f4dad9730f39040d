package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rowShapes returns (rows, cols) pairs: every vector size as cols with a few rows, and some
// random shapes.
func rowShapes(rng *rand.Rand) [][2]int {
	var shapes [][2]int
	for _, c := range vectorSizes[1:] {
		shapes = append(shapes, [2]int{1 + rng.IntN(4), c})
	}
	for range 8 {
		shapes = append(shapes, [2]int{1 + rng.IntN(40), 1 + rng.IntN(700)})
	}
	return append(shapes, [2]int{0, 7})
}

func softmaxRow64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(float64(v) - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, sh := range rowShapes(rng) {
		rows, cols := sh[0], sh[1]
		x := vecOf(rng, rows*cols, normalDist(5))
		for i := range x {
			if rng.IntN(10) == 0 {
				x[i] = negInf32 // masked out
			}
		}
		for r := range rows {
			x[r*cols+rng.IntN(cols)] = float32(rng.NormFloat64()) // no row all -Inf
		}
		forEachSIMD(t, func(t *testing.T) {
			dst := newGuarded(len(x))
			Softmax(dst.s(), x, cols)
			dst.check(t, "Softmax")
			for r := range rows {
				want := softmaxRow64(x[r*cols : (r+1)*cols])
				tol := float64(cols/4+32) * roundoff
				for j, w := range want {
					checkNear(t, "Softmax", float64(dst.s()[r*cols+j]), w, tol*w+1e-45)
				}
			}
			y := append([]float32(nil), x...)
			Softmax(y, y, cols)
			for i := range y {
				if !sameBits(y[i], dst.s()[i]) {
					t.Fatalf("Softmax in place differs at %d: %v, %v", i, y[i], dst.s()[i])
				}
			}
		})
	}
	forEachSIMD(t, func(t *testing.T) {
		dst := make([]float32, 4)
		Softmax(dst, []float32{negInf32, negInf32, 3, nanF32}, 2)
		if dst[0] == dst[0] || dst[2] == dst[2] {
			t.Errorf("Softmax of an all -Inf row and a row with NaN = %v, want NaN", dst)
		}
		Softmax(dst, []float32{1e30, 1e30, -1e30, 0}, 4)
		if dst[0] != 0.5 || dst[1] != 0.5 || dst[2] != 0 || dst[3] != 0 {
			t.Errorf("Softmax of huge values = %v", dst)
		}
	})
}

// layerNorm64 is LayerNorm in float64: y and the mean and rstd of each row.
func layerNorm64(x, gamma, beta []float32, cols int, eps float32) (y, mean, rstd []float64) {
	rows := len(x) / max(cols, 1)
	y, mean, rstd = make([]float64, len(x)), make([]float64, rows), make([]float64, rows)
	for r := range rows {
		xr := x[r*cols : (r+1)*cols]
		var m, v float64
		for _, e := range xr {
			m += float64(e)
		}
		m /= float64(cols)
		for _, e := range xr {
			v += (float64(e) - m) * (float64(e) - m)
		}
		v /= float64(cols)
		s := 1 / math.Sqrt(v+float64(eps))
		mean[r], rstd[r] = m, s
		for j, e := range xr {
			y[r*cols+j] = (float64(e)-m)*s*float64(gamma[j]) + float64(beta[j])
		}
	}
	return y, mean, rstd
}

// layerNormCase draws a LayerNorm input: rows of cols values, some rows far from zero, with
// gamma and beta near 1 and 0.
func layerNormCase(rng *rand.Rand, rows, cols int) (x, gamma, beta []float32) {
	x = vecOf(rng, rows*cols, normalDist(1))
	for r := range rows {
		offset, scale := float32(rng.NormFloat64()*4), float32(math.Exp(rng.NormFloat64()))
		for j := range cols {
			x[r*cols+j] = offset + scale*x[r*cols+j]
		}
	}
	gamma = vecOf(rng, cols, uniformDist(0.5, 1.5))
	beta = vecOf(rng, cols, normalDist(0.3))
	return x, gamma, beta
}

func checkLayerNorm(t *testing.T, rows, cols int, x, gamma, beta []float32, eps float32, y, mean, rstd []float32) {
	t.Helper()
	y64, mean64, rstd64 := layerNorm64(x, gamma, beta, cols, eps)
	tol := float64(cols/4+32) * roundoff
	for r := range rows {
		var absDev float64
		for j := range cols {
			absDev += math.Abs(float64(x[r*cols+j]) - mean64[r])
		}
		meanTol := tol * (math.Abs(mean64[r]) + absDev/float64(cols))
		checkNear(t, "mean", float64(mean[r]), mean64[r], meanTol)
		checkNear(t, "rstd", float64(rstd[r]), rstd64[r], 2*tol*rstd64[r])
		for j := range cols {
			i := r*cols + j
			xhat := (float64(x[i]) - mean64[r]) * rstd64[r]
			g := math.Abs(float64(gamma[j]))
			want := y64[i]
			yTol := 2*tol*(math.Abs(xhat)*g+math.Abs(float64(beta[j]))) + meanTol*rstd64[r]*g
			if !(math.Abs(float64(y[i])-want) <= yTol) {
				t.Fatalf("%dx%d: y[%d,%d] = %v, want %v (tol %.3g)", rows, cols, r, j, y[i], want, yTol)
			}
		}
	}
}

func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range rowShapes(rng) {
		rows, cols := sh[0], sh[1]
		x, gamma, beta := layerNormCase(rng, rows, cols)
		eps := float32(1e-5)
		if rng.IntN(2) == 0 {
			eps = 1e-6
		}
		forEachSIMD(t, func(t *testing.T) {
			y, mean, rstd := newGuarded(len(x)), newGuarded(rows), newGuarded(rows)
			LayerNorm(y.s(), mean.s(), rstd.s(), x, gamma, beta, cols, eps)
			y.check(t, "y")
			mean.check(t, "mean")
			rstd.check(t, "rstd")
			checkLayerNorm(t, rows, cols, x, gamma, beta, eps, y.s(), mean.s(), rstd.s())
			z := append([]float32(nil), x...)
			LayerNorm(z, mean.s(), rstd.s(), z, gamma, beta, cols, eps)
			for i := range z {
				if !sameBits(z[i], y.s()[i]) {
					t.Fatalf("LayerNorm in place differs at %d", i)
				}
			}
		})
	}
	// A constant row has variance 0: y = beta.
	forEachSIMD(t, func(t *testing.T) {
		x := []float32{3, 3, 3, 3, 3}
		y, mean, rstd := make([]float32, 5), make([]float32, 1), make([]float32, 1)
		LayerNorm(y, mean, rstd, x, []float32{1, 2, 3, 4, 5}, []float32{5, 4, 3, 2, 1}, 5, 1e-5)
		if mean[0] != 3 || y[0] != 5 || y[4] != 1 || ulpErr32(rstd[0], 1/math.Sqrt(float64(float32(1e-5)))) > 1 {
			t.Errorf("LayerNorm of a constant row: y %v mean %v rstd %v", y, mean, rstd)
		}
	})
}

// layerNormBackward64 is the LayerNorm gradient in float64 from the saved mean and rstd.
func layerNormBackward64(dy, x, mean, rstd, gamma []float32, cols int) (dx, dgamma, dbeta []float64) {
	rows := len(mean)
	dx, dgamma, dbeta = make([]float64, len(x)), make([]float64, cols), make([]float64, cols)
	for r := range rows {
		var m1, m2 float64
		for j := range cols {
			i := r*cols + j
			xh := (float64(x[i]) - float64(mean[r])) * float64(rstd[r])
			g := float64(dy[i]) * float64(gamma[j])
			m1 += g
			m2 += g * xh
			dgamma[j] += float64(dy[i]) * xh
			dbeta[j] += float64(dy[i])
		}
		m1 /= float64(cols)
		m2 /= float64(cols)
		for j := range cols {
			i := r*cols + j
			xh := (float64(x[i]) - float64(mean[r])) * float64(rstd[r])
			g := float64(dy[i]) * float64(gamma[j])
			dx[i] = float64(rstd[r]) * (g - m1 - xh*m2)
		}
	}
	return dx, dgamma, dbeta
}

func checkLayerNormBackward(t *testing.T, rows, cols int, dy, x, mean, rstd, gamma, dgamma0, dbeta0, dx, dgamma, dbeta []float32) {
	t.Helper()
	dx64, dg64, db64 := layerNormBackward64(dy, x, mean, rstd, gamma, cols)
	tol := float64(cols/4+32) * roundoff
	for r := range rows {
		var mag1, mag2 float64
		for j := range cols {
			i := r*cols + j
			xh := (float64(x[i]) - float64(mean[r])) * float64(rstd[r])
			g := float64(dy[i]) * float64(gamma[j])
			mag1 += math.Abs(g)
			mag2 += math.Abs(g * xh)
		}
		mag1 /= float64(cols)
		mag2 /= float64(cols)
		for j := range cols {
			i := r*cols + j
			xh := (float64(x[i]) - float64(mean[r])) * float64(rstd[r])
			g := float64(dy[i]) * float64(gamma[j])
			dxTol := 2 * tol * float64(rstd[r]) * (math.Abs(g) + mag1 + math.Abs(xh)*(mag2+math.Abs(xh)*mag1))
			if !(math.Abs(float64(dx[i])-dx64[i]) <= dxTol) {
				t.Fatalf("%dx%d: dx[%d,%d] = %v, want %v (tol %.3g)", rows, cols, r, j, dx[i], dx64[i], dxTol)
			}
		}
	}
	for j := range cols {
		var mg, mb float64
		for r := range rows {
			i := r*cols + j
			xh := (float64(x[i]) - float64(mean[r])) * float64(rstd[r])
			mg += math.Abs(float64(dy[i]) * xh)
			mb += math.Abs(float64(dy[i]))
		}
		colTol := float64(rows+maxLayerNormBlocks+8) * 2 * roundoff
		checkNear(t, "dgamma", float64(dgamma[j]), float64(dgamma0[j])+dg64[j], colTol*(mg+math.Abs(float64(dgamma0[j]))))
		checkNear(t, "dbeta", float64(dbeta[j]), float64(dbeta0[j])+db64[j], colTol*(mb+math.Abs(float64(dbeta0[j]))))
	}
}

func TestLayerNormBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	shapes := append(rowShapes(rng), [2]int{300, 200}, [2]int{17, 4000})
	for _, sh := range shapes {
		rows, cols := sh[0], sh[1]
		x, gamma, beta := layerNormCase(rng, rows, cols)
		y, mean, rstd := make([]float32, len(x)), make([]float32, rows), make([]float32, rows)
		LayerNorm(y, mean, rstd, x, gamma, beta, cols, 1e-5)
		dy := vecOf(rng, len(x), normalDist(1))
		dgamma0, dbeta0 := vecOf(rng, cols, normalDist(1)), vecOf(rng, cols, normalDist(1))
		forEachSIMD(t, func(t *testing.T) {
			dx := newGuarded(len(x))
			dgamma, dbeta := newGuarded(cols), newGuarded(cols)
			copy(dgamma.s(), dgamma0)
			copy(dbeta.s(), dbeta0)
			LayerNormBackward(dx.s(), dgamma.s(), dbeta.s(), dy, x, mean, rstd, gamma, cols)
			dx.check(t, "dx")
			dgamma.check(t, "dgamma")
			dbeta.check(t, "dbeta")
			checkLayerNormBackward(t, rows, cols, dy, x, mean, rstd, gamma, dgamma0, dbeta0, dx.s(), dgamma.s(), dbeta.s())
			// dx may be dy or x.
			for _, alias := range []string{"dy", "x"} {
				z := append([]float32(nil), dy...)
				xx := x
				if alias == "x" {
					z = append([]float32(nil), x...)
					xx = z
				}
				dg, db := append([]float32(nil), dgamma0...), append([]float32(nil), dbeta0...)
				dyy := dy
				if alias == "dy" {
					dyy = z
				}
				LayerNormBackward(z, dg, db, dyy, xx, mean, rstd, gamma, cols)
				for i := range z {
					if !sameBits(z[i], dx.s()[i]) {
						t.Fatalf("%dx%d: LayerNormBackward with dx = %s differs at %d", rows, cols, alias, i)
					}
				}
			}
		})
	}
}

// TestLayerNormFiniteDifferences checks the float64 reference gradient, and through it the
// kernel, against central differences of the float64 forward pass on a small case.
func TestLayerNormFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	const rows, cols = 3, 5
	x, gamma, beta := layerNormCase(rng, rows, cols)
	dy := vecOf(rng, rows*cols, normalDist(1))
	loss := func(x, gamma, beta []float32) float64 {
		y, _, _ := layerNorm64(x, gamma, beta, cols, 1e-5)
		var l float64
		for i := range y {
			l += y[i] * float64(dy[i])
		}
		return l
	}
	numeric := func(v []float32, i int) float64 {
		// float32 perturbations of a float32 input: use a step that is exact.
		h := float32(math.Ldexp(1, int(math.Floor(math.Log2(math.Abs(float64(v[i])+1e-3))))-10))
		save := v[i]
		v[i] = save + h
		lp := loss(x, gamma, beta)
		v[i] = save - h
		lm := loss(x, gamma, beta)
		v[i] = save
		return (lp - lm) / (2 * float64(h))
	}
	forEachSIMD(t, func(t *testing.T) {
		y, mean, rstd := make([]float32, rows*cols), make([]float32, rows), make([]float32, rows)
		LayerNorm(y, mean, rstd, x, gamma, beta, cols, 1e-5)
		dx, dgamma, dbeta := make([]float32, rows*cols), make([]float32, cols), make([]float32, cols)
		LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, cols)
		for i := range x {
			checkNear(t, "dx", float64(dx[i]), numeric(x, i), 1e-4*(1+math.Abs(float64(dx[i]))))
		}
		for j := range cols {
			checkNear(t, "dgamma", float64(dgamma[j]), numeric(gamma, j), 1e-4*(1+math.Abs(float64(dgamma[j]))))
			checkNear(t, "dbeta", float64(dbeta[j]), numeric(beta, j), 1e-4*(1+math.Abs(float64(dbeta[j]))))
		}
	})
}

func l2Normalize64(x []float32, cols int, eps float32) (y, norm []float64) {
	rows := len(x) / cols
	y, norm = make([]float64, len(x)), make([]float64, rows)
	for r := range rows {
		var s float64
		for _, v := range x[r*cols : (r+1)*cols] {
			s += float64(v) * float64(v)
		}
		norm[r] = math.Sqrt(s)
		d := max(norm[r], float64(eps))
		for j := range cols {
			y[r*cols+j] = float64(x[r*cols+j]) / d
		}
	}
	return y, norm
}

func TestL2Normalize(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for _, sh := range rowShapes(rng) {
		rows, cols := sh[0], sh[1]
		x := vecOf(rng, rows*cols, normalDist(2))
		if rows > 1 {
			clear(x[:cols]) // a zero row: norm 0, y = 0
			for j := range cols {
				x[cols+j] *= 1e-9 // a row below eps
			}
		}
		const eps = 1e-6
		forEachSIMD(t, func(t *testing.T) {
			y, norm := newGuarded(len(x)), newGuarded(rows)
			L2Normalize(y.s(), norm.s(), x, cols, eps)
			y.check(t, "y")
			norm.check(t, "norm")
			y64, norm64 := l2Normalize64(x, cols, eps)
			tol := float64(cols/4+32) * roundoff
			for r := range rows {
				checkNear(t, "norm", float64(norm.s()[r]), norm64[r], tol*norm64[r])
				for j := range cols {
					i := r*cols + j
					checkNear(t, "y", float64(y.s()[i]), y64[i], 2*tol*math.Abs(y64[i])+1e-45)
				}
			}
			z := append([]float32(nil), x...)
			L2Normalize(z, norm.s(), z, cols, eps)
			for i := range z {
				if !sameBits(z[i], y.s()[i]) {
					t.Fatalf("L2Normalize in place differs at %d", i)
				}
			}
		})
	}
}

func l2NormalizeBackward64(dy, y, norm []float32, cols int, eps float32) []float64 {
	dx := make([]float64, len(y))
	for r, n := range norm {
		var d float64
		for j := range cols {
			d += float64(dy[r*cols+j]) * float64(y[r*cols+j])
		}
		for j := range cols {
			i := r*cols + j
			if n >= eps {
				dx[i] = (float64(dy[i]) - float64(y[i])*d) / float64(n)
			} else {
				dx[i] = float64(dy[i]) / float64(eps)
			}
		}
	}
	return dx
}

func TestL2NormalizeBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for _, sh := range rowShapes(rng) {
		rows, cols := sh[0], sh[1]
		x := vecOf(rng, rows*cols, normalDist(2))
		if rows > 1 {
			for j := range cols {
				x[j] *= 1e-9
			}
		}
		const eps = 1e-6
		y, norm := make([]float32, len(x)), make([]float32, rows)
		L2Normalize(y, norm, x, cols, eps)
		dy := vecOf(rng, len(x), normalDist(1))
		forEachSIMD(t, func(t *testing.T) {
			dx := newGuarded(len(x))
			L2NormalizeBackward(dx.s(), dy, y, norm, cols, eps)
			dx.check(t, "dx")
			want := l2NormalizeBackward64(dy, y, norm, cols, eps)
			tol := float64(cols/4+32) * roundoff
			for r := range rows {
				var dmag float64
				for j := range cols {
					dmag += math.Abs(float64(dy[r*cols+j]) * float64(y[r*cols+j]))
				}
				inv := 1 / max(float64(norm[r]), eps)
				for j := range cols {
					i := r*cols + j
					tl := 2 * tol * inv * (math.Abs(float64(dy[i])) + math.Abs(float64(y[i]))*dmag)
					checkNear(t, "dx", float64(dx.s()[i]), want[i], tl)
				}
			}
			z := append([]float32(nil), dy...)
			L2NormalizeBackward(z, z, y, norm, cols, eps)
			for i := range z {
				if !sameBits(z[i], dx.s()[i]) {
					t.Fatalf("L2NormalizeBackward with dx = dy differs at %d", i)
				}
			}
		})
	}
}

func TestL2NormalizeFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	const cols, eps = 4, 1e-3
	x := vecOf(rng, 3*cols, normalDist(1))
	for j := range cols {
		x[cols+j] *= 1e-4 // a clamped row: norm < eps
	}
	dy := vecOf(rng, len(x), normalDist(1))
	loss := func() float64 {
		y, _ := l2Normalize64(x, cols, eps)
		var l float64
		for i := range y {
			l += y[i] * float64(dy[i])
		}
		return l
	}
	forEachSIMD(t, func(t *testing.T) {
		y, norm := make([]float32, len(x)), make([]float32, 3)
		L2Normalize(y, norm, x, cols, eps)
		dx := make([]float32, len(x))
		L2NormalizeBackward(dx, dy, y, norm, cols, eps)
		for i := range x {
			save := x[i]
			h := float32(math.Ldexp(1, int(math.Floor(math.Log2(math.Abs(float64(save)))))-12))
			x[i] = save + h
			lp := loss()
			x[i] = save - h
			lm := loss()
			x[i] = save
			num := (lp - lm) / (2 * float64(h))
			checkNear(t, "dx", float64(dx[i]), num, 1e-3*(1+math.Abs(num)))
		}
	})
}

// TestLayerNormStreaming checks the non-temporal store path (taken for large aligned outputs)
// against the ordinary one, on small shapes with the threshold lowered.
func TestLayerNormStreaming(t *testing.T) {
	saved := streamThreshold
	defer func() { streamThreshold = saved }()
	rng := rand.New(rand.NewPCG(15, 15))
	for _, sh := range [][2]int{{1, 16}, {3, 32}, {5, 384}, {2, 48}, {7, 17}, {4, 1000}, {200, 400}} {
		rows, cols := sh[0], sh[1]
		x, gamma, beta := layerNormCase(rng, rows, cols)
		forEachSIMD(t, func(t *testing.T) {
			want, mean, rstd := make([]float32, len(x)), make([]float32, rows), make([]float32, rows)
			streamThreshold = 1 << 62
			LayerNorm(want, mean, rstd, x, gamma, beta, cols, 1e-5)
			streamThreshold = 0
			for _, offset := range []int{0, 1} {
				y := AlignedFloat32s(len(x) + 1)[offset : offset+len(x)]
				LayerNorm(y, mean, rstd, x, gamma, beta, cols, 1e-5)
				for i := range y {
					if !sameBits(y[i], want[i]) {
						t.Fatalf("%dx%d offset %d: streamed y[%d] = %v, want %v", rows, cols, offset, i, y[i], want[i])
					}
				}
			}
		})
	}
}
