package metrics

import "slices"

// Neighbor is one reference in a query's list: its index and its score (see Neighbors).
type Neighbor struct {
	Index int32
	Score float32
}

// Better reports whether a ranks before b under the metric: a higher similarity (Cosine) or a
// smaller distance (L2), and for equal scores the smaller index.
func (m Metric) Better(a, b Neighbor) bool {
	if a.Score != b.Score {
		if m == L2 {
			return a.Score < b.Score
		}
		return a.Score > b.Score
	}
	return a.Index < b.Index
}

// MergeNeighbors returns the k best of two lists of one query's neighbours, best first. Each
// list must be best first, as KNNShard gives them; entries of index -1 are dropped. With the
// lists of every shard of a reference set (KNNShard), the result is KNN's list on the whole set
// for cosine. For L2, KNN ranks by the squared distance before its square root, so two
// references whose distances the root rounds to the same float32 may keep KNN's order where
// the merge puts the smaller index first.
func (m Metric) MergeNeighbors(k int, a, b []Neighbor) []Neighbor {
	out := make([]Neighbor, 0, min(k, len(a)+len(b)))
	a, b = valid(a), valid(b)
	for len(out) < k && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || (len(a) > 0 && m.Better(a[0], b[0])) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// valid is l without its entries of index -1, which only end a list.
func valid(l []Neighbor) []Neighbor {
	if i := slices.IndexFunc(l, func(n Neighbor) bool { return n.Index < 0 }); i >= 0 {
		return l[:i]
	}
	return l
}

// List returns query q's neighbours as Neighbor values, entries of index -1 left out.
func (nb Neighbors) List(q int) []Neighbor {
	idx, score := nb.Row(q)
	out := make([]Neighbor, 0, len(idx))
	for j := range idx {
		if idx[j] >= 0 {
			out = append(out, Neighbor{idx[j], score[j]})
		}
	}
	return out
}
