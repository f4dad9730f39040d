package metrics

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/semprox/semprox/kernels"
)

// Matrix is a dense row-major [Rows, Cols] float32 matrix: row i is Data[i*Cols : (i+1)*Cols].
type Matrix struct {
	Data       []float32
	Rows, Cols int
}

// Check returns an error naming the matrix (name, such as a file name) and the row and column at
// fault unless Data holds exactly Rows*Cols finite values and Cols is at least 1.
func (m Matrix) Check(name string) error {
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
	// ||q||^2 + ||r||^2 - 2 q.r (clamped at 0), computed on the queries and references scaled by
	// one common power of two (see l2Exponent), so nothing overflows or underflows whatever the
	// scale of the embeddings. Neighbours' scores are distances in the embeddings' own units
	// (+Inf where a distance exceeds float32's range).
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
// (see forEachSelfBlock), at the cost of buffers of references x 2k x 8 bytes. L2 ranks copies of
// the queries and references scaled by a common power of two (see L2). The result itself takes
// queries x k x 8 bytes.
func KNN(query, ref Matrix, k int, metric Metric, self bool) (Neighbors, error) {
	return collect(query.Rows, k, candidates(ref.Rows, self), func(fn func(int, Neighbors)) error {
		return forEachBlock(query, ref, k, metric, self, fn)
	})
}

// KNNShard returns, for every query, the k nearest references of one shard of a reference set
// split by rows: ref holds the references refOffset, refOffset+1, ... of the whole set, and the
// neighbours' Index are indices into the whole set. With self, the queries are references of the
// whole set too, query i being reference queryOffset+i, which it never lists. k is capped at
// ref.Rows (ref.Rows-1 when the queries are the shard itself); a query that is in the shard then lists k-1 references and ends in one entry
// of Index -1 (score NaN). Merged across shards, best score first and equal scores by smaller
// index, the lists are KNN's on the whole set: every score is computed from the same two rows
// as KNN computes it (see MergeNeighbors). Cosine scores are those of the embeddings as given:
// L2-normalise them first (Normalize), as Evaluate does. Memory is that of KNN for these
// queries and this shard alone.
func KNNShard(query Matrix, queryOffset int, ref Matrix, refOffset, k int, metric Metric, self bool) (Neighbors, error) {
	ex := exclusion{on: self, offset: queryOffset - refOffset}
	return collect(query.Rows, k, candidates(ref.Rows, ex.same(query, ref)), func(fn func(int, Neighbors)) error {
		return forEachBlockExcluding(query, ref, k, metric, ex, func(q0 int, blk Neighbors) {
			for i, j := range blk.Index {
				if j >= 0 {
					blk.Index[i] = j + int32(refOffset)
				}
			}
			fn(q0, blk)
		})
	})
}

// collect gathers the blocks that run hands to its function into one Neighbors of queries rows
// and depth min(k, candidates).
func collect(queries, k, candidates int, run func(fn func(q0 int, blk Neighbors)) error) (Neighbors, error) {
	nb := Neighbors{Queries: queries}
	err := run(func(q0 int, blk Neighbors) {
		if nb.Index == nil {
			nb.K = blk.K
			nb.Index = make([]int32, queries*blk.K)
			nb.Score = make([]float32, queries*blk.K)
		}
		copy(nb.Index[q0*nb.K:], blk.Index)
		copy(nb.Score[q0*nb.K:], blk.Score)
	})
	if nb.Index == nil {
		nb.K = max(0, min(k, candidates))
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
	if self && query.Rows != ref.Rows {
		return fmt.Errorf("self-retrieval needs the queries to be the references: %d queries, %d references", query.Rows, ref.Rows)
	}
	if self && metric == Cosine && k >= 1 && min(k, ref.Rows-1) <= maxSymmetricK {
		if err := checkPair(query, ref); err != nil {
			return err
		}
		if k = min(k, ref.Rows-1); k >= 1 && query.Rows > 0 {
			forEachSelfBlock(query, k, fn)
		}
		return nil
	}
	return forEachBlockExcluding(query, ref, k, metric, exclusion{on: self}, fn)
}

// checkPair checks that query and ref hold finite values in the same number of columns.
func checkPair(query, ref Matrix) error {
	if err := query.Check("query embeddings"); err != nil {
		return err
	}
	if err := ref.Check("reference embeddings"); err != nil {
		return err
	}
	if query.Cols != ref.Cols {
		return fmt.Errorf("query embeddings have %d dimensions, reference embeddings %d", query.Cols, ref.Cols)
	}
	return nil
}

// forEachBlockExcluding is forEachBlock on the general path, each query skipping the reference
// ex names. k is capped at the references left to a query that skips one of them (self-retrieval)
// or at all of them.
func forEachBlockExcluding(query, ref Matrix, k int, metric Metric, ex exclusion, fn func(q0 int, blk Neighbors)) error {
	if err := checkPair(query, ref); err != nil {
		return err
	}
	if k < 1 {
		return fmt.Errorf("k = %d, want at least 1", k)
	}
	self := ex.same(query, ref)
	k = min(k, candidates(ref.Rows, self))
	if k < 1 || query.Rows == 0 {
		return nil
	}
	unscale := 1.0
	if metric == L2 {
		e := l2Exponent(query, ref)
		query, unscale = query.scaled(e), math.Ldexp(1, -e)
		if self {
			ref = query
		} else {
			ref = ref.scaled(e)
		}
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
		sel.selectRows(sim, n, m, q0, ex, blk.Index, blk.Score)
		if metric == L2 {
			for i := range m {
				for j := range k {
					s := &blk.Score[i*k+j]
					*s = float32(math.Sqrt(float64(max(0, qNorm[q0+i]-*s))) * unscale)
				}
			}
		}
		fn(q0, Neighbors{Queries: m, K: k, Index: blk.Index[:m*k], Score: blk.Score[:m*k]})
	}
	return nil
}

// l2Exponent returns the e for which 2^e times the largest |value| of the matrices lies in
// [2^(top-1), 2^top), top = (122 - bits.Len(cols)) / 2: then every squared norm, inner product
// and squared distance of the scaled rows is at most 4 cols 2^(2 top) <= 2^124, far from
// float32's overflow, and the scale is as large as that allows, so that small differences stay
// above float32's underflow. It is 0 when every value is 0. The matrices have the same columns.
//
// Scaling by 2^e is exact, and the scaled rows depend only on the data up to a power of two:
// matrices that are x and x times 2^j (j such that x times 2^j is exact) scale to the same rows,
// so everything computed from them is the same bit for bit.
func l2Exponent(ms ...Matrix) int {
	largest := 0.0
	for _, m := range ms {
		for _, v := range m.Data {
			largest = max(largest, math.Abs(float64(v)))
		}
	}
	if largest == 0 {
		return 0
	}
	_, exp := math.Frexp(largest) // largest is in [2^(exp-1), 2^exp)
	return (122-bits.Len(uint(ms[0].Cols)))/2 - exp
}

// scaled returns m times 2^e: m itself when e is 0, else a copy. With e from l2Exponent the
// products are exact unless one falls below float32's normal range, which takes a value over
// 2^170 times smaller than the largest (up to a million columns).
func (m Matrix) scaled(e int) Matrix {
	if e == 0 {
		return m
	}
	out := Matrix{Data: make([]float32, len(m.Data)), Rows: m.Rows, Cols: m.Cols}
	f := math.Ldexp(1, e)
	for i, v := range m.Data {
		out.Data[i] = float32(float64(v) * f)
	}
	return out
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
// The norm is computed in float64, so rows of huge or subnormal values normalise too.
func Normalize(m Matrix) Matrix {
	out := Matrix{Data: make([]float32, len(m.Data)), Rows: m.Rows, Cols: m.Cols}
	for i := range m.Rows {
		src, dst := m.Data[i*m.Cols:(i+1)*m.Cols], out.Data[i*m.Cols:(i+1)*m.Cols]
		var ss float64
		for _, v := range src {
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		inv := 1 / math.Sqrt(ss)
		if s := float32(inv); s >= 0x1p-126 && !math.IsInf(float64(s), 0) { // a normal float32
			kernels.Scale(dst, s, src)
			continue
		}
		for j, v := range src {
			dst[j] = float32(float64(v) * inv)
		}
	}
	return out
}
