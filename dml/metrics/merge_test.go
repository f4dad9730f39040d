package metrics

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// quantized returns a rows x cols matrix of small integers, so that many scores tie.
func quantized(rng *rand.Rand, rows, cols int) Matrix {
	m := Matrix{Data: make([]float32, rows*cols), Rows: rows, Cols: cols}
	for i := range m.Data {
		m.Data[i] = float32(rng.IntN(3) - 1)
	}
	return m
}

// shardedKNN merges KNNShard's lists over the references split at the given row boundaries.
func shardedKNN(t *testing.T, query Matrix, q0 int, ref Matrix, bounds []int, k int, metric Metric, self bool) [][]Neighbor {
	t.Helper()
	merged := make([][]Neighbor, query.Rows)
	for s := 0; s+1 < len(bounds); s++ {
		lo, hi := bounds[s], bounds[s+1]
		shard := Matrix{Data: ref.Data[lo*ref.Cols : hi*ref.Cols], Rows: hi - lo, Cols: ref.Cols}
		nb, err := KNNShard(query, q0, shard, lo, k, metric, self)
		if err != nil {
			t.Fatal(err)
		}
		for q := range query.Rows {
			merged[q] = metric.MergeNeighbors(k, merged[q], nb.List(q))
		}
	}
	return merged
}

// Merging the shards' lists gives KNN's lists on the whole set, bit for bit, for any split
// (shards smaller than k, of one row, uneven), with and without self, for many ties.
func TestKNNShardMergeIsKNN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ n, q, d, k int }{{1, 1, 1, 1}, {2, 2, 3, 1}, {7, 5, 3, 4}, {31, 31, 5, 9}, {64, 17, 7, 40}, {200, 200, 13, 150}} {
		for _, metric := range []Metric{Cosine, L2} {
			for _, self := range []bool{false, true} {
				ref := quantized(rng, tc.n, tc.d)
				query, q0 := quantized(rng, tc.q, tc.d), 0
				if self {
					// the queries are a block of the references, from row q0
					q0 = rng.IntN(tc.n - min(tc.q, tc.n) + 1)
					query = Matrix{Data: ref.Data[q0*tc.d : (q0+min(tc.q, tc.n))*tc.d], Rows: min(tc.q, tc.n), Cols: tc.d}
				}
				if metric == Cosine {
					query, ref = Normalize(query), Normalize(ref)
					if self {
						query = Matrix{Data: ref.Data[q0*tc.d : (q0+query.Rows)*tc.d], Rows: query.Rows, Cols: tc.d}
					}
				}
				want := wholeKNN(t, query, q0, ref, tc.k, metric, self)
				for _, bounds := range splits(rng, tc.n) {
					got := shardedKNN(t, query, q0, ref, bounds, tc.k, metric, self)
					for q := range query.Rows {
						if !slices.Equal(got[q], want[q]) {
							t.Fatalf("%+v %v self=%v shards %v: query %d: %v, want %v", tc, metric, self, bounds, q, got[q], want[q])
						}
					}
				}
			}
		}
	}
}

// wholeKNN is KNN's lists for queries that are rows q0.. of ref under self.
func wholeKNN(t *testing.T, query Matrix, q0 int, ref Matrix, k int, metric Metric, self bool) [][]Neighbor {
	t.Helper()
	q := query
	if self {
		q = ref
	}
	nb, err := KNN(q, ref, k, metric, self)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]Neighbor, query.Rows)
	for i := range out {
		if self {
			out[i] = nb.List(q0 + i)
		} else {
			out[i] = nb.List(i)
		}
	}
	return out
}

// splits returns row boundaries of n rows: one shard, one row each, and random cuts.
func splits(rng *rand.Rand, n int) [][]int {
	ones := make([]int, n+1)
	for i := range ones {
		ones[i] = i
	}
	out := [][]int{{0, n}, ones}
	for range 3 {
		b := []int{0}
		for b[len(b)-1] < n {
			b = append(b, min(n, b[len(b)-1]+1+rng.IntN(max(1, n/3))))
		}
		out = append(out, b)
	}
	return out
}

func TestMergeNeighbors(t *testing.T) {
	a := []Neighbor{{4, 0.9}, {1, 0.5}, {-1, 0}}
	b := []Neighbor{{2, 0.9}, {3, 0.5}, {0, 0.1}}
	got := Cosine.MergeNeighbors(4, a, b)
	want := []Neighbor{{2, 0.9}, {4, 0.9}, {1, 0.5}, {3, 0.5}}
	if !slices.Equal(got, want) {
		t.Errorf("cosine: %v, want %v", got, want)
	}
	got = L2.MergeNeighbors(10, []Neighbor{{5, 1}, {6, 2}}, []Neighbor{{1, 2}, {-1, 0}})
	want = []Neighbor{{5, 1}, {1, 2}, {6, 2}}
	if !slices.Equal(got, want) {
		t.Errorf("l2: %v, want %v", got, want)
	}
}
