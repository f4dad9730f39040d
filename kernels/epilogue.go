package kernels

import "fmt"

// Epilogue is work fused into the write of C: Sgemm calls ApplyTile once for every finished tile of
// C, while the tile is in cache. Tiles are disjoint and may be processed concurrently.
type Epilogue interface {
	// ApplyTile updates rows i0..i0+rows-1 and columns j0..j0+cols-1 of C; tile[r*ldc+j] is
	// C[i0+r, j0+j].
	ApplyTile(tile []float32, ldc, i0, j0, rows, cols int)
	// Validate returns an error naming what is wrong unless the epilogue fits an m x n C.
	Validate(m, n int) error
}

// BiasCols is an Epilogue that adds bias[j] to every element of column j: C[i,j] += bias[j]
// (the bias of a linear layer whose output rows are samples). len(bias) must be n.
type BiasCols []float32

// ApplyTile adds the bias to the tile: panels of the micro-kernel's width in assembly, the
// rest in Go.
func (bias BiasCols) ApplyTile(tile []float32, ldc, i0, j0, rows, cols int) {
	bs := bias[j0 : j0+cols]
	j := 0
	if br := biasRowsFor(active); br.fn != nil && rows > 0 {
		for ; j+br.width <= cols; j += br.width {
			_ = tile[(rows-1)*ldc+j+br.width-1]
			br.fn(&tile[j], ldc, rows, &bs[j])
		}
	}
	for r := range rows {
		row := tile[r*ldc+j : r*ldc+cols]
		for i, v := range bs[j:] {
			row[i] += v
		}
	}
}

// biasRows is an assembly bias-add for column panels width wide: it adds bias[0:width] to
// each of rows rows of c, ldc apart.
type biasRows struct {
	width int
	fn    func(c *float32, ldc, rows int, bias *float32)
}

// Validate checks that len(bias) is n.
func (bias BiasCols) Validate(m, n int) error {
	if len(bias) != n {
		return fmt.Errorf("len(BiasCols) = %d, want n = %d", len(bias), n)
	}
	return nil
}

// BiasRows is an Epilogue that adds bias[i] to every element of row i: C[i,j] += bias[i].
// len(bias) must be m.
type BiasRows []float32

// ApplyTile adds the bias to the tile.
func (bias BiasRows) ApplyTile(tile []float32, ldc, i0, j0, rows, cols int) {
	for r, v := range bias[i0 : i0+rows] {
		row := tile[r*ldc : r*ldc+cols]
		for j := range row {
			row[j] += v
		}
	}
}

// Validate checks that len(bias) is m.
func (bias BiasRows) Validate(m, n int) error {
	if len(bias) != m {
		return fmt.Errorf("len(BiasRows) = %d, want m = %d", len(bias), m)
	}
	return nil
}
