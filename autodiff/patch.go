package autodiff

import "fmt"

// PatchEmbed is a convolution with a p x p kernel and stride p, as a ViT's patch embedding:
//
//	img is [B, C, H, W], w is [D, C, p, p], b is [D] or nil; the result is [B, (H/p)*(W/p), D],
//
// patches in row-major order over the grid. H and W must be multiples of p. It runs as one
// product of the patches (unrolled to rows of C*p*p, in w's order) with w^T. It panics unless
// img is [B, C, H, W] and w is [D, C, p, p] with p > 0 dividing H and W, or if b is not nil and
// has other than D elements.
func (tp *Tape) PatchEmbed(img, w, b *Var) *Var {
	is, ws := img.Shape(), w.Shape()
	if len(is) != 4 || len(ws) != 4 || ws[1] != is[1] || ws[2] != ws[3] || ws[2] == 0 || is[2]%ws[2] != 0 || is[3]%ws[2] != 0 {
		panic(fmt.Sprintf("autodiff: PatchEmbed: image %v and weight %v, want [B, C, H, W] and [D, C, p, p] with p dividing H and W", is, ws))
	}
	checkBias("PatchEmbed", b, ws[0])
	g := patchGrid{batch: is[0], channels: is[1], height: is[2], width: is[3], size: ws[2]}
	dim, rows, depth := ws[0], g.batch*g.patches(), g.depth()
	colsVar := tp.temp(rows, depth)
	cols := colsVar.Value
	g.unroll(cols.Data(), img.Value.Data())
	y := tp.result([]*Var{img, w, b}, g.batch, g.patches(), dim)
	tp.linearForward(colsVar, w, b, y, rows, depth, dim)
	tp.record(y, func() {
		dy := y.grad.Data()
		biasSummed := false
		if needs(img) {
			dcols := tp.scratch.Get(rows, depth)
			biasSummed = tp.inputGrad(nil, dcols.Data(), dy, w, b, 0, rows, depth, dim)
			g.fold(tp.gradOf(img).Data(), dcols.Data())
			tp.scratch.Put(dcols)
		}
		tp.paramGrads(colsVar, w, b, dy, biasSummed, rows, depth, dim) // cols never needs a gradient
	}, when(needs(w), colsVar))
	tp.release(colsVar)
	return y
}

// patchGrid is the geometry of non-overlapping size x size patches of a [B, C, H, W] batch.
type patchGrid struct{ batch, channels, height, width, size int }

func (g patchGrid) patches() int { return (g.height / g.size) * (g.width / g.size) }
func (g patchGrid) depth() int   { return g.channels * g.size * g.size }

// unroll writes patch r of the batch as row r of cols: cols[r, (c*size+i)*size+j] is pixel
// (i, j) of channel c of the patch.
func (g patchGrid) unroll(cols, img []float32) {
	g.each(func(row []float32, pixels []float32) { copy(row, pixels) }, cols, img)
}

// fold adds each row of cols back onto the pixels of its patch in dimg: unroll's adjoint.
func (g patchGrid) fold(dimg, cols []float32) {
	g.each(func(row []float32, pixels []float32) { accumulate(pixels, row) }, cols, dimg)
}

// each calls f for every run of size pixels of every patch: row is the run's place in cols,
// pixels its place in img.
func (g patchGrid) each(f func(row, pixels []float32), cols, img []float32) {
	p, across := g.size, g.width/g.size
	depth := g.depth()
	for b := range g.batch {
		for patch := range g.patches() {
			py, px := patch/across, patch%across
			row := cols[(b*g.patches()+patch)*depth:]
			for c := range g.channels {
				plane := img[(b*g.channels+c)*g.height*g.width:]
				for i := range p {
					at := (py*p+i)*g.width + px*p
					f(row[(c*p+i)*p:(c*p+i)*p+p], plane[at:at+p])
				}
			}
		}
	}
}
