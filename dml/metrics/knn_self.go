package metrics

import (
	"math"
	"slices"
	"sync"

	"github.com/semprox/semprox/kernels"
)

// maxSymmetricK bounds k on the symmetric path, whose buffers for every row (references x 2k x 8
// bytes) then cost no more than the similarity block.
const maxSymmetricK = blockRows / 4

// columnStrip is the number of columns whose buffers the column scan updates together: 128 buffers
// of k = 101 take 200 KB.
const columnStrip = 128

// forEachSelfBlock is forEachBlock for cosine self-retrieval, computing each inner product once:
// the block of queries [q0, q0+m) is multiplied only with references [q0, n). Its rows offer
// their candidates to the buffers of rows q0..q0+m (references q0 and up, in order), and its
// columns beyond the block offer them to the buffers of the later rows (this block's queries, in
// order). Every buffer thus sees its candidates in increasing reference order, so only a score
// strictly above its threshold is admitted and equal scores keep the smaller index. After its block,
// a row has seen every reference: earlier ones from earlier blocks' columns, the rest from its
// own row. Arguments are as forEachBlock's, already checked.
func forEachSelfBlock(x Matrix, k int, fn func(q0 int, blk Neighbors)) {
	n, d := x.Rows, x.Cols
	bufs := newRowBuffers(n, k)
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
					bufs.scanRow(q0+i, sim[i*ld:(i+1)*ld], q0)
				}
				// Strips of columnStrip columns keep their buffers in cache while every row of
				// the block passes. Thresholds only rise, so the strip's lowest one at its start
				// bounds them all: a segment whose maximum does not beat it offers nothing.
				for s0 := c0; s0 < c1; s0 += columnStrip {
					s1 := min(s0+columnStrip, c1)
					floor := slices.Min(bufs.thr[q0+s0 : q0+s1])
					for i := range m {
						if seg := sim[i*ld+s0 : i*ld+s1]; kernels.Max(seg) > floor {
							bufs.scanColumns(seg, q0+s0, int32(q0+i))
						}
					}
				}
			})
		}
		wg.Wait()
		blk.Queries = m
		for i := range m {
			bufs.drain(q0+i, blk.Index[i*k:(i+1)*k], blk.Score[i*k:(i+1)*k])
		}
		fn(q0, Neighbors{Queries: m, K: k, Index: blk.Index[:m*k], Score: blk.Score[:m*k]})
	}
}

// rowBuffers keeps the k best candidates of each of n rows. Each row buffers up to 2k candidates;
// when its buffer fills, a quickselect keeps the k best and their worst score becomes the row's
// admission threshold (-Inf until then). That costs O(1) per admitted candidate where a heap
// costs O(log k), and the candidates still arrive in increasing reference order, so a strictly
// larger score is what admission needs.
type rowBuffers struct {
	k     int
	idx   []int32
	score []float32
	size  []int32
	thr   []float32
}

func newRowBuffers(n, k int) *rowBuffers {
	h := &rowBuffers{k: k, idx: make([]int32, n*2*k), score: make([]float32, n*2*k), size: make([]int32, n), thr: make([]float32, n)}
	for i := range h.thr {
		h.thr[i] = float32(math.Inf(-1))
	}
	return h
}

// entries returns row r's buffered candidates.
func (h *rowBuffers) entries(r int) topK {
	lo, hi := r*2*h.k, r*2*h.k+int(h.size[r])
	return topK{idx: h.idx[lo:hi], score: h.score[lo:hi]}
}

// offer buffers reference j with score s for row r, whose threshold the caller has checked s
// beats.
func (h *rowBuffers) offer(r int, j int32, s float32) {
	at := r*2*h.k + int(h.size[r])
	h.idx[at], h.score[at] = j, s
	h.size[r]++
	if int(h.size[r]) == 2*h.k {
		t := h.entries(r)
		t.partitionBest(h.k)
		h.size[r] = int32(h.k)
		h.thr[r] = t.score[h.k-1]
	}
}

// rowChunk is the number of scores scanRow tests at once by their maximum.
const rowChunk = 256

// scanRow offers row r the scores row[jj] of references j0+jj, skipping r itself. A chunk whose
// maximum does not beat the threshold is skipped whole.
func (h *rowBuffers) scanRow(r int, row []float32, j0 int) {
	for c0 := 0; c0 < len(row); c0 += rowChunk {
		chunk := row[c0:min(c0+rowChunk, len(row))]
		thr := h.thr[r]
		if kernels.Max(chunk) <= thr {
			continue
		}
		for jj, s := range chunk {
			if s > thr && j0+c0+jj != r {
				h.offer(r, int32(j0+c0+jj), s)
				thr = h.thr[r]
			}
		}
	}
}

// scanColumns offers reference j the score seg[jj] to row r0+jj's buffer, for every jj.
func (h *rowBuffers) scanColumns(seg []float32, r0 int, j int32) {
	thr := h.thr[r0 : r0+len(seg)]
	for jj, s := range seg {
		if s > thr[jj] {
			h.offer(r0+jj, j, s)
		}
	}
}

// drain writes row r's k best entries best first into index and score and empties the row.
func (h *rowBuffers) drain(r int, index []int32, score []float32) {
	t := h.entries(r)
	if len(t.idx) > h.k {
		t.partitionBest(h.k)
		t = topK{idx: t.idx[:h.k], score: t.score[:h.k]}
	}
	for i := len(t.idx)/2 - 1; i >= 0; i-- {
		t.down(i, len(t.idx))
	}
	t.drain(index, score)
	h.size[r] = 0
	h.thr[r] = float32(math.Inf(-1))
}
