package kernels

import (
	"fmt"
	"math"
	"sync"
)

// AttentionShape is the geometry of multi-head self-attention over Batch sequences of Tokens
// tokens, with Heads heads of HeadDim values each. Every token is a key and a value; the query
// rows are tokens QueryFrom..QueryTo-1, or every token when QueryTo is 0. A caller that keeps
// only some tokens' outputs (prompt tokens dropped after a block, the class token alone after
// the last one) computes just those rows.
//
// Precision is the number format of the products: FP32, or BF16 for q k^T, P v and the four
// products of the backward pass taken with operands rounded to bf16 and summed in float32, as
// the bf16 frozen linear layers are. Softmax, its statistics, the accumulators and every result
// stay float32.
type AttentionShape struct {
	Batch, Tokens, Heads, HeadDim int
	QueryFrom, QueryTo            int
	Precision                     Precision
}

// The tensors of fused attention, for a shape (B, N, H, dh) with Q query rows:
//
//	qkv  [B, N, 3, H, dh]  the qkv projection's output as it comes: q, k, v of every head per token
//	out  [B, Q, H*dh]      softmax(q k^T / sqrt(dh)) v of every head for the query rows, heads side by side
//	lse  [B, H, Q]         the log-sum-exp of every query row of scaled scores, saved for backward
//	dqkv [B, N, 3, H, dh]  the gradient with respect to qkv (zero for q of tokens that are not queries)
//	dout [B, Q, H*dh]      the gradient with respect to out

func (s AttentionShape) String() string {
	q0, q1 := s.queryRows()
	return fmt.Sprintf("B=%d,N=%d,H=%d,dh=%d,queries=%d:%d,%v", s.Batch, s.Tokens, s.Heads, s.HeadDim, q0, q1, s.Precision)
}

// queryRows returns the first query row and the row after the last.
func (s AttentionShape) queryRows() (from, to int) {
	if s.QueryTo == 0 {
		return 0, s.Tokens
	}
	return s.QueryFrom, s.QueryTo
}

// Queries is the number of query rows Q.
func (s AttentionShape) Queries() int {
	from, to := s.queryRows()
	return to - from
}

func (s AttentionShape) qkvLen() int { return s.Batch * s.Tokens * 3 * s.Heads * s.HeadDim }
func (s AttentionShape) outLen() int { return s.Batch * s.Queries() * s.Heads * s.HeadDim }
func (s AttentionShape) lseLen() int { return s.Batch * s.Heads * s.Queries() }

// check panics unless the shape is valid and every named slice holds want elements.
func (s AttentionShape) check(fn string, slices ...namedSlice) {
	if s.Batch < 0 || s.Tokens < 0 || s.Heads < 0 || s.HeadDim < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size in %v", fn, s))
	}
	if from, to := s.queryRows(); from < 0 || from > to || to > s.Tokens {
		panic(fmt.Sprintf("kernels: %s: query rows %d:%d outside the %d tokens", fn, s.QueryFrom, s.QueryTo, s.Tokens))
	}
	if s.Precision != FP32 && s.Precision != BF16 {
		panic(fmt.Sprintf("kernels: %s: unknown precision %v", fn, s.Precision))
	}
	for _, sl := range slices {
		if len(sl.s) < sl.want {
			panic(fmt.Sprintf("kernels: %s: len(%s) = %d, want at least %d for %v", fn, sl.name, len(sl.s), sl.want, s))
		}
	}
}

type namedSlice struct {
	name string
	s    []float32
	want int
}

// attentionKeyBlock is the number of keys per block of the online softmax (rounded up to a
// multiple of the kernel's nr, and of 2*nr for bf16 so that blocks start on a pair of keys).
// Tests lower it to run many blocks on small inputs.
var attentionKeyBlock = 256

// attentionQueryStrips is the most strips of mr query rows in one query block.
const attentionQueryStrips = 5

// AttentionForward computes out = softmax(q k^T * dh^-0.5) v for every batch and head, reading
// q, k and v in place from qkv, and saves the log-sum-exp of every row of scores in lse.
// It works flash style: per query block it runs over blocks of keys with an online softmax and
// never holds more than one block of scores. Work is split over (batch, head) and query blocks.
// out and lse must not overlap qkv. Short slices or negative sizes panic.
func AttentionForward(out, lse, qkv []float32, s AttentionShape) {
	s.check("AttentionForward", namedSlice{"qkv", qkv, s.qkvLen()}, namedSlice{"out", out, s.outLen()}, namedSlice{"lse", lse, s.lseLen()})
	if s.outLen() == 0 {
		return
	}
	p := pool()
	r := getAttentionRun(s, p.Size())
	defer putAttentionRun(r)
	r.out, r.lse, r.qkv = out, lse, qkv
	r.stream = 4*s.outLen() >= streamThreshold
	heads := s.Batch * s.Heads
	// Split heads into groups of query blocks only when there are too few heads to go round.
	r.groups = min(r.queryBlocks, max(1, ceilDiv(4*p.Size(), heads)))
	p.Run(heads*r.groups, r.forwardTask)
}

// AttentionBackward computes dqkv, the gradient of AttentionForward's out with respect to qkv,
// from dout, the forward's out and lse, and qkv. Probabilities are recomputed block by block from
// lse. Work is split over (batch, head). dqkv is overwritten, zeros included, and must not overlap
// the inputs.
//
// out may be nil, so that a caller need not keep the forward's output: the row sums
// delta_i = sum_j P_ij dP_ij that it serves for (dout_i . out_i) are then taken from the
// recomputed probabilities, at no cost when all tokens fit one key block (256 tokens) and for
// one more pass over the keys otherwise.
func AttentionBackward(dqkv, dout, out, lse, qkv []float32, s AttentionShape) {
	outLen := s.outLen()
	if out == nil {
		outLen = 0
	}
	s.check("AttentionBackward", namedSlice{"qkv", qkv, s.qkvLen()}, namedSlice{"out", out, outLen},
		namedSlice{"lse", lse, s.lseLen()}, namedSlice{"dout", dout, s.outLen()}, namedSlice{"dqkv", dqkv, s.qkvLen()})
	if s.outLen() == 0 {
		clear(dqkv[:s.qkvLen()])
		return
	}
	p := pool()
	r := getAttentionRun(s, p.Size())
	defer putAttentionRun(r)
	r.out, r.lse, r.qkv, r.dout, r.dqkv = out, lse, qkv, dout, dqkv
	r.stream = 4*s.qkvLen() >= streamThreshold
	p.Run(s.Batch*s.Heads, r.backwardTask)
}

// attentionRun is the state of one call: the geometry, its blocking and per-worker scratch.
// Runs are pooled so that a warm call allocates nothing.
type attentionRun struct {
	AttentionShape
	kern  gemmKernel
	scale float32

	queryFrom   int // the first query row
	queries     int // query rows Q
	tokenStride int // elements between tokens in qkv: 3*H*dh
	dhSteps     int // the kernel's steps along dh: dh, or dh/2 rounded up in pairs for bf16
	dhPad       int // HeadDim rounded up to a multiple of nr
	keyPanels   int // panels of nr keys covering all tokens
	dimPanels   int // panels of nr head dimensions
	keyBlock    int // keys per block, a multiple of nr
	ldS         int // row stride of a block of scores
	strips      int // strips of mr query rows covering all queries
	queryBlocks int
	groups      int  // forward tasks per head
	stream      bool // write results with non-temporal stores (they are large)

	out, lse, qkv, dout, dqkv []float32
	workers                   []attentionScratch
	forwardTask               func(worker, task int)
	backwardTask              func(worker, task int)
}

// attentionScratch is one worker's memory. Query-block buffers hold up to
// attentionQueryStrips*mr rows; packed operands and key accumulators cover every token. In
// bf16 the packed operands and q, dout hold pairs along the products' depth (see gemmKernel's
// pairs), and the products' left operands made from scores are rounded into rowPairs and
// colPairs.
type attentionScratch struct {
	q, dOut      []float32 // a query block of q and of dout, rows of dhSteps, zero padded rows
	scores, dP   []float32 // [rows, ldS] scores then probabilities; dP then dS
	rowPairs     []float32 // bf16: [rows, ldS] P or dS in pairs along each row (keys)
	colPairs     []float32 // bf16: [rows/2, ldS] P or dS in pairs down each column (query rows)
	panel        []float32 // bf16: one panel in float32 before it is rounded to pairs
	acc          []float32 // [rows, dhPad] the output or dq accumulator
	rowMax       []float32 // running max of each query row
	rowSum       []float32 // running sum of each query row
	kT, vT       []float32 // k and v of the head packed as key panels of dh x nr (op(B) = k^T)
	kRows, vRows []float32 // k and v packed as dimension panels of N x nr (op(B) = k)
	qRows, dRows []float32 // q and dout of the query rows packed as dimension panels of Q x nr
	dK, dV       []float32 // [N+mr, dhPad] key gradient accumulators
	delta        []float32 // rowsum(dout * out) of every query row
}

var attentionRuns sync.Pool

func getAttentionRun(s AttentionShape, workers int) *attentionRun {
	r, _ := attentionRuns.Get().(*attentionRun)
	if r == nil {
		r = &attentionRun{}
		r.forwardTask = r.runForward
		r.backwardTask = r.runBackward
	}
	kern := sgemmKernelFor(active)
	if s.Precision == BF16 {
		kern = bf16GemmKernelFor(active)
	}
	mr, nr, n, dh := kern.mr, kern.nr, s.Tokens, s.HeadDim
	r.AttentionShape, r.kern = s, kern
	from, to := s.queryRows()
	r.queryFrom, r.queries = from, to-from
	r.scale = float32(1 / math.Sqrt(float64(dh)))
	r.tokenStride = 3 * s.Heads * dh
	r.dhSteps = kern.steps(dh)
	r.dhPad = roundUp(dh, nr)
	r.keyPanels, r.dimPanels = ceilDiv(n, nr), r.dhPad/nr
	blockUnit := nr
	if kern.pairs {
		blockUnit = 2 * nr
	}
	r.keyBlock = min(roundUp(attentionKeyBlock, blockUnit), r.keyPanels*nr)
	r.ldS = stripCopyStride(r.keyBlock + mr)
	r.strips = ceilDiv(r.queries, mr)
	r.queryBlocks = ceilDiv(r.strips, attentionQueryStrips)
	rows := ceilDiv(r.strips, r.queryBlocks) * mr
	for len(r.workers) < workers {
		r.workers = append(r.workers, attentionScratch{})
	}
	for i := range r.workers[:workers] {
		w := &r.workers[i]
		w.q = growAligned(w.q, rows*dh)
		w.dOut = growAligned(w.dOut, rows*dh)
		w.scores = growAligned(w.scores, rows*r.ldS)
		w.dP = growAligned(w.dP, rows*r.ldS)
		w.acc = growAligned(w.acc, rows*r.dhPad)
		w.rowMax = growAligned(w.rowMax, rows)
		w.rowSum = growAligned(w.rowSum, rows)
		w.kT = growAligned(w.kT, r.keyPanels*nr*dh)
		w.vT = growAligned(w.vT, r.keyPanels*nr*dh)
		w.kRows = growAligned(w.kRows, r.dimPanels*nr*n)
		w.vRows = growAligned(w.vRows, r.dimPanels*nr*n)
		w.qRows = growAligned(w.qRows, r.dimPanels*nr*r.queries)
		w.dRows = growAligned(w.dRows, r.dimPanels*nr*r.queries)
		w.dK = growAligned(w.dK, (n+mr)*r.dhPad)
		w.dV = growAligned(w.dV, (n+mr)*r.dhPad)
		w.delta = growAligned(w.delta, r.queries)
		if kern.pairs {
			w.rowPairs = growAligned(w.rowPairs, rows*r.ldS)
			w.colPairs = growAligned(w.colPairs, ceilDiv(rows, 2)*r.ldS)
			w.panel = growAligned(w.panel, nr*max(dh, n, r.queries))
		}
	}
	return r
}

func putAttentionRun(r *attentionRun) {
	r.out, r.lse, r.qkv, r.dout, r.dqkv = nil, nil, nil, nil, nil
	attentionRuns.Put(r)
}

// queryBlock returns the first row, counted from the first query row, and the row count of
// query block j; blocks hold whole strips.
func (r *attentionRun) queryBlock(j int) (i0, rows int) {
	lo, hi := j*r.strips/r.queryBlocks, (j+1)*r.strips/r.queryBlocks
	i0 = lo * r.kern.mr
	return i0, min(hi*r.kern.mr, r.queries) - i0
}

// keyBlock returns the key count of the block starting at key kb0.
func (r *attentionRun) keyCount(kb0 int) int { return min(r.keyBlock, r.Tokens-kb0) }

// headOffset is the offset in qkv (and dqkv) of q for token 0 of head h in batch b; k and v of the
// same head follow at +H*dh and +2*H*dh.
func (r *attentionRun) headOffset(b, h int) int {
	return b*r.Tokens*r.tokenStride + h*r.HeadDim
}

// outOffset is the offset in out (and dout) of query row 0 of head h in batch b; rows are H*dh
// apart.
func (r *attentionRun) outOffset(b, h int) int {
	return (b*r.queries*r.Heads + h) * r.HeadDim
}

// lseOffset is the offset in lse of query row 0 of head h in batch b.
func (r *attentionRun) lseOffset(b, h int) int { return (b*r.Heads + h) * r.queries }

// packKeyPanels packs src's dh values of every token (tokens tokenStride apart) as panels of nr
// tokens, each dhSteps x nr: op(B) = src^T, the right operand of q k^T.
func (r *attentionRun) packKeyPanels(w *attentionScratch, dst, src []float32) {
	nr, n := r.kern.nr, r.Tokens
	for q := range r.keyPanels {
		r.packPanel(w, dst[q*r.dhSteps*nr:], src, r.tokenStride, true, r.HeadDim, q*nr, min(nr, n-q*nr))
	}
}

// packDimPanels packs src's dh values of n rows (ld apart) as panels of nr dimensions, each
// steps(n) x nr: op(B) = src, the right operand of p v. Panel q starts at q*steps(n)*nr.
func (r *attentionRun) packDimPanels(w *attentionScratch, dst, src []float32, ld, n int) {
	nr := r.kern.nr
	for q := range r.dimPanels {
		r.packPanel(w, dst[q*r.kern.steps(n)*nr:], src, ld, false, n, q*nr, min(nr, r.HeadDim-q*nr))
	}
}

// packPanel packs one panel of op(B) (depth rows, columns j0..j0+cols-1) for the kernel: as it
// is in float32, through w.panel and rounded to pairs down its columns in bf16.
func (r *attentionRun) packPanel(w *attentionScratch, dst, src []float32, ld int, trans bool, depth, j0, cols int) {
	nr := r.kern.nr
	if !r.kern.pairs {
		packPanel(dst, src, ld, trans, 0, depth, j0, cols, nr)
		return
	}
	packPanel(w.panel, src, ld, trans, 0, depth, j0, cols, nr)
	roundColumnPairs(dst, nr, w.panel, nr, depth, nr)
}

// loadRows copies rows i0..i0+rows-1 of src (ld apart, dh values each) into dst as rows of
// dhSteps (in bf16 pairs) and zeroes the padding rows up to the block's whole strips.
func (r *attentionRun) loadRows(dst, src []float32, ld, i0, rows int) {
	dh, steps := r.HeadDim, r.dhSteps
	for i := range rows {
		row := src[(i0+i)*ld : (i0+i)*ld+dh]
		if r.kern.pairs {
			roundToPairs(dst[i*steps:(i+1)*steps], row)
		} else {
			copy(dst[i*dh:(i+1)*dh], row)
		}
	}
	clear(dst[rows*steps : roundUp(rows, r.kern.mr)*steps])
}

// rowOperand returns the left operand of a product whose depth runs along the rows of m
// ([rows, ldS], cols values each): m itself in fp32, in bf16 m rounded to pairs along its rows
// into w.rowPairs; and the kernel's depth in steps. Rows are ldS apart either way.
func (r *attentionRun) rowOperand(w *attentionScratch, m []float32, rows, cols int) ([]float32, int) {
	if !r.kern.pairs {
		return m, cols
	}
	steps := r.kern.steps(cols)
	for i := range rows {
		roundToPairs(w.rowPairs[i*r.ldS:i*r.ldS+steps], m[i*r.ldS:i*r.ldS+cols])
	}
	return w.rowPairs, steps
}

// colOperand returns the left operand of a product with m^T ([rows, ldS], cols values each),
// whose depth runs down m's columns: m itself in fp32, in bf16 m rounded to pairs down its
// columns into w.colPairs; and the kernel's depth in steps. A[c, p] is at c + p*ldS either way.
func (r *attentionRun) colOperand(w *attentionScratch, m []float32, rows, cols int) ([]float32, int) {
	if !r.kern.pairs {
		return m, rows
	}
	roundColumnPairs(w.colPairs, r.ldS, m, r.ldS, rows, cols)
	return w.colPairs, r.kern.steps(rows)
}

// pairOffset is the offset of depth d (even in bf16) in a panel of nr-wide rows.
func (r *attentionRun) pairOffset(d int) int { return r.kern.steps(d) * r.kern.nr }

// tiles computes C = alpha*A*B + beta*C for strips x panels whole tiles of the kernel:
// A[i,p] is a[i*aRow+p*aStep] for strips*mr rows and depth p; panel j of B is depth x nr at
// b[j*panelStride:] with rows nr apart; C rows are ldc apart. Every element the kernel reads or
// writes is checked to lie in its slice before the kernel runs.
func (k gemmKernel) tiles(strips, panels, depth int, alpha float32, a []float32, aRow, aStep int, b []float32, panelStride int, beta float32, c []float32, ldc int) {
	if strips == 0 || panels == 0 {
		return
	}
	d := max(depth, 1) - 1
	_ = a[(strips*k.mr-1)*aRow+d*aStep]
	_ = b[(panels-1)*panelStride+d*k.nr+k.nr-1]
	_ = c[(strips*k.mr-1)*ldc+panels*k.nr-1]
	for s := range strips {
		for q := range panels {
			k.fn(depth, &a[s*k.mr*aRow], aRow, aStep, &b[q*panelStride], k.nr, &c[s*k.mr*ldc+q*k.nr], ldc, alpha, beta)
		}
	}
}
