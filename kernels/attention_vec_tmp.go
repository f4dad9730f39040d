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
