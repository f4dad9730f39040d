package kernels

import "math"

// runForward computes group g of the query blocks of one head, for task = head*groups + g.
func (r *attentionRun) runForward(worker, task int) {
	w := &r.workers[worker]
	head, g := task/r.groups, task%r.groups
	b, h := head/r.Heads, head%r.Heads
	q0 := r.headOffset(b, h)
	k0, v0 := q0+r.Heads*r.HeadDim, q0+2*r.Heads*r.HeadDim
	r.packKeyPanels(w, w.kT, r.qkv[k0:])
	r.packDimPanels(w, w.vRows, r.qkv[v0:], r.tokenStride, r.Tokens)
	for j := g * r.queryBlocks / r.groups; j < (g+1)*r.queryBlocks/r.groups; j++ {
		r.forwardBlock(w, b, h, j)
	}
	if r.stream {
		fenceStreams()
	}
}

// forwardBlock computes the output rows of query block j of head (b, h): for each block of keys,
// S = scale * q k^T (rows x bk), an online-softmax step per row, then acc = acc*corr + P v; at the
// end out = acc / sum and lse = max + log(sum).
func (r *attentionRun) forwardBlock(w *attentionScratch, b, h, j int) {
	kern, dh, steps := r.kern, r.HeadDim, r.dhSteps
	i0, rows := r.queryBlock(j)
	strips := ceilDiv(rows, kern.mr)
	r.loadRows(w.q, r.qkv[r.headOffset(b, h):], r.tokenStride, r.queryFrom+i0, rows)
	for kb0 := 0; kb0 < r.Tokens; kb0 += r.keyBlock {
		bk := r.keyCount(kb0)
		kern.tiles(strips, ceilDiv(bk, kern.nr), steps, r.scale, w.q, steps, 1, w.kT[kb0*steps:], steps*kern.nr, 0, w.scores, r.ldS)
		first := kb0 == 0
		for i := range rows {
			r.softmaxStep(w, i, bk, first)
		}
		beta := float32(1)
		if first {
			beta = 0
		}
		p, depth := r.rowOperand(w, w.scores, strips*kern.mr, bk)
		kern.tiles(strips, r.dimPanels, depth, 1, p, r.ldS, 1, w.vRows[r.pairOffset(kb0):], r.pairOffset(r.Tokens), beta, w.acc, r.dhPad)
	}
	outStride := r.Heads * dh
	out := r.out[r.outOffset(b, h):]
	lse := r.lse[r.lseOffset(b, h):]
	for i := range rows {
		sum := w.rowSum[i]
		acc := w.acc[i*r.dhPad : i*r.dhPad+dh]
		dst := out[(i0+i)*outStride : (i0+i)*outStride+dh]
		if r.stream {
			Scale(acc, 1/sum, acc)
			storeRow(dst, acc, true)
		} else {
			Scale(dst, 1/sum, acc)
		}
		lse[i0+i] = w.rowMax[i] + float32(math.Log(float64(sum)))
	}
}

// softmaxStep turns row i of the block's scores (bk keys) into exp(s - max) under the running max
// of the row, and folds the block into the running sum. When the max grows, the row's sum and
// output accumulator are rescaled by exp(oldMax - newMax) first.
func (r *attentionRun) softmaxStep(w *attentionScratch, i, bk int, first bool) {
	row := w.scores[i*r.ldS : i*r.ldS+bk]
	m := Max(row)
	if first {
		w.rowMax[i], w.rowSum[i] = m, ExpSum(row, row, m)
		return
	}
	old := w.rowMax[i]
	if old >= m {
		w.rowSum[i] += ExpSum(row, row, old)
		return
	}
	corr := float32(math.Exp(float64(old - m)))
	acc := w.acc[i*r.dhPad : (i+1)*r.dhPad]
	Scale(acc, corr, acc)
	w.rowMax[i], w.rowSum[i] = m, w.rowSum[i]*corr+ExpSum(row, row, m)
}
