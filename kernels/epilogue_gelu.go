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
	bias := e.Bias[j0 : j0+cols]
	ld := e.Ld
	if ld == 0 {
		ld = len(e.Bias)
	}
	for r := range rows {
		var pre []float32
		if e.Pre != nil {
			off := (i0+r)*ld + j0
			pre = e.Pre[off : off+cols]
		}
		biasGELUSerial(tile[r*ldc:r*ldc+cols], pre, bias)
	}
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
	ld := e.Ld
	if ld == 0 {
		ld = n
	}
	if ld < n {
		return fmt.Errorf("BiasGELU.Ld = %d, want 0 or at least n = %d", e.Ld, n)
	}
	if need := matrixLen(m, n, ld); len(e.Pre) < need {
		return fmt.Errorf("len(BiasGELU.Pre) = %d, want at least %d for %dx%d with Ld = %d", len(e.Pre), need, m, n, ld)
	}
	return nil
}
