package metrics

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/kernels"
)

// Matrix is a dense row-major [Rows, Cols] float32 matrix: row i is Data[i*Cols : (i+1)*Cols].
type Matrix struct {
	Data       []float32
	Rows, Cols int
}

// check returns an error naming the matrix unless Data holds exactly Rows*Cols finite values.
func (m Matrix) check(name string) error {
	if m.Rows < 0 || m.Cols < 1 || len(m.Data) != m.Rows*m.Cols {
		return fmt.Errorf("%s: %d values for %d x %d", name, len(m.Data), m.Rows, m.Cols)
	}
	for i, v := range m.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: row %d column %d is %v", name, i/m.Cols, i%m.Cols, v)
		}
	}
	return nil
}

// Metric is how neighbours are ranked.
type Metric int

const (
	// Cosine ranks by the inner product, largest first: the cosine similarity of L2-normalised
	// embeddings. Neighbours' scores are similarities.
	Cosine Metric = iota
	// L2 ranks by Euclidean distance, smallest first, from the squared distance
	// ||q||^2 + ||r||^2 - 2 q.r (clamped at 0). Neighbours' scores are distances.
	L2
)

// String is the metric's name as cmd/eval spells it.
func (m Metric) String() string {
	if m == L2 {
		return "l2"
	}
	return "cosine"
}

// Neighbors holds the K nearest references of each of Queries queries, nearest first: the j-th
// neighbour of query q is reference Index[q*K+j] with score Score[q*K+j] (a similarity for Cosine,
// a distance for L2). Equal scores list the smaller reference index first.
type Neighbors struct {
	Queries, K int
	Index      []int32
	Score      []float32
}

// Row returns the neighbour indices and scores of query q.
func (nb Neighbors) Row(q int) ([]int32, []float32) {
	return nb.Index[q*nb.K : (q+1)*nb.K], nb.Score[q*nb.K : (q+1)*nb.K]
}

// blockRows is the number of queries whose similarities to every reference are held at once:
// the block costs blockRows x references float32s (124 MB for 60,502 references).
const blockRows = 512

// KNN returns the k nearest references of every query. With self, the queries are the
// references (query must be ref, row for row) and query i never lists reference i among its
// neighbours; other references equal to it still count. k is capped at the number of candidate
// references. Both matrices must have the same number of columns and finite values.
//
// Queries go in blocks of 512: one SGEMM gives a block's scores against every reference
// (512 x references float32s), then each row's k best are selected in parallel across rows with a
// bounded heap. Cosine self-retrieval with k <= 128 instead computes each inner product once
// (see forEachSelfBlock), at the cost of buffers of references x 2k x 8 bytes. The result itself
// takes queries x k x 8 bytes.
func KNN(query, ref Matrix, k int, metric Metric, self bool) (Neighbors, error) {
	nb := Neighbors{Queries: query.Rows}
	err := forEachBlock(query, ref, k, metric, self, func(q0 int, blk Neighbors) {
		if nb.Index == nil {
			nb.K = blk.K
			nb.Index = make([]int32, query.Rows*blk.K)
			nb.Score = make([]float32, query.Rows*blk.K)
		}
		copy(nb.Index[q0*nb.K:], blk.Index)
		copy(nb.Score[q0*nb.K:], blk.Score)
	})
	if nb.Index == nil {
		nb.K = max(0, min(k, candidates(ref.Rows, self)))
	}
	return nb, err
}

func candidates(refs int, self bool) int {
	if self {
		return refs - 1
	}
	return refs
}

// forEachBlock computes the neighbours of consecutive blocks of at most blockRows queries and
// hands each to fn with the index of its first query, in order. blk is reused between calls.
func forEachBlock(query, ref Matrix, k int, metric Metric, self bool, fn func(q0 int, blk Neighbors)) error {
	if err := query.check("query embeddings"); err != nil {
		return err
	}
	if err := ref.check("reference embeddings"); err != nil {
		return err
	}
	if query.Cols != ref.Cols {
		return fmt.Errorf("query embeddings have %d dimensions, reference embeddings %d", query.Cols, ref.Cols)
	}
	if self && query.Rows != ref.Rows {
		return fmt.Errorf("self-retrieval needs the queries to be the references: %d queries, %d references", query.Rows, ref.Rows)
	}
	if k < 1 {
		return fmt.Errorf("k = %d, want at least 1", k)
	}
	k = min(k, candidates(ref.Rows, self))
	if k < 1 || query.Rows == 0 {
		return nil
	}
	if self && metric == Cosine && k <= maxSymmetricK {
		forEachSelfBlock(query, k, fn)
		return nil
	}
	n, d := ref.Rows, ref.Cols
	alpha := float32(1)
	var ep kernels.Epilogue
	var qNorm []float32
	if metric == L2 {
		// score = 2 q.r - ||r||^2 ranks like -||q - r||^2; distance = ||q||^2 - score.
		alpha = 2
		negNorm := squaredNorms(ref)
		for i := range negNorm {
			negNorm[i] = -negNorm[i]
		}
		ep = kernels.BiasCols(negNorm)
		qNorm = squaredNorms(query)
	}
	rows := min(blockRows, query.Rows)
	sim := make([]float32, rows*n)
	sel := newSelector(k, kernels.Threads())
	blk := Neighbors{K: k, Index: make([]int32, rows*k), Score: make([]float32, rows*k)}
	for q0 := 0; q0 < query.Rows; q0 += rows {
		m := min(rows, query.Rows-q0)
		kernels.SgemmEpilogue(ep, false, true, m, n, d, alpha, query.Data[q0*d:], d, ref.Data, d, 0, sim, n)
		blk.Queries = m
		sel.selectRows(sim, n, m, q0, self, blk.Index, blk.Score)
		if metric == L2 {
			for i := range m {
				for j := range k {
					s := &blk.Score[i*k+j]
					*s = float32(math.Sqrt(float64(max(0, qNorm[q0+i]-*s))))
				}
			}
		}
		fn(q0, Neighbors{Queries: m, K: k, Index: blk.Index[:m*k], Score: blk.Score[:m*k]})
	}
	return nil
}

// squaredNorms returns ||row||^2 of every row of m.
func squaredNorms(m Matrix) []float32 {
	out := make([]float32, m.Rows)
	for i := range out {
		r := m.Data[i*m.Cols : (i+1)*m.Cols]
		out[i] = kernels.Dot(r, r)
	}
	return out
}

// Normalize returns a copy of m with every row scaled to unit L2 norm (a zero row stays zero).
func Normalize(m Matrix) Matrix {
	out := Matrix{Data: make([]float32, len(m.Data)), Rows: m.Rows, Cols: m.Cols}
	for i := range m.Rows {
		src := m.Data[i*m.Cols : (i+1)*m.Cols]
		var ss float64
		for _, v := range src {
			ss += float64(v) * float64(v)
		}
		if ss > 0 {
			kernels.Scale(out.Data[i*m.Cols:(i+1)*m.Cols], float32(1/math.Sqrt(ss)), src)
		}
	}
	return out
}
