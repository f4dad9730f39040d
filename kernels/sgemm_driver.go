package kernels

import "sync"

// microKernel sets C[mr,nr] = alpha*A*B + beta*C for one tile, where A[r,p] is at
// a[r*aRow+p*aStep], B[p,j] at b[p*bStep+j] and C[r,j] at c[r*ldc+j] (strides in elements).
// Every one of the mr rows of A and nr columns of B must be readable; with beta == 0, C is not read.
type microKernel func(k int, a *float32, aRow, aStep int, b *float32, bStep int, c *float32, ldc int, alpha, beta float32)

// gemmKernel is a micro-kernel with the cache blocking that suits it.
type gemmKernel struct {
	mr, nr int // the tile of C held in registers
	kc, nc int // depth and width of a packed block of B (kc*nc floats stay in L2)
	fn     microKernel
}

// minTaskFlops is the least work worth one pool task (about 20 µs on one Zen 5 core).
const minTaskFlops = 4 << 20

// gemmRun is the state of one Sgemm call: the problem, its kernel, the current block of B and the
// per-worker scratch. Runs are pooled so that a warm call allocates nothing.
type gemmRun struct {
	gemmProblem
	kern gemmKernel

	// The current block: columns jc..jc+nb-1 of C, depth pc..pc+kb-1.
	jc, nb, pc, kb int
	beta           float32 // beta for this block: the caller's for the first depth block, then 1
	last           bool    // the last depth block: tiles of C are final
	directB        bool    // B is read in place instead of packed (B not transposed, few strips of A)

	strips, panels           int // row strips of C (mr rows) and column panels of the block (nr columns)
	stripGroups, panelGroups int // the compute task grid
	packGroups               int // tasks that pack the block of B

	packedB []float32 // the block of B, panel after panel, each kb x nr, zero padded
	workers []gemmWorkerScratch

	packTask, computeTask func(worker, task int)
}

// gemmWorkerScratch holds what one worker packs for itself: an edge strip of A, an edge panel of B
// and an edge tile of C, each zero padded to the kernel's size.
type gemmWorkerScratch struct {
	packedA, edgeB, tile []float32
}

var gemmRuns sync.Pool

func getGemmRun(g *gemmProblem, kern gemmKernel, workers int) *gemmRun {
	r, _ := gemmRuns.Get().(*gemmRun)
	if r == nil {
		r = &gemmRun{}
		r.packTask = r.packBlockOfB
		r.computeTask = r.computeTiles
	}
	r.gemmProblem = *g
	r.kern = kern
	r.packedB = growAligned(r.packedB, kern.kc*roundUp(kern.nc, kern.nr))
	for len(r.workers) < workers {
		r.workers = append(r.workers, gemmWorkerScratch{})
	}
	for i := range r.workers[:workers] {
		w := &r.workers[i]
		w.packedA = growAligned(w.packedA, kern.kc*kern.mr)
		w.edgeB = growAligned(w.edgeB, kern.kc*kern.nr)
		w.tile = growAligned(w.tile, kern.mr*kern.nr)
	}
	return r
}

func putGemmRun(r *gemmRun) {
	r.gemmProblem = gemmProblem{}
	gemmRuns.Put(r)
}

// growAligned returns s if it holds n elements, else a new aligned slice of n.
func growAligned(s []float32, n int) []float32 {
	if len(s) >= n {
		return s
	}
	return AlignedFloat32s(n)
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

func ceilDiv(x, y int) int { return (x + y - 1) / y }

// run computes the checked problem on pool p with the active kernel.
func (g *gemmProblem) run(p *Pool) {
	if g.m == 0 || g.n == 0 {
		return
	}
	if g.alpha == 0 || g.k == 0 {
		scaleMatrix(g.c, g.m, g.n, g.ldc, g.beta)
		if g.ep != nil {
			g.ep.ApplyTile(g.c, g.ldc, 0, 0, g.m, g.n)
		}
		return
	}
	kern := sgemmKernelFor(active)
	r := getGemmRun(g, kern, p.Size())
	defer putGemmRun(r)
	r.directB = !g.transB && g.m <= 4*kern.mr
	r.strips = ceilDiv(g.m, kern.mr)
	for r.jc = 0; r.jc < g.n; r.jc += kern.nc {
		r.nb = min(kern.nc, g.n-r.jc)
		r.panels = ceilDiv(r.nb, kern.nr)
		for r.pc = 0; r.pc < g.k; r.pc += kern.kc {
			r.kb = min(kern.kc, g.k-r.pc)
			r.beta = g.beta
			if r.pc > 0 {
				r.beta = 1
			}
			r.last = r.pc+r.kb == g.k
			if !r.directB {
				r.packGroups = min(r.panels, p.Size())
				if r.kb*r.nb < 1<<14 {
					r.packGroups = 1
				}
				p.Run(r.packGroups, r.packTask)
			}
			r.planTasks(p.Size())
			p.Run(r.stripGroups*r.panelGroups, r.computeTask)
		}
	}
}

// planTasks splits the tiles of the current block into tasks of at least minTaskFlops, about four
// per worker, by strips of A first and by panels of B when there are too few strips.
func (r *gemmRun) planTasks(workers int) {
	tileFlops := 2 * r.kern.mr * r.kern.nr * r.kb
	tiles := r.strips * r.panels
	want := min(4*workers, max(1, tiles*tileFlops/minTaskFlops))
	if workers == 1 {
		want = 1
	}
	if want <= r.strips {
		r.stripGroups, r.panelGroups = want, 1
		return
	}
	r.stripGroups = r.strips
	r.panelGroups = min(r.panels, ceilDiv(want, r.strips))
}

// packBlockOfB packs the panels of group `task` of the current block of B: panel q holds
// B[pc:pc+kb, jc+q*nr : jc+q*nr+nr] row after row (kb x nr), zero padded past column nb.
func (r *gemmRun) packBlockOfB(_, task int) {
	nr := r.kern.nr
	lo, hi := task*r.panels/r.packGroups, (task+1)*r.panels/r.packGroups
	for q := lo; q < hi; q++ {
		j0 := r.jc + q*nr
		r.packPanelOfB(r.packedB[q*r.kb*nr:(q+1)*r.kb*nr], j0, min(nr, r.jc+r.nb-j0))
	}
}

// packPanelOfB writes B[pc:pc+kb, j0:j0+cols] into dst as kb rows of nr, zero padded.
func (r *gemmRun) packPanelOfB(dst []float32, j0, cols int) {
	nr := r.kern.nr
	if !r.transB {
		for p := range r.kb {
			row := dst[p*nr : p*nr+nr]
			off := (r.pc+p)*r.ldb + j0
			copy(row, r.b[off:off+cols])
			clear(row[cols:])
		}
		return
	}
	// B is stored [n,k]: column j of op(B) is row j of B.
	for j := range cols {
		off := (j0+j)*r.ldb + r.pc
		for p, v := range r.b[off : off+r.kb] {
			dst[p*nr+j] = v
		}
	}
	if cols < nr {
		for p := range r.kb {
			clear(dst[p*nr+cols : p*nr+nr])
		}
	}
}

// packStripOfA writes op(A)[i0:i0+rows, pc:pc+kb] into dst as kb columns of mr, zero padded, so
// that A[r,p] is dst[p*mr+r].
func (r *gemmRun) packStripOfA(dst []float32, i0, rows int) {
	mr := r.kern.mr
	dst = dst[:r.kb*mr]
	clear(dst)
	for i := range rows {
		if r.transA {
			for p := range r.kb {
				dst[p*mr+i] = r.a[(r.pc+p)*r.lda+i0+i]
			}
			continue
		}
		off := (i0+i)*r.lda + r.pc
		for p, v := range r.a[off : off+r.kb] {
			dst[p*mr+i] = v
		}
	}
}

// computeTiles computes the tiles of compute task `task` for the current block.
func (r *gemmRun) computeTiles(worker, task int) {
	ws := &r.workers[worker]
	sg, pg := task/r.panelGroups, task%r.panelGroups
	sLo, sHi := sg*r.strips/r.stripGroups, (sg+1)*r.strips/r.stripGroups
	qLo, qHi := pg*r.panels/r.panelGroups, (pg+1)*r.panels/r.panelGroups
	mr, nr := r.kern.mr, r.kern.nr
	for s := sLo; s < sHi; s++ {
		i0 := s * mr
		rows := min(mr, r.m-i0)
		a, aRow, aStep := r.stripOfA(ws, i0, rows)
		for q := qLo; q < qHi; q++ {
			j0 := r.jc + q*nr
			cols := min(nr, r.jc+r.nb-j0)
			b, bStep := r.panelOfB(ws, q, j0, cols)
			r.computeTile(ws, a, aRow, aStep, b, bStep, i0, j0, rows, cols)
		}
	}
}

// stripOfA returns where rows i0..i0+rows-1 of op(A) start and their strides: in place for a
// full strip, else packed into the worker's scratch.
func (r *gemmRun) stripOfA(ws *gemmWorkerScratch, i0, rows int) (a *float32, aRow, aStep int) {
	switch {
	case rows < r.kern.mr:
		r.packStripOfA(ws.packedA, i0, rows)
		return &ws.packedA[0], 1, r.kern.mr
	case r.transA:
		return &r.a[r.pc*r.lda+i0], 1, r.lda
	default:
		return &r.a[i0*r.lda+r.pc], r.lda, 1
	}
}

// panelOfB returns where panel q (columns j0..j0+cols-1) of the current block of B starts and its
// row stride.
func (r *gemmRun) panelOfB(ws *gemmWorkerScratch, q, j0, cols int) (b *float32, bStep int) {
	nr := r.kern.nr
	switch {
	case !r.directB:
		return &r.packedB[q*r.kb*nr], nr
	case cols < nr:
		r.packPanelOfB(ws.edgeB, j0, cols)
		return &ws.edgeB[0], nr
	default:
		return &r.b[r.pc*r.ldb+j0], r.ldb
	}
}

// computeTile runs the micro-kernel for C[i0:i0+rows, j0:j0+cols]: straight into C for a full
// tile, through the worker's tile buffer for an edge tile. On the last depth block it applies the
// epilogue.
func (r *gemmRun) computeTile(ws *gemmWorkerScratch, a *float32, aRow, aStep int, b *float32, bStep int, i0, j0, rows, cols int) {
	mr, nr := r.kern.mr, r.kern.nr
	c := r.c[i0*r.ldc+j0:]
	if rows == mr && cols == nr {
		r.kern.fn(r.kb, a, aRow, aStep, b, bStep, &c[0], r.ldc, r.alpha, r.beta)
	} else {
		r.kern.fn(r.kb, a, aRow, aStep, b, bStep, &ws.tile[0], nr, r.alpha, 0)
		mergeTile(c, r.ldc, ws.tile, nr, rows, cols, r.beta)
	}
	if r.last && r.ep != nil {
		r.ep.ApplyTile(c, r.ldc, i0, j0, rows, cols)
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
