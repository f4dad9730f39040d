package metrics

import (
	"math"
	"sync"

	"github.com/semprox/semprox/kernels"
)

// maxSymmetricK bounds k on the symmetric path, whose heaps for every row (references x k x 8
// bytes) then cost no more than the similarity block.
const maxSymmetricK = blockRows / 2

// columnStrip is the number of columns whose heaps the column scan updates together: 128 heaps
// of k = 101 take 100 KB.
const columnStrip = 128

// forEachSelfBlock is forEachBlock for cosine self-retrieval, computing each inner product once:
// the block of queries [q0, q0+m) is multiplied only with references [q0, n). Its rows offer
// their candidates to the heaps of rows q0..q0+m (references q0 and up, in order), and its
// columns beyond the block offer them to the heaps of the later rows (this block's queries, in
// order). Every heap thus sees its candidates in increasing reference order, so only a strictly
// larger score displaces its worst entry and equal scores keep the smaller index. After its block,
// a row has seen every reference: earlier ones from earlier blocks' columns, the rest from its
// own row. Arguments are as forEachBlock's, already checked.
func forEachSelfBlock(x Matrix, k int, fn func(q0 int, blk Neighbors)) {
	n, d := x.Rows, x.Cols
	heaps := newRowHeaps(n, k)
	rows := min(blockRows, n)
	sim := make([]float32, rows*n)
	blk := Neighbors{K: k, Index: make([]int32, rows*k), Score: make([]float32, rows*k)}
	workers := kernels.Threads()
	for q0 := 0; q0 < n; q0 += rows {
		m, ld := min(rows, n-q0), n-q0
		kernels.Sgemm(false, true, m, ld, d, 1, x.Data[q0*d:], d, x.Data[q0*d:], d, 0, sim, ld)
		var wg sync.WaitGroup
		for w := range workers {
			r0, r1 := m*w/workers, m*(w+1)/workers
			c0, c1 := m+(ld-m)*w/workers, m+(ld-m)*(w+1)/workers
			wg.Go(func() {
				for i := r0; i < r1; i++ {
					heaps.scanRow(q0+i, sim[i*ld:(i+1)*ld], q0)
				}
				// Strips of columnStrip columns keep their heaps in cache while every row of
				// the block passes.
				for s0 := c0; s0 < c1; s0 += columnStrip {
					s1 := min(s0+columnStrip, c1)
					for i := range m {
						heaps.scanColumns(sim[i*ld+s0:i*ld+s1], q0+s0, int32(q0+i))
					}
				}
			})
		}
		wg.Wait()
		blk.Queries = m
		for i := range m {
			heaps.drain(q0+i, blk.Index[i*k:(i+1)*k], blk.Score[i*k:(i+1)*k])
		}
		fn(q0, Neighbors{Queries: m, K: k, Index: blk.Index[:m*k], Score: blk.Score[:m*k]})
	}
}

// rowHeaps holds a topK heap of capacity k for each of n rows in shared storage, with each
// heap's admission threshold: -Inf until the heap is full, then its worst score.
type rowHeaps struct {
	k     int
	idx   []int32
	score []float32
	size  []int32
	thr   []float32
}

func newRowHeaps(n, k int) *rowHeaps {
	h := &rowHeaps{k: k, idx: make([]int32, n*k), score: make([]float32, n*k), size: make([]int32, n), thr: make([]float32, n)}
	for i := range h.thr {
		h.thr[i] = float32(math.Inf(-1))
	}
	return h
}

// heap returns row r's heap with its current entries.
func (h *rowHeaps) heap(r int) topK {
	lo, hi := r*h.k, r*h.k+int(h.size[r])
	return topK{idx: h.idx[lo:hi], score: h.score[lo:hi]}
}

// offer adds reference j with score s to row r's heap: appended while the heap has room,
// otherwise in place of the worst entry, which the caller has checked s beats.
func (h *rowHeaps) offer(r int, j int32, s float32) {
	size := int(h.size[r])
	if size < h.k {
		h.size[r]++
		t := h.heap(r)
		t.idx[size], t.score[size] = j, s
		t.up(size)
		if size+1 == h.k {
			h.thr[r] = t.score[0]
		}
		return
	}
	t := h.heap(r)
	t.idx[0], t.score[0] = j, s
	t.down(0, size)
	h.thr[r] = t.score[0]
}

// scanRow offers row r the scores row[jj] of references j0+jj, skipping r itself.
func (h *rowHeaps) scanRow(r int, row []float32, j0 int) {
	thr := h.thr[r]
	for jj, s := range row {
		if s > thr && j0+jj != r {
			h.offer(r, int32(j0+jj), s)
			thr = h.thr[r]
		}
	}
}

// scanColumns offers reference j the score seg[jj] to row r0+jj's heap, for every jj.
func (h *rowHeaps) scanColumns(seg []float32, r0 int, j int32) {
	thr := h.thr[r0 : r0+len(seg)]
	for jj, s := range seg {
		if s > thr[jj] {
			h.offer(r0+jj, j, s)
		}
	}
}

// drain writes row r's entries best first into index and score and empties its heap.
func (h *rowHeaps) drain(r int, index []int32, score []float32) {
	t := h.heap(r)
	t.drain(index, score)
	h.size[r] = 0
	h.thr[r] = float32(math.Inf(-1))
}
