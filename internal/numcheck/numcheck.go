// Package numcheck holds the comparisons that tests across semprox make between numerical
// results, so that each is defined once.
package numcheck

import "math"

// Cosine returns the cosine of the angle between a and b, summed in float64: 1 for vectors that
// point the same way. It panics if b is shorter than a.
func Cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// MaxRelError returns the largest |a[i] - b[i]| over the largest |a[i]|, in float64: 0 for equal
// vectors, whatever their scale. It panics if b is shorter than a.
func MaxRelError(a, b []float32) float64 {
	var maxErr, maxAbs float64
	for i := range a {
		maxErr = max(maxErr, math.Abs(float64(a[i])-float64(b[i])))
		maxAbs = max(maxAbs, math.Abs(float64(a[i])))
	}
	if maxErr == 0 {
		return 0
	}
	return maxErr / maxAbs
}
