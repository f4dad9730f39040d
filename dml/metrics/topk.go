package metrics

import (
	"math"
	"sync"
)

// selector picks the k largest scores of every row of a similarity block, in parallel across
// rows on at most workers goroutines, each with its own heap.
type selector struct {
	k     int
	heaps []topK
}

func newSelector(k, workers int) *selector {
	s := &selector{k: k, heaps: make([]topK, max(1, workers))}
	for i := range s.heaps {
		s.heaps[i] = topK{idx: make([]int32, 0, k), score: make([]float32, 0, k)}
	}
	return s
}

// selectRows writes the k best references of each of the m rows of sim (row i is
// sim[i*n:(i+1)*n], the scores of query q0+i) to index and score, best first, equal scores by
// smaller index. With ex.on, reference q0+i+ex.offset is skipped for row i; a row left with
// fewer than k references ends in entries of index -1 and score NaN.
func (s *selector) selectRows(sim []float32, n, m, q0 int, ex exclusion, index []int32, score []float32) {
	workers := min(len(s.heaps), m)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := m*w/workers, m*(w+1)/workers
		wg.Go(func() {
			h := &s.heaps[w]
			for i := lo; i < hi; i++ {
				skip := -1
				if ex.on {
					skip = q0 + i + ex.offset
				}
				h.selectRow(sim[i*n:(i+1)*n], skip, s.k)
				idx, sc := index[i*s.k:(i+1)*s.k], score[i*s.k:(i+1)*s.k]
				for t := len(h.idx); t < s.k; t++ {
					idx[t], sc[t] = -1, float32(math.NaN())
				}
				h.drain(idx, sc)
			}
		})
	}
	wg.Wait()
}

// topK is a binary min-heap of (score, index) pairs whose root is the worst kept pair: the
// lowest score, and among equal scores the largest index.
type topK struct {
	idx   []int32
	score []float32
}

// worse reports whether entry a ranks below entry b.
func (h *topK) worse(a, b int) bool {
	return h.score[a] < h.score[b] || (h.score[a] == h.score[b] && h.idx[a] > h.idx[b])
}

// selectRow fills the heap with the k best entries of row, skipping index skip (-1: none).
// Scanning in index order means a later entry with a score equal to the root's ranks below it,
// so only strictly larger scores enter once the heap is full: a single compare per element.
func (h *topK) selectRow(row []float32, skip, k int) {
	h.idx, h.score = h.idx[:0], h.score[:0]
	j := 0
	for ; j < len(row) && len(h.idx) < k; j++ {
		if j != skip {
			h.idx = append(h.idx, int32(j))
			h.score = append(h.score, row[j])
		}
	}
	for i := len(h.idx)/2 - 1; i >= 0; i-- {
		h.down(i, len(h.idx))
	}
	if len(h.idx) < k {
		return // the row had no more candidates
	}
	thr := h.score[0]
	for ; j < len(row); j++ {
		if row[j] > thr && j != skip {
			h.idx[0], h.score[0] = int32(j), row[j]
			h.down(0, len(h.idx))
			thr = h.score[0]
		}
	}
}

// down restores the heap property below position i in the first n entries.
func (h *topK) down(i, n int) {
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h.worse(c+1, c) {
			c++
		}
		if !h.worse(c, i) {
			return
		}
		h.idx[i], h.idx[c] = h.idx[c], h.idx[i]
		h.score[i], h.score[c] = h.score[c], h.score[i]
		i = c
	}
}

// drain writes the heap's entries best first into index and score (heapsort: the worst is
// popped into the last free slot) and leaves the heap empty.
func (h *topK) drain(index []int32, score []float32) {
	for n := len(h.idx); n > 0; n-- {
		index[n-1], score[n-1] = h.idx[0], h.score[0]
		last := n - 1
		h.idx[0], h.score[0] = h.idx[last], h.score[last]
		h.down(0, last)
	}
	h.idx, h.score = h.idx[:0], h.score[:0]
}

func (h *topK) swap(a, b int) {
	h.idx[a], h.idx[b] = h.idx[b], h.idx[a]
	h.score[a], h.score[b] = h.score[b], h.score[a]
}

// partitionBest reorders the entries (not as a heap) so that the first k (1 <= k <= len) are the
// k best, the k-th best at position k-1: quickselect with a median-of-three pivot. Indices are
// distinct, so the order is strict.
func (h *topK) partitionBest(k int) {
	lo, hi := 0, len(h.idx)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if h.worse(lo, mid) {
			h.swap(lo, mid)
		}
		if h.worse(lo, hi) {
			h.swap(lo, hi)
		}
		if h.worse(mid, hi) {
			h.swap(mid, hi)
		}
		h.swap(mid, hi) // the median of the three is the pivot, at hi
		p := lo
		for i := lo; i < hi; i++ {
			if h.worse(hi, i) {
				h.swap(i, p)
				p++
			}
		}
		h.swap(p, hi)
		switch {
		case p == k-1:
			return
		case p < k-1:
			lo = p + 1
		default:
			hi = p - 1
		}
	}
}

// exclusion says which reference a query row may not list: with on, query q skips reference
// q + offset (self-retrieval: offset 0; a shard of the references: the queries' first global
// index minus the shard's).
type exclusion struct {
	on     bool
	offset int
}

// same reports whether the queries are the references themselves, row for row, each skipping
// its own row.
func (ex exclusion) same(query, ref Matrix) bool {
	return ex.on && ex.offset == 0 && query.Rows == ref.Rows
}
