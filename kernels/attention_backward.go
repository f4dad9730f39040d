package kernels

// runBackward computes the gradient of one head (b, h) = (head / H, head % H): k and v are packed
// once, then every query block runs over every key block, accumulating dq for the block and dk,
// dv for the whole head. dq of the tokens that are not queries is zero.
func (r *attentionRun) runBackward(worker, head int) {
	w := &r.workers[worker]
	kern, n, dh := r.kern, r.Tokens, r.HeadDim
	b, h := head/r.Heads, head%r.Heads
	q0 := r.headOffset(b, h)
	k0, v0 := q0+r.Heads*dh, q0+2*r.Heads*dh
	o0, outStride := r.outOffset(b, h), r.Heads*dh
	r.packKeyPanels(w, w.kT, r.qkv[k0:])
	r.packKeyPanels(w, w.vT, r.qkv[v0:])
	r.packDimPanels(w, w.kRows, r.qkv[k0:], r.tokenStride, n)
	r.packDimPanels(w, w.qRows, r.qkv[q0+r.queryFrom*r.tokenStride:], r.tokenStride, r.queries)
	r.packDimPanels(w, w.dRows, r.dout[o0:], outStride, r.queries)
	if r.out != nil {
		for i := range r.queries {
			at := o0 + i*outStride
			w.delta[i] = Dot(r.dout[at:at+dh], r.out[at:at+dh])
		}
	}
	clear(w.dK[:(n+kern.mr)*r.dhPad])
	clear(w.dV[:(n+kern.mr)*r.dhPad])
	for j := range r.queryBlocks {
		r.backwardBlock(w, b, h, j)
	}
	for t := range n {
		storeRow(r.dqkv[k0+t*r.tokenStride:], w.dK[t*r.dhPad:t*r.dhPad+dh], r.stream)
		storeRow(r.dqkv[v0+t*r.tokenStride:], w.dV[t*r.dhPad:t*r.dhPad+dh], r.stream)
		if t < r.queryFrom || t >= r.queryFrom+r.queries {
			clear(r.dqkv[q0+t*r.tokenStride:][:dh])
		}
	}
	if r.stream {
		fenceStreams()
	}
}

// backwardBlock handles query block j of head (b, h). Per block of keys, with P = exp(scale q k^T
// - lse) recomputed:
//
//	dv[keys] += P^T dout      dP = dout v^T      dS = P * (dP - delta)
//	dq       += scale dS k    dk[keys] += scale dS^T q
//
// Products over keys run in strips of mr keys through P^T and dS^T read in place (A with unit row
// stride); the columns of P and dS past the block's keys are zeroed so those strips add nothing to
// the next block's keys.
func (r *attentionRun) backwardBlock(w *attentionScratch, b, h, j int) {
	kern, n, nq := r.kern, r.Tokens, r.queries
	i0, rows := r.queryBlock(j)
	strips := ceilDiv(rows, kern.mr)
	q0 := r.headOffset(b, h)
	r.loadRows(w.q, r.qkv[q0:], r.tokenStride, r.queryFrom+i0, rows)
	r.loadRows(w.dOut, r.dout[r.outOffset(b, h):], r.Heads*r.HeadDim, i0, rows)
	lse := r.lse[r.lseOffset(b, h)+i0:]
	delta := w.delta[i0 : i0+rows]
	oneBlock := n <= r.keyBlock
	if r.out == nil && !oneBlock {
		clear(delta)
		for kb0 := 0; kb0 < n; kb0 += r.keyBlock {
			bk, _ := r.probabilitiesAndDP(w, lse, kb0, rows, strips)
			for i := range rows {
				delta[i] += Dot(w.scores[i*r.ldS:i*r.ldS+bk], w.dP[i*r.ldS:i*r.ldS+bk])
			}
		}
	}
	for kb0 := 0; kb0 < n; kb0 += r.keyBlock {
		bk, cover := r.probabilitiesAndDP(w, lse, kb0, rows, strips)
		keyStrips := ceilDiv(bk, kern.mr)
		if r.out == nil && oneBlock {
			for i := range rows {
				delta[i] = Dot(w.scores[i*r.ldS:i*r.ldS+bk], w.dP[i*r.ldS:i*r.ldS+bk])
			}
		}
		pT, depth := r.colOperand(w, w.scores, rows, keyStrips*kern.mr)
		kern.tiles(keyStrips, r.dimPanels, depth, 1, pT, 1, r.ldS, w.dRows[r.pairOffset(i0):], r.pairOffset(nq), 1, w.dV[kb0*r.dhPad:], r.dhPad)
		for i := range rows {
			p := w.scores[i*r.ldS : i*r.ldS+bk]
			ds := w.dP[i*r.ldS : i*r.ldS+cover]
			d := delta[i]
			for c, pc := range p {
				ds[c] = pc * (ds[c] - d)
			}
			clear(ds[bk:])
		}
		beta := float32(1)
		if kb0 == 0 {
			beta = 0
		}
		ds, depth := r.rowOperand(w, w.dP, strips*kern.mr, bk)
		kern.tiles(strips, r.dimPanels, depth, r.scale, ds, r.ldS, 1, w.kRows[r.pairOffset(kb0):], r.pairOffset(n), beta, w.acc, r.dhPad)
		dsT, depth := r.colOperand(w, w.dP, rows, keyStrips*kern.mr)
		kern.tiles(keyStrips, r.dimPanels, depth, r.scale, dsT, 1, r.ldS, w.qRows[r.pairOffset(i0):], r.pairOffset(nq), 1, w.dK[kb0*r.dhPad:], r.dhPad)
	}
	for i := range rows {
		storeRow(r.dqkv[q0+(r.queryFrom+i0+i)*r.tokenStride:], w.acc[i*r.dhPad:i*r.dhPad+r.HeadDim], r.stream)
	}
}

// probabilitiesAndDP recomputes, for the query block's rows and the key block at kb0, the
// probabilities P = exp(scale q k^T - lse) into w.scores, with zeros past the block's keys up to
// the strips and panels that read them, and dP = dout v^T into w.dP. It returns the block's key
// count and that covered width (whole panels of nr and strips of mr keys).
func (r *attentionRun) probabilitiesAndDP(w *attentionScratch, lse []float32, kb0, rows, strips int) (bk, cover int) {
	kern, steps, nr := r.kern, r.dhSteps, r.kern.nr
	bk = r.keyCount(kb0)
	keyPanels := ceilDiv(bk, nr)
	cover = max(keyPanels*nr, ceilDiv(bk, kern.mr)*kern.mr)
	kern.tiles(strips, keyPanels, steps, r.scale, w.q, steps, 1, w.kT[kb0*steps:], steps*nr, 0, w.scores, r.ldS)
	for i := range rows {
		p := w.scores[i*r.ldS : i*r.ldS+cover]
		ExpSum(p[:bk], p[:bk], lse[i])
		clear(p[bk:])
	}
	kern.tiles(strips, keyPanels, steps, 1, w.dOut, steps, 1, w.vT[kb0*steps:], steps*nr, 0, w.dP, r.ldS)
	return bk, cover
}
