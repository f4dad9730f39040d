package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

// readEmbeddings reads a 2-D float .npy file [N, D] of finite values; NaN or Inf is an error
// naming the file, the row and the column.
func readEmbeddings(path string) (metrics.Matrix, error) {
	t, err := tensor.ReadNPY(path)
	if err != nil {
		return metrics.Matrix{}, err
	}
	if t.Dims() != 2 || t.Dim(1) == 0 {
		return metrics.Matrix{}, fmt.Errorf("%s: shape %v, want embeddings [N, D] with D >= 1", path, t.Shape())
	}
	m := metrics.Matrix{Data: t.Data(), Rows: t.Dim(0), Cols: t.Dim(1)}
	return m, m.Check(path)
}

// readLabels reads integer class labels from a .npy file (shape [N] or [N, 1], integers or
// integral floats) or, for any other name, a text file of one integer per line.
func readLabels(path string) ([]int64, error) {
	if strings.HasSuffix(strings.ToLower(path), ".npy") {
		labels, shape, err := tensor.ReadNPYInts(path)
		if err != nil {
			return nil, err
		}
		if len(shape) != 1 && (len(shape) != 2 || shape[1] != 1) {
			return nil, fmt.Errorf("%s: shape %v, want labels [N] or [N, 1]", path, shape)
		}
		return labels, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	labels, err := metrics.ParseLabels(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return labels, nil
}
