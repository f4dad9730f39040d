package numcheck

import (
	"math"
	"testing"
)

func TestCosine(t *testing.T) {
	for _, c := range []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, 0}, []float32{2, 0}, 1},
		{[]float32{1, 0}, []float32{0, 3}, 0},
		{[]float32{1, 1}, []float32{-1, -1}, -1},
		{[]float32{3, 4}, []float32{4, 3}, 24.0 / 25},
	} {
		if got := Cosine(c.a, c.b); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Cosine(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestMaxRelError(t *testing.T) {
	for _, c := range []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, -4}, []float32{1, -4}, 0},
		{[]float32{1, -4}, []float32{1.5, -4}, 0.5 / 4},
		{[]float32{2, 0}, []float32{2, 1}, 0.5},
		{[]float32{0, 0}, []float32{0, 1}, math.Inf(1)},
		{nil, nil, 0},
	} {
		if got := MaxRelError(c.a, c.b); got != c.want {
			t.Errorf("MaxRelError(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
