package kernels

import (
	"sync"
	"sync/atomic"
)

// microKernel sets C[mr,nr] = alpha*A*B + beta*C for one tile, where A[r,p] is at
// a[r*aRow+p*aStep], B[p,j] at b[p*bStep+j] and C[r,j] at c[r*ldc+j] (strides in elements).
// Every one of the mr rows of A and nr columns of B must be readable; with beta == 0, C is not read.
type microKernel func(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32)

// gemmKernel is a micro-kernel with the cache blocking that suits it.
type gemmKernel struct {
	mr, nr int  // the tile of C held in registers
	kc, nc int  // depth and width of a packed block of B (kc*nc values stay in L2)
	pairs  bool // a bf16 kernel: its k counts pairs of depth, each element of A and B two bf16 values
	fn     microKernel
}

// blocking returns the width and depth of the blocks of B for op(B) [k,n], evened out so no
// block is thin; for a pairs kernel the depth is even, so only the last block has an odd one.
func (kern gemmKernel) blocking(n, k int) (nbMax, kbMax int) {
	nbMax = roundUp(ceilDiv(n, ceilDiv(n, kern.nc)), kern.nr)
	kbMax = ceilDiv(k, ceilDiv(k, kern.kc))
	if kern.pairs {
		kbMax = roundUp(kbMax, 2)
	}
	return nbMax, kbMax
}

// steps is the number of the kernel's elements along kb values of depth: kb, or kb/2 rounded up
// for a pairs kernel.
func (kern gemmKernel) steps(kb int) int {
	if kern.pairs {
		return (kb + 1) / 2
	}
	return kb
}

// minTaskFlops is the least work worth one pool task (about 5 µs on one Zen 5 core).
const minTaskFlops = 1 << 20

// gemmRun is the state of one Sgemm call: the problem, its kernel, the plan of its tasks and the
// per-worker scratch. Runs are pooled so that a warm call allocates nothing.
//
// The product is computed block by block of B (kb x nb, packed once and shared read-only by all
// workers, kept in L2). The tiles of a block are split into tasks by strips of A and, when there
// are few strips, by panels of B. Each worker owns a contiguous range of every block's tasks, the
// same range from block to block, so the strips of A and C it works on stay in its own cache; it
// works through its range from the front, then takes what is left of the others' ranges from the
// back. No worker waits for the others at the end of a block: it goes on to its range of the next
// block. Packing the next block into the other buffer is shared out halfway through each range.
// A task waits (rarely, and briefly) only for what it reads or overwrites: a compute task for its
// block to be packed and for its strips of C to be done in earlier blocks, a packing task for the
// block that last used its buffer to be done.
type gemmRun struct {
	gemmProblem
	kern gemmKernel

	directB      bool // B is read in place instead of packed (B not transposed, few strips of A)
	strips       int  // row strips of C, mr rows each
	nbMax, kbMax int  // block width and depth, evened out so no block is thin
	depthBlocks  int
	owners       int // workers taking part, one range of every block each
	plans        []blockPlan
	ranges       []atomic.Uint64 // the unclaimed tasks of owner o in block i at [i*owners+o]: front | back<<32
	stripDone    []atomic.Int32  // pieces of each strip of C finished, over all blocks so far
	packedB      [2][]float32
	prepacked    *packing // the blocks of B when it came packed (gemmProblem.packed), or nil
	workers      []gemmWorkerScratch
	task         func(worker, task int)

	// For a pairs kernel over several column blocks of B: A rounded to bf16 pairs before the
	// product, rounded up to whole strips (the rows past m zero), its rows ldRounded elements
	// apart. With one column block, each strip is rounded as it is used instead (once per depth
	// block, so every value of A once either way).
	roundWhole bool
	roundedA   []float32
	ldRounded  int
	roundTasks int
	roundTask  func(worker, task int)

	// With gemmProblem.aSums: the column sums of each strip of A, strip s at [s*k, s*k+k), each
	// written by the one task that reads that strip of A first (see sumStripOfA).
	stripSums []float32
}

// blockPlan is how one block of B is split into tasks, with counts of those claimed and done.
type blockPlan struct {
	stripGroups, panelGroups int   // the compute task grid
	packShares               int32 // tasks that pack the block (0 when B is read in place)
	piecesBefore             int32 // pieces of every strip of C in the blocks before this one
	packClaimed, packed      atomic.Int32
	computed                 atomic.Int32
}

func (p *blockPlan) computeTasks() int { return p.stripGroups * p.panelGroups }

// gemmWorkerScratch holds what one worker packs for itself: a strip of A, an edge panel of B and
// an edge tile of C.
type gemmWorkerScratch struct {
	packedA, edgeB, tile []float32
}

// gemmBlock is one block of B: columns jc..jc+nb-1 of C at depth pc..pc+kb-1.
type gemmBlock struct {
	jc, nb, pc, kb int
	panels         int       // column panels of nr
	beta           float32   // the caller's beta for the first depth block, then 1
	last           bool      // the last depth block: tiles of C are final
	packed         []float32 // the packed block, panel after panel, each kb x nr
}

var gemmRuns sync.Pool

func getGemmRun(g *gemmProblem, kern gemmKernel, workers int) *gemmRun {
	r, _ := gemmRuns.Get().(*gemmRun)
	if r == nil {
		r = &gemmRun{}
		r.task = r.runOwner
		r.roundTask = r.roundRowsOfA
	}
	r.gemmProblem = *g
	r.kern = kern
	if g.packed == nil {
		for i := range r.packedB {
			r.packedB[i] = growAligned(r.packedB[i], kern.kc*roundUp(kern.nc, kern.nr))
		}
	}
	for len(r.workers) < workers {
		r.workers = append(r.workers, gemmWorkerScratch{})
	}
	for i := range r.workers[:workers] {
		w := &r.workers[i]
		w.packedA = growAligned(w.packedA, stripCopyStride(kern.steps(kern.kc))*kern.mr)
		w.edgeB = growAligned(w.edgeB, kern.kc*kern.nr)
		w.tile = growAligned(w.tile, kern.mr*kern.nr)
	}
	return r
}

func putGemmRun(r *gemmRun) {
	r.gemmProblem = gemmProblem{}
	r.prepacked = nil
	gemmRuns.Put(r)
}

// run computes the checked problem on pool p with the active kernel.
func (g *gemmProblem) run(p *Pool) {
	if g.m == 0 {
		return
	}
	if g.n == 0 || g.alpha == 0 || g.k == 0 {
		if g.aSums != nil && g.k > 0 {
			addColumnSums(g.aSums, g.a, g.lda, g.m, g.k)
		}
		if g.n == 0 {
			return
		}
		scaleMatrix(g.c, g.m, g.n, g.ldc, g.beta)
		if g.ep != nil {
			g.ep.ApplyTile(g.c, g.ldc, 0, 0, g.m, g.n)
		}
		return
	}
	kern := sgemmKernelFor(active)
	var prepacked *packing
	if g.packed != nil {
		prepacked = g.packed.current()
		kern = prepacked.kern
	}
	r := getGemmRun(g, kern, p.Size())
	defer putGemmRun(r)
	r.prepacked = prepacked
	r.directB = g.packed == nil && !g.transB && g.m <= 4*kern.mr
	r.strips = ceilDiv(g.m, kern.mr)
	r.nbMax, r.kbMax = kern.blocking(g.n, g.k)
	r.depthBlocks = ceilDiv(g.k, r.kbMax)
	r.plan(ceilDiv(g.n, r.nbMax)*r.depthBlocks, p.Size())
	r.roundWhole = kern.pairs && r.nbMax < g.n
	if g.aSums != nil {
		r.stripSums = growAligned(r.stripSums, r.strips*g.k)
	}
	if r.roundWhole {
		r.roundA(p)
	}
	p.Run(r.owners, r.task)
	if g.aSums != nil {
		r.addStripSums()
	}
}

// addStripSums adds the column sums of the strips of A to aSums, strip after strip, so that the
// order of the additions depends on the kernel's strip height but not on the number of workers.
func (r *gemmRun) addStripSums() {
	for s := range r.strips {
		addSerial(r.aSums, r.aSums, r.stripSums[s*r.k:(s+1)*r.k])
	}
}

// sumStripOfA writes the column sums of rows i0..i0+rows-1 of A (not transposed), columns
// pc..pc+kb-1, into strip s's sums, row after row.
func (r *gemmRun) sumStripOfA(s, i0, rows, pc, kb int) {
	dst := r.stripSums[s*r.k+pc : s*r.k+pc+kb]
	copy(dst, r.a[i0*r.lda+pc:i0*r.lda+pc+kb])
	for i := i0 + 1; i < i0+rows; i++ {
		addSerial(dst, dst, r.a[i*r.lda+pc:i*r.lda+pc+kb])
	}
}

// addColumnSums adds the column sums of the m x k matrix a (rows lda apart) to dst, row after
// row: the plain form of what a product with aSums computes.
func addColumnSums(dst, a []float32, lda, m, k int) {
	for i := range m {
		addSerial(dst, dst, a[i*lda:i*lda+k])
	}
}

// plan splits every block into tasks for the given number of workers and hands out the ranges.
func (r *gemmRun) plan(blocks, workers int) {
	r.owners = workers
	r.plans = resize(r.plans, blocks)
	r.ranges = resize(r.ranges, blocks*workers)
	r.stripDone = resize(r.stripDone, r.strips)
	for i := range r.stripDone {
		r.stripDone[i].Store(0)
	}
	var pieces int32
	for i := range r.plans {
		pl := &r.plans[i]
		pl.stripGroups, pl.panelGroups = r.computeGrid(r.block(i), workers)
		pl.packShares = int32(r.packShares(i, workers))
		pl.piecesBefore = pieces
		pl.packClaimed.Store(0)
		pl.packed.Store(0)
		pl.computed.Store(0)
		pieces += int32(pl.panelGroups)
		tasks := pl.computeTasks()
		for o := range workers {
			lo, hi := share(o, workers, tasks)
			r.ranges[i*workers+o].Store(uint64(lo) | uint64(hi)<<32)
		}
	}
}

// resize returns s with length n, reallocated only when its capacity is short.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// block returns block i, columns first, then depth; blocks alternate between the two buffers,
// unless B came packed.
func (r *gemmRun) block(i int) gemmBlock {
	jc, pc := i/r.depthBlocks*r.nbMax, i%r.depthBlocks*r.kbMax
	blk := gemmBlock{jc: jc, nb: min(r.nbMax, r.n-jc), pc: pc, kb: min(r.kbMax, r.k-pc), beta: r.beta}
	if pc > 0 {
		blk.beta = 1
	}
	blk.last = pc+blk.kb == r.k
	blk.panels = ceilDiv(blk.nb, r.kern.nr)
	if r.prepacked != nil {
		blk.packed = r.prepacked.blocks[i]
	} else {
		blk.packed = r.packedB[i%2]
	}
	return blk
}

// packShares is the number of tasks that pack block i: its panels split over the workers, one
// task for a small block, none when B is read in place or came packed.
func (r *gemmRun) packShares(i, workers int) int {
	if r.directB || r.prepacked != nil {
		return 0
	}
	blk := r.block(i)
	if blk.kb*blk.nb < 1<<14 {
		return 1
	}
	return min(blk.panels, workers)
}

// computeGrid splits the tiles of a block into tasks of at least minTaskFlops: by strips of A,
// down to one strip a task, and by panels of B too when there are too few strips to go round the
// workers (up to sixteen tasks per worker then, as each task of a strip packs it again).
func (r *gemmRun) computeGrid(blk gemmBlock, workers int) (stripGroups, panelGroups int) {
	if workers == 1 {
		return 1, 1
	}
	tileFlops := 2 * r.kern.mr * r.kern.nr * blk.kb
	want := max(1, r.strips*blk.panels*tileFlops/minTaskFlops)
	if want <= r.strips || r.strips >= 4*workers {
		return min(want, r.strips), 1
	}
	return r.strips, min(blk.panels, ceilDiv(min(want, 16*workers), r.strips))
}

// runOwner does owner o's part of the run on the given worker: block after block, its own range
// of tasks from the front, then what is left of the others' from the back, and a share of the
// packing of the next block halfway through its own range.
func (r *gemmRun) runOwner(worker, o int) {
	r.packBlock(0)
	for i := range r.plans {
		own := &r.ranges[i*r.owners+o]
		half := rangeLen(own.Load()) / 2
		for done := 0; ; done++ {
			if done == half {
				r.packBlock(i + 1)
			}
			t, ok := claim(own, false)
			if !ok {
				break
			}
			r.computeShare(worker, i, t)
		}
		for other := 1; other < r.owners; other++ {
			for {
				t, ok := claim(&r.ranges[i*r.owners+(o+other)%r.owners], true)
				if !ok {
					break
				}
				r.computeShare(worker, i, t)
			}
		}
		r.packBlock(i + 1)
	}
}

// packBlock claims and runs packing tasks of block i (if it exists) until none are left.
func (r *gemmRun) packBlock(i int) {
	if i >= len(r.plans) {
		return
	}
	pl := &r.plans[i]
	for {
		t := pl.packClaimed.Add(1) - 1
		if t >= pl.packShares {
			return
		}
		if i >= 2 {
			// Block i goes into the buffer of block i-2.
			prev := &r.plans[i-2]
			waitAtLeast(&prev.computed, int32(prev.computeTasks()))
		}
		blk := r.block(i)
		lo, hi := share(int(t), int(pl.packShares), blk.panels)
		r.packPanels(&blk, lo, hi)
		pl.packed.Add(1)
	}
}

// rangeLen is the number of unclaimed tasks in a range word.
func rangeLen(v uint64) int { return max(0, int(uint32(v>>32))-int(uint32(v))) }

// claim takes the first unclaimed task of a range, or the last one when fromBack is set.
func claim(rg *atomic.Uint64, fromBack bool) (int, bool) {
	for {
		v := rg.Load()
		if rangeLen(v) == 0 {
			return 0, false
		}
		front, back := v&(1<<32-1), v>>32
		next, t := v+1, front
		if fromBack {
			next, t = (back-1)<<32|front, back-1
		}
		if rg.CompareAndSwap(v, next) {
			return int(t), true
		}
	}
}

// computeShare computes compute task t of block i, once the block is packed and the task's strips
// of C are done in every earlier block.
func (r *gemmRun) computeShare(worker, i, t int) {
	pl := &r.plans[i]
	blk := r.block(i)
	sg, pg := t/pl.panelGroups, t%pl.panelGroups
	sLo, sHi := share(sg, pl.stripGroups, r.strips)
	qLo, qHi := share(pg, pl.panelGroups, blk.panels)
	waitAtLeast(&pl.packed, pl.packShares)
	for s := sLo; s < sHi; s++ {
		waitAtLeast(&r.stripDone[s], pl.piecesBefore)
	}
	r.computeTiles(&r.workers[worker], &blk, sLo, sHi, qLo, qHi)
	for s := sLo; s < sHi; s++ {
		r.stripDone[s].Add(1)
	}
	pl.computed.Add(1)
}

// waitAtLeast spins until c reaches n (see spinUntil). The wait always ends: a task waits only
// for tasks of earlier blocks, or for packing of its own, and no worker starts a block before
// every task of the one before it and every packing task of its own is claimed, so what is
// waited for is done or running.
func waitAtLeast(c *atomic.Int32, n int32) {
	spinUntil(func() bool { return c.Load() >= n })
}

// packPanels packs panels lo..hi-1 of the block: panel q holds B[pc:pc+kb, jc+q*nr : jc+q*nr+nr]
// row after row (kb x nr), zero padded past column jc+nb.
func (r *gemmRun) packPanels(blk *gemmBlock, lo, hi int) {
	nr := r.kern.nr
	for q := lo; q < hi; q++ {
		j0 := blk.jc + q*nr
		r.packPanelOfB(blk.packed[q*blk.kb*nr:(q+1)*blk.kb*nr], blk, j0, min(nr, blk.jc+blk.nb-j0))
	}
}

// packPanelOfB writes B[pc:pc+kb, j0:j0+cols] of the block into dst as kb rows of nr, zero padded.
func (r *gemmRun) packPanelOfB(dst []float32, blk *gemmBlock, j0, cols int) {
	packPanel(dst, r.b, r.ldb, r.transB, blk.pc, blk.kb, j0, cols, r.kern.nr)
}

// packPanel writes op(B)[p0:p0+kb, j0:j0+cols] into dst as kb rows of nr values, zero padded past
// cols, where op(B)[p, j] is b[p*ldb+j], or b[j*ldb+p] when trans is set.
func packPanel(dst, b []float32, ldb int, trans bool, p0, kb, j0, cols, nr int) {
	if !trans {
		off := p0*ldb + j0
		if cols == 32 && nr == 32 {
			// A fixed-size array copy compiles to inline vector moves, not a memmove call.
			for p := range kb {
				*(*[32]float32)(dst[p*32:]) = *(*[32]float32)(b[off+p*ldb:])
			}
			return
		}
		for p := range kb {
			row := dst[p*nr : p*nr+nr]
			copy(row, b[off+p*ldb:off+p*ldb+cols])
			clear(row[cols:])
		}
		return
	}
	// B is stored [n,k]: column j of op(B) is row j of B.
	transposeInto(dst, nr, b[j0*ldb+p0:], ldb, cols, kb)
	if cols < nr {
		for p := range kb {
			clear(dst[p*nr+cols : p*nr+nr])
		}
	}
}

// packStripOfA writes op(A)[i0:i0+rows, pc:pc+kb] into dst as kb columns of mr, zero padded, so
// that A[r,p] is dst[p*mr+r].
func (r *gemmRun) packStripOfA(dst []float32, blk *gemmBlock, i0, rows int) {
	mr := r.kern.mr
	dst = dst[:blk.kb*mr]
	if rows < mr {
		clear(dst)
	}
	if r.transA {
		// A is stored [k,m]: a strip of op(A) is a run of `rows` values in each of kb rows.
		for p := range blk.kb {
			off := (blk.pc+p)*r.lda + i0
			copy(dst[p*mr:p*mr+rows], r.a[off:off+rows])
		}
		return
	}
	for i := range rows {
		off := (i0+i)*r.lda + blk.pc
		for p, v := range r.a[off : off+blk.kb] {
			dst[p*mr+i] = v
		}
	}
}

// copyStripOfA copies rows i0..i0+mr-1 of A (not transposed), columns pc..pc+kb-1, into dst with
// row stride ld and returns ld. It keeps the rows in place for the kernel's strided reads but
// gives them a stride that spreads them over the sets of the L1 cache.
func (r *gemmRun) copyStripOfA(dst []float32, blk *gemmBlock, i0 int) (ld int) {
	ld = stripCopyStride(blk.kb)
	for i := range r.kern.mr {
		off := (i0+i)*r.lda + blk.pc
		copy(dst[i*ld:i*ld+blk.kb], r.a[off:off+blk.kb])
	}
	return ld
}

// roundStripOfA rounds rows i0..i0+rows-1 of A (not transposed), columns pc..pc+kb-1, to bf16
// pairs in dst, mr rows ld elements apart, the rows past the last zero; it returns ld.
func (r *gemmRun) roundStripOfA(dst []float32, blk *gemmBlock, i0, rows int) (ld int) {
	steps := r.kern.steps(blk.kb)
	ld = stripCopyStride(steps)
	for i := range r.kern.mr {
		row := dst[i*ld : i*ld+steps]
		if i >= rows {
			clear(row)
			continue
		}
		off := (i0+i)*r.lda + blk.pc
		roundToPairs(row, r.a[off:off+blk.kb])
	}
	return ld
}

// roundA rounds all of A (not transposed) to bf16 pairs in r.roundedA, strips shared out over
// the pool, and takes the column sums of the strips if asked (aSums). A is read once, in order,
// however many column blocks of B meet it.
func (r *gemmRun) roundA(p *Pool) {
	rows := roundUp(r.m, r.kern.mr)
	r.ldRounded = stripCopyStride(r.kern.steps(r.k))
	r.roundedA = growAligned(r.roundedA, rows*r.ldRounded)
	r.roundTasks = min(p.Size(), r.strips, ceilDiv(rows*r.k, minTaskFlops/8))
	p.Run(r.roundTasks, r.roundTask)
}

// roundRowsOfA is task t of roundA: its share of the strips of the rounded A, each followed by
// its column sums if asked, while the strip is in cache.
func (r *gemmRun) roundRowsOfA(_, t int) {
	mr := r.kern.mr
	sLo, sHi := share(t, r.roundTasks, r.strips)
	steps := r.kern.steps(r.k)
	for s := sLo; s < sHi; s++ {
		for i := s * mr; i < (s+1)*mr; i++ {
			dst := r.roundedA[i*r.ldRounded : i*r.ldRounded+steps]
			if i >= r.m {
				clear(dst)
				continue
			}
			roundToPairs(dst, r.a[i*r.lda:i*r.lda+r.k])
		}
		if r.aSums != nil {
			r.sumStripOfA(s, s*mr, min(mr, r.m-s*mr), 0, r.k)
		}
	}
}

// stripCopyStride is the row stride copyStripOfA uses for kb columns: a multiple of 16 floats
// (one cache line) that is not a multiple of 256 floats.
func stripCopyStride(kb int) int {
	ld := roundUp(kb, 16)
	if aliasedStride(ld) {
		ld += 16
	}
	return ld
}

// aliasedStride reports whether rows ld floats apart share few L1 sets: with a stride that is a
// multiple of 1 KiB, the rows of a strip fall into at most four of the 64 sets of Zen's 48 KiB,
// 12-way L1 and evict one another.
func aliasedStride(ld int) bool { return ld%256 == 0 }

// computeTiles computes the tiles of strips sLo..sHi-1 and panels qLo..qHi-1 of the block.
// After the block's last depth step, the epilogue runs on every epiloguePanels tiles of a strip
// at once, while they are in cache.
func (r *gemmRun) computeTiles(ws *gemmWorkerScratch, blk *gemmBlock, sLo, sHi, qLo, qHi int) {
	mr, nr := r.kern.mr, r.kern.nr
	for s := sLo; s < sHi; s++ {
		i0 := s * mr
		rows := min(mr, r.m-i0)
		a, aRow, aStep := r.stripOfA(ws, blk, i0, rows)
		if r.aSums != nil && !r.roundWhole && blk.jc == 0 && qLo == 0 {
			// The first task to read this strip of A at this depth, while it is in cache.
			r.sumStripOfA(s, i0, rows, blk.pc, blk.kb)
		}
		for span := qLo; span < qHi; span += epiloguePanels {
			spanEnd := min(span+epiloguePanels, qHi)
			for q := span; q < spanEnd; q++ {
				j0 := blk.jc + q*nr
				cols := min(nr, blk.jc+blk.nb-j0)
				b, bStep := r.panelOfB(ws, blk, q, j0, cols)
				r.computeTile(ws, blk, a, aRow, aStep, b, bStep, i0, j0, rows, cols)
			}
			if blk.last && r.ep != nil {
				j0, j1 := blk.jc+span*nr, min(blk.jc+spanEnd*nr, blk.jc+blk.nb)
				r.ep.ApplyTile(r.c[i0*r.ldc+j0:], r.ldc, i0, j0, rows, j1-j0)
			}
		}
	}
}

// epiloguePanels is how many tiles of a strip an epilogue call covers: enough vectors a row to
// keep a long chain of dependent operations (GELU) in flight, few enough that the lines an
// epilogue writes to memory (GELU's pre-activation) go out while the next tiles compute.
const epiloguePanels = 4

// stripOfA returns where rows i0..i0+rows-1 of op(A) start and their strides: in place for a
// full strip of A not transposed, copied with a better stride when the rows would alias in L1,
// else packed into the worker's scratch (an edge strip, or a strip of A transposed, whose values
// are then read kb times lda apart); for a pairs kernel, in A rounded to bf16 pairs (roundA) or
// in the strip rounded now (roundStripOfA).
func (r *gemmRun) stripOfA(ws *gemmWorkerScratch, blk *gemmBlock, i0, rows int) (a *float32, aRow, aStep int) {
	switch {
	case r.roundWhole:
		return &r.roundedA[i0*r.ldRounded+blk.pc/2], r.ldRounded, 1
	case r.kern.pairs:
		return &ws.packedA[0], r.roundStripOfA(ws.packedA, blk, i0, rows), 1
	case rows < r.kern.mr || r.transA:
		r.packStripOfA(ws.packedA, blk, i0, rows)
		return &ws.packedA[0], 1, r.kern.mr
	case aliasedStride(r.lda):
		return &ws.packedA[0], r.copyStripOfA(ws.packedA, blk, i0), 1
	default:
		return &r.a[i0*r.lda+blk.pc], r.lda, 1
	}
}

// panelOfB returns where panel q (columns j0..j0+cols-1) of the block of B starts and its row
// stride.
func (r *gemmRun) panelOfB(ws *gemmWorkerScratch, blk *gemmBlock, q, j0, cols int) (b *float32, bStep int) {
	nr := r.kern.nr
	switch {
	case !r.directB:
		return &blk.packed[q*r.kern.steps(blk.kb)*nr], nr
	case cols < nr:
		r.packPanelOfB(ws.edgeB, blk, j0, cols)
		return &ws.edgeB[0], nr
	default:
		return &r.b[blk.pc*r.ldb+j0], r.ldb
	}
}

// computeTile runs the micro-kernel for C[i0:i0+rows, j0:j0+cols]: straight into C for a full
// tile, through the worker's tile buffer for an edge tile.
func (r *gemmRun) computeTile(ws *gemmWorkerScratch, blk *gemmBlock, a *float32, aRow, aStep int, b *float32, bStep int, i0, j0, rows, cols int) {
	mr, nr := r.kern.mr, r.kern.nr
	c := r.c[i0*r.ldc+j0:]
	steps := r.kern.steps(blk.kb)
	if rows == mr && cols == nr {
		r.kern.fn(steps, a, aRow, aStep, b, bStep, &c[0], r.ldc, r.alpha, blk.beta)
	} else {
		r.kern.fn(steps, a, aRow, aStep, b, bStep, &ws.tile[0], nr, r.alpha, 0)
		mergeTile(c, r.ldc, ws.tile, nr, rows, cols, blk.beta)
	}
}

// mergeTile sets C = T + beta*C over rows x cols; with beta == 0, C is not read.
func mergeTile(c []float32, ldc int, t []float32, ldt, rows, cols int, beta float32) {
	for i := range rows {
		dst, src := c[i*ldc:i*ldc+cols], t[i*ldt:i*ldt+cols]
		if beta == 0 {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v + beta*dst[j]
		}
	}
}

// scaleMatrix sets C = beta*C over m x n; with beta == 0, C is zeroed without being read.
func scaleMatrix(c []float32, m, n, ldc int, beta float32) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}
