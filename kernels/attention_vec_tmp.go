package kernels

import "math"

// Max returns the largest element of x.
func Max(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	return m
}

// ExpSum sets dst[i] = exp(x[i]-shift) and returns the sum of dst.
func ExpSum(dst, x []float32, shift float32) float32 {
	var s float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - shift)))
		dst[i] = e
		s += e
	}
	return s
}

// Scale sets dst = alpha*x.
func Scale(dst []float32, alpha float32, x []float32) {
	for i, v := range x {
		dst[i] = alpha * v
	}
}

// Dot returns the dot product of x and y.
func Dot(x, y []float32) float32 {
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// Axpy sets y += alpha*x.
func Axpy(alpha float32, x, y []float32) {
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Add sets dst = a + b.
func Add(dst, a, b []float32) {
	for i, v := range a {
		dst[i] = v + b[i]
	}
}

// GELU sets dst = 0.5 x (1 + erf(x/sqrt2)).
func GELU(dst, x []float32) {
	for i, v := range x {
		dst[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	}
}

// GELUBackward sets dx = dy * GELU'(x).
func GELUBackward(dx, dy, x []float32) {
	for i, v := range x {
		f := float64(v)
		d := 0.5*(1+math.Erf(f/math.Sqrt2)) + f*math.Exp(-f*f/2)/math.Sqrt(2*math.Pi)
		dx[i] = dy[i] * float32(d)
	}
}

// LayerNorm normalises each row of x.
func LayerNorm(y, mean, rstd, x, gamma, beta []float32, cols int, eps float32) {
	for r := range len(x) / cols {
		row := x[r*cols : (r+1)*cols]
		m := 0.0
		for _, v := range row {
			m += float64(v)
		}
		m /= float64(cols)
		v2 := 0.0
		for _, v := range row {
			v2 += (float64(v) - m) * (float64(v) - m)
		}
		rs := 1 / math.Sqrt(v2/float64(cols)+float64(eps))
		mean[r], rstd[r] = float32(m), float32(rs)
		for j, v := range row {
			y[r*cols+j] = float32((float64(v)-m)*rs)*gamma[j] + beta[j]
		}
	}
}

// LayerNormBackward computes dx and accumulates dgamma, dbeta.
func LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, cols int) {
	for r := range len(x) / cols {
		var a, b float64
		for j := range cols {
			xh := float64((x[r*cols+j] - mean[r]) * rstd[r])
			g := float64(dy[r*cols+j] * gamma[j])
			a += g
			b += g * xh
			dgamma[j] += dy[r*cols+j] * float32(xh)
			dbeta[j] += dy[r*cols+j]
		}
		a /= float64(cols)
		b /= float64(cols)
		for j := range cols {
			xh := float64((x[r*cols+j] - mean[r]) * rstd[r])
			g := float64(dy[r*cols+j] * gamma[j])
			dx[r*cols+j] = float32(float64(rstd[r]) * (g - a - xh*b))
		}
	}
}

// L2Normalize normalises rows.
func L2Normalize(y, norm, x []float32, cols int, eps float32) {
	for r := range len(x) / cols {
		s := 0.0
		for _, v := range x[r*cols : (r+1)*cols] {
			s += float64(v) * float64(v)
		}
		n := math.Sqrt(s)
		norm[r] = float32(n)
		d := max(n, float64(eps))
		for j, v := range x[r*cols : (r+1)*cols] {
			y[r*cols+j] = float32(float64(v) / d)
		}
	}
}

// L2NormalizeBackward computes dx.
func L2NormalizeBackward(dx, dy, y, norm []float32, cols int, eps float32) {
	for r := range len(y) / cols {
		d := 0.0
		for j := range cols {
			d += float64(dy[r*cols+j]) * float64(y[r*cols+j])
		}
		n := max(float64(norm[r]), float64(eps))
		for j := range cols {
			dx[r*cols+j] = float32((float64(dy[r*cols+j]) - float64(y[r*cols+j])*d) / n)
		}
	}
}
