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
