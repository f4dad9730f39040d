package kernels

import "fmt"

// BiasGELU is an Epilogue for the first linear layer of a transformer MLP: it adds Bias[j] to
// every element of column j and applies GELU in place, C[i,j] = GELU(C[i,j] + Bias[j]), while
// the tile is in cache. When Pre is not nil it also stores the pre-activation C[i,j] + Bias[j],
// which GELUBackward needs, at Pre[i*Ld + j].
//
//	Bias is [n]
//	Pre is nil or an [m, n] matrix with leading dimension Ld: Ld = 0 means n (a compact
//	matrix, with the layout of C when ldc = n); pass Ld = ldc to give Pre the layout of C.
//
// Pre must not overlap C. Converting a BiasGELU value to an Epilogue allocates; keep a
// *BiasGELU to call Sgemm without allocating.
type BiasGELU struct {
	Bias []float32
	Pre  []float32
	Ld   int
}

// ApplyTile adds the bias to the tile, stores the sums in Pre if set, and applies GELU.
func (e BiasGELU) ApplyTile(tile []float32, ldc, i0, j0, rows, cols int) {
	ld := e.Ld
	if ld == 0 {
		ld = len(e.Bias)
	}
	var pre []float32
	if e.Pre != nil && rows > 0 {
		pre = e.Pre[i0*ld+j0:]
	}
	biasGELURows(tile, ldc, pre, ld, e.Bias[j0:j0+cols], rows, cols)
}

// Validate checks that len(Bias) is n and, when Pre is set, that Ld and len(Pre) fit an m x n
// matrix.
func (e BiasGELU) Validate(m, n int) error {
	if len(e.Bias) != n {
		return fmt.Errorf("len(BiasGELU.Bias) = %d, want n = %d", len(e.Bias), n)
	}
	if e.Pre == nil {
		return nil
	}
	return checkPre("BiasGELU", e.Pre, e.Ld, true, m, n)
}

// GELUGrad is an Epilogue for the backward pass of GELU after a linear layer: it multiplies
// every element of C by GELU'(Pre[i*Ld + j]), the slope at the pre-activation BiasGELU stored,
// while the tile is in cache. The product dy W of the next layer's backward pass, the gradient
// of the GELU output, is then written as the gradient of the pre-activation without passing
// through memory twice.
//
//	Pre is an [m, n] matrix with leading dimension Ld >= n.
type GELUGrad struct {
	Pre []float32
	Ld  int
}

// ApplyTile multiplies the tile by GELU' of the matching pre-activations.
func (e GELUGrad) ApplyTile(tile []float32, ldc, i0, j0, rows, cols int) {
	if rows > 0 {
		geluGradRows(tile, ldc, e.Pre[i0*e.Ld+j0:], e.Ld, rows, cols)
	}
}

// Validate checks that Ld and len(Pre) fit an m x n matrix.
func (e GELUGrad) Validate(m, n int) error { return checkPre("GELUGrad", e.Pre, e.Ld, false, m, n) }

// checkPre returns an error naming the epilogue unless pre, rows ld apart, holds an m x n
// matrix; with zeroMeansN, ld = 0 stands for n.
func checkPre(epilogue string, pre []float32, ld int, zeroMeansN bool, m, n int) error {
	if zeroMeansN && ld == 0 {
		ld = n
	}
	if ld < n {
		want := "at least"
		if zeroMeansN {
			want = "0 or at least"
		}
		return fmt.Errorf("%s.Ld = %d, want %s n = %d", epilogue, ld, want, n)
	}
	if need := matrixLen(m, n, ld); len(pre) < need {
		return fmt.Errorf("len(%s.Pre) = %d, want at least %d for %dx%d with Ld = %d", epilogue, len(pre), need, m, n, ld)
	}
	return nil
}
