package kernels

import (
	"fmt"
	"math"
	"sync"
)

// Vector kernels: element-wise maths, reductions, exp, softmax, GELU, LayerNorm and L2
// normalization over float32 slices, each with its gradient where a layer needs one.
//
// Every function checks its lengths and panics, naming the argument, when they disagree; empty
// slices are fine. Row-wise functions take cols, the row length: x holds len(x)/cols rows one
// after another, and len(x) must be a multiple of cols (cols may be 0 only when x is empty).
// An output may be the very same slice as an input where the doc says so, but must not overlap
// an input any other way. Element-wise and row-wise calls of 64K elements or more (parallelMin)
// split into contiguous chunks over the shared worker pool (see SetThreads); the results do not
// depend on the number of threads. Nothing allocates once warm.

// asmBlock is the most elements one assembly call handles: assembly is not preempted, so a
// call must stay short (16K elements take a few µs to a few tens of µs).
const asmBlock = 1 << 14

// asmMaxCols is the longest row the row-wise assembly takes in one call; longer rows use the Go
// version, which the scheduler can preempt.
const asmMaxCols = 1 << 16

// parallelMin is the least number of elements for which a call uses the worker pool.
const parallelMin = 1 << 16

// taskElems is the least number of elements in one pool task.
const taskElems = 1 << 14

// vectorAsm holds the assembly of one SIMD path (see _asm/vector). Lengths and row counts are
// positive and every pointer is valid for them.
type vectorAsm struct {
	add               func(dst, a, b *float32, n int)
	scale             func(dst *float32, alpha float32, x *float32, n int)
	axpy              func(alpha float32, x, y *float32, n int)
	addScaledMul      func(dst, a, b *float32, s, t float32, n int)
	sum               func(x *float32, n int) float32
	dot               func(x, y *float32, n int) float32
	max               func(x *float32, n int) float32
	exp               func(dst, x *float32, n int)
	expSum            func(dst, x *float32, shift float32, n int) float32
	gelu              func(dst, x *float32, n int)
	geluBackward      func(dx, dy, x *float32, n int)
	biasGELU          func(dst *float32, ldd int, bias *float32, rows, cols int)
	biasGELUPre       func(dst *float32, ldd int, pre *float32, ldp int, bias *float32, rows, cols int)
	geluGrad          func(dst *float32, ldd int, x *float32, ldx int, rows, cols int)
	layerNorm         func(y, mean, rstd, x, gamma, beta *float32, rows, cols int, eps float32)
	layerNormNT       func(y, mean, rstd, x, gamma, beta *float32, rows, cols int, eps float32)
	layerNormBackward func(dx, dgamma, dbeta, dy, x, mean, rstd, gamma *float32, rows, cols int)
}

// Add sets dst[i] = a[i] + b[i]. a, b and dst have the same length; dst may be a or b.
func Add(dst, a, b []float32) {
	checkVectorLen("Add", "a", len(a), "dst", len(dst))
	checkVectorLen("Add", "b", len(b), "dst", len(dst))
	if len(dst) < parallelMin {
		addSerial(dst, a, b)
		return
	}
	j := getVecJob(addBody)
	j.dst, j.x, j.y = dst, a, b
	j.run(len(dst), 1)
}

func addBody(j *vecJob, lo, hi int) { addSerial(j.dst[lo:hi], j.x[lo:hi], j.y[lo:hi]) }

func addSerial(dst, a, b []float32) {
	k := vectorAsmFor(active)
	forChunks(len(dst), func(lo, hi int) {
		if k != nil {
			k.add(&dst[lo], &a[lo], &b[lo], hi-lo)
		} else {
			addGo(dst[lo:hi], a[lo:hi], b[lo:hi])
		}
	})
}

// Scale sets dst[i] = alpha * x[i]. x and dst have the same length; dst may be x.
func Scale(dst []float32, alpha float32, x []float32) {
	checkVectorLen("Scale", "x", len(x), "dst", len(dst))
	if len(dst) < parallelMin {
		scaleSerial(dst, alpha, x)
		return
	}
	j := getVecJob(scaleBody)
	j.dst, j.x, j.s = dst, x, alpha
	j.run(len(dst), 1)
}

func scaleBody(j *vecJob, lo, hi int) { scaleSerial(j.dst[lo:hi], j.s, j.x[lo:hi]) }

func scaleSerial(dst []float32, alpha float32, x []float32) {
	k := vectorAsmFor(active)
	forChunks(len(dst), func(lo, hi int) {
		if k != nil {
			k.scale(&dst[lo], alpha, &x[lo], hi-lo)
		} else {
			scaleGo(dst[lo:hi], alpha, x[lo:hi])
		}
	})
}

// Axpy sets y[i] += alpha * x[i] (the assembly rounds once, with a fused multiply-add). x and y
// have the same length; y may be x.
func Axpy(alpha float32, x, y []float32) {
	checkVectorLen("Axpy", "x", len(x), "y", len(y))
	if len(y) < parallelMin {
		axpySerial(alpha, x, y)
		return
	}
	j := getVecJob(axpyBody)
	j.dst, j.x, j.s = y, x, alpha
	j.run(len(y), 1)
}

func axpyBody(j *vecJob, lo, hi int) { axpySerial(j.s, j.x[lo:hi], j.dst[lo:hi]) }

func axpySerial(alpha float32, x, y []float32) {
	k := vectorAsmFor(active)
	forChunks(len(y), func(lo, hi int) {
		if k != nil {
			k.axpy(alpha, &x[lo], &y[lo], hi-lo)
		} else {
			axpyGo(alpha, x[lo:hi], y[lo:hi])
		}
	})
}

// Copy sets dst[i] = src[i]: copy() for small slices, split over the pool for large ones. src and
// dst have the same length and do not overlap.
func Copy(dst, src []float32) {
	checkVectorLen("Copy", "src", len(src), "dst", len(dst))
	mapUnary(dst, src, copyBody, copySerial)
}

func copyBody(j *vecJob, lo, hi int) { copySerial(j.dst[lo:hi], j.x[lo:hi]) }

func copySerial(dst, src []float32) { copy(dst, src) }

// addScaledMulSerial sets dst[i] = (a[i] + s*b[i]) * t.
func addScaledMulSerial(dst, a, b []float32, s, t float32) {
	k := vectorAsmFor(active)
	forChunks(len(dst), func(lo, hi int) {
		if k != nil {
			k.addScaledMul(&dst[lo], &a[lo], &b[lo], s, t, hi-lo)
		} else {
			addScaledMulGo(dst[lo:hi], a[lo:hi], b[lo:hi], s, t)
		}
	})
}

// Sum returns the sum of x (0 for an empty x), accumulated in float32 in several partial sums.
func Sum(x []float32) float32 {
	k := vectorAsmFor(active)
	var s float32
	forChunks(len(x), func(lo, hi int) {
		if k != nil {
			s += k.sum(&x[lo], hi-lo)
		} else {
			s += sumGo(x[lo:hi])
		}
	})
	return s
}

// Dot returns the sum of x[i]*y[i], accumulated in float32 in several partial sums. x and y have
// the same length.
func Dot(x, y []float32) float32 {
	checkVectorLen("Dot", "y", len(y), "x", len(x))
	return dotSerial(x, y)
}

func dotSerial(x, y []float32) float32 {
	k := vectorAsmFor(active)
	var s float32
	forChunks(len(x), func(lo, hi int) {
		if k != nil {
			s += k.dot(&x[lo], &y[lo], hi-lo)
		} else {
			s += dotGo(x[lo:hi], y[lo:hi])
		}
	})
	return s
}

// Max returns the largest element of x: -Inf for an empty x, NaN if any element is NaN.
func Max(x []float32) float32 {
	k := vectorAsmFor(active)
	m := float32(math.Inf(-1))
	forChunks(len(x), func(lo, hi int) {
		var b float32
		if k != nil {
			b = k.max(&x[lo], hi-lo)
		} else {
			b = maxGo(x[lo:hi])
		}
		m = max(m, b) // NaN if b is NaN
	})
	return m
}

// Exp sets dst[i] = e^x[i] within 1 ulp (0.9 ulp at most over every float32 in [-87, 88]);
// e^x is +Inf above 88.72, subnormal below -87.34 (within one subnormal step) and 0 below
// -103.97; e^NaN is NaN. x and dst have the same length; dst may be x.
func Exp(dst, x []float32) {
	checkVectorLen("Exp", "x", len(x), "dst", len(dst))
	mapUnary(dst, x, expBody, expSerial)
}

func expBody(j *vecJob, lo, hi int) { expSerial(j.dst[lo:hi], j.x[lo:hi]) }

func expSerial(dst, x []float32) {
	var fn func(dst, x *float32, n int)
	if k := vectorAsmFor(active); k != nil {
		fn = k.exp
	}
	mapChunks(dst, x, fn, expGo)
}

// mapUnary runs an element-wise function of one input: serially for short slices, else split
// over the pool through body.
func mapUnary(dst, x []float32, body func(j *vecJob, lo, hi int), serial func(dst, x []float32)) {
	if len(dst) < parallelMin {
		serial(dst, x)
		return
	}
	j := getVecJob(body)
	j.dst, j.x = dst, x
	j.run(len(dst), 1)
}

// mapChunks applies asm (nil when the path has none) or else goFn to dst and x in chunks of
// asmBlock elements, so that no assembly call runs long.
func mapChunks(dst, x []float32, asm func(dst, x *float32, n int), goFn func(dst, x []float32)) {
	forChunks(len(dst), func(lo, hi int) {
		if asm != nil {
			asm(&dst[lo], &x[lo], hi-lo)
		} else {
			goFn(dst[lo:hi], x[lo:hi])
		}
	})
}

// forChunks calls f for the consecutive chunks lo..hi-1 of 0..n-1, each asmBlock elements but
// the last, which may be shorter: the serial loop of every element-wise kernel and reduction,
// so that no assembly call runs long. An n of 0 makes no call.
func forChunks(n int, f func(lo, hi int)) {
	for lo := 0; lo < n; lo += asmBlock {
		f(lo, min(lo+asmBlock, n))
	}
}

// ExpSum sets dst[i] = e^(x[i]-shift), as Exp does, and returns the float32 sum of dst (the
// denominator of a softmax, with shift the row maximum). x and dst have the same length; dst
// may be x.
func ExpSum(dst, x []float32, shift float32) float32 {
	checkVectorLen("ExpSum", "x", len(x), "dst", len(dst))
	return expSumSerial(dst, x, shift)
}

func expSumSerial(dst, x []float32, shift float32) float32 {
	k := vectorAsmFor(active)
	var s float32
	forChunks(len(dst), func(lo, hi int) {
		if k != nil {
			s += k.expSum(&dst[lo], &x[lo], shift, hi-lo)
		} else {
			s += expSumGo(dst[lo:hi], x[lo:hi], shift)
		}
	})
	return s
}

// GELU sets dst[i] = x[i] Phi(x[i]) = 0.5 x[i] (1 + erf(x[i]/sqrt2)), the exact GELU (not the
// tanh approximation). Over every float32 in [-10, 10] the result is within 2.4e-7 of the
// exact value, and within 2e-7 or correctly rounded for all but 7 inputs (in [4.02, 4.46], one
// ulp off by less than 1e-11); beyond, it is within one ulp. GELU(+Inf) = +Inf,
// GELU(-Inf) = 0, GELU(NaN) = NaN. x and dst have the same length; dst may be x.
func GELU(dst, x []float32) {
	checkVectorLen("GELU", "x", len(x), "dst", len(dst))
	mapUnary(dst, x, geluBody, geluSerial)
}

func geluBody(j *vecJob, lo, hi int) { geluSerial(j.dst[lo:hi], j.x[lo:hi]) }

func geluSerial(dst, x []float32) {
	var fn func(dst, x *float32, n int)
	if k := vectorAsmFor(active); k != nil {
		fn = k.gelu
	}
	mapChunks(dst, x, fn, geluGo)
}

// GELUBackward sets dx[i] = dy[i] * GELU'(x[i]), where GELU'(x) = Phi(x) + x phi(x) and x is
// the input of GELU; GELU' is within 2.3e-7 of the exact value (every float32 in [-10, 10]).
// dx, dy and x have the same length; dx may be dy or x.
func GELUBackward(dx, dy, x []float32) {
	checkVectorLen("GELUBackward", "dy", len(dy), "dx", len(dx))
	checkVectorLen("GELUBackward", "x", len(x), "dx", len(dx))
	if len(dx) < parallelMin {
		geluBackwardSerial(dx, dy, x)
		return
	}
	j := getVecJob(geluBackwardBody)
	j.dst, j.x, j.y = dx, dy, x
	j.run(len(dx), 1)
}

func geluBackwardBody(j *vecJob, lo, hi int) {
	geluBackwardSerial(j.dst[lo:hi], j.x[lo:hi], j.y[lo:hi])
}

func geluBackwardSerial(dx, dy, x []float32) {
	k := vectorAsmFor(active)
	forChunks(len(dx), func(lo, hi int) {
		if k != nil {
			k.geluBackward(&dx[lo], &dy[lo], &x[lo], hi-lo)
		} else {
			geluBackwardGo(dx[lo:hi], dy[lo:hi], x[lo:hi])
		}
	})
}

// biasGELURows sets, for r < rows and j < cols, pre[r*ldp+j] = dst[r*ldd+j] + bias[j] (when
// pre is not nil) and dst[r*ldd+j] = GELU of that sum: a GEMM epilogue over a tile.
func biasGELURows(dst []float32, ldd int, pre []float32, ldp int, bias []float32, rows, cols int) {
	k := vectorAsmFor(active)
	if k == nil || cols > asmMaxCols {
		for r := range rows {
			var preRow []float32
			if pre != nil {
				preRow = pre[r*ldp : r*ldp+cols]
			}
			biasGELUGo(dst[r*ldd:r*ldd+cols], preRow, bias[:cols])
		}
		return
	}
	forRowBlocks(rows, cols, func(r0, n int) {
		_ = bias[cols-1]
		_ = dst[(r0+n-1)*ldd+cols-1]
		if pre == nil {
			k.biasGELU(&dst[r0*ldd], ldd, &bias[0], n, cols)
			return
		}
		_ = pre[(r0+n-1)*ldp+cols-1]
		k.biasGELUPre(&dst[r0*ldd], ldd, &pre[r0*ldp], ldp, &bias[0], n, cols)
	})
}

// geluGradRows multiplies dst[r*ldd+j] by GELU'(x[r*ldx+j]) for r < rows and j < cols: GELU's
// backward pass in place, as a GEMM epilogue over a tile.
func geluGradRows(dst []float32, ldd int, x []float32, ldx int, rows, cols int) {
	k := vectorAsmFor(active)
	if k == nil || cols > asmMaxCols {
		for r := range rows {
			row := dst[r*ldd : r*ldd+cols]
			geluBackwardGo(row, row, x[r*ldx:r*ldx+cols])
		}
		return
	}
	forRowBlocks(rows, cols, func(r0, n int) {
		_ = dst[(r0+n-1)*ldd+cols-1]
		_ = x[(r0+n-1)*ldx+cols-1]
		k.geluGrad(&dst[r0*ldd], ldd, &x[r0*ldx], ldx, n, cols)
	})
}

// forRowBlocks calls f for consecutive blocks of rows (first row, count) of at most asmBlock
// elements in all (one row at least), so that an assembly call stays short; rows or cols of 0
// make no call.
func forRowBlocks(rows, cols int, f func(r0, n int)) {
	if rows <= 0 || cols <= 0 {
		return
	}
	step := max(1, asmBlock/cols)
	for r0 := 0; r0 < rows; r0 += step {
		f(r0, min(step, rows-r0))
	}
}

// Softmax sets each row of dst to the softmax of the row of x: dst[i] = e^(x[i]-m) / sum_j
// e^(x[j]-m) with m the row maximum. x is [rows, cols] and dst is [rows, cols]; dst may be x.
// A row whose maximum is +Inf or -Inf (all -Inf), or that holds a NaN, comes out NaN, as in
// PyTorch.
func Softmax(dst, x []float32, cols int) {
	rows := checkVectorRows("Softmax", "x", len(x), cols)
	checkVectorLen("Softmax", "dst", len(dst), "x", len(x))
	if len(x) < parallelMin {
		softmaxRows(dst, x, cols)
		return
	}
	j := getVecJob(softmaxBody)
	j.dst, j.x, j.cols = dst, x, cols
	j.run(rows, cols)
}

func softmaxBody(j *vecJob, lo, hi int) {
	c := j.cols
	softmaxRows(j.dst[lo*c:hi*c], j.x[lo*c:hi*c], c)
}

func softmaxRows(dst, x []float32, cols int) {
	for r := 0; r < len(x); r += cols {
		xr, dr := x[r:r+cols], dst[r:r+cols]
		s := expSumSerial(dr, xr, Max(xr))
		scaleSerial(dr, 1/s, dr)
	}
}

// LayerNorm normalizes each row of x over its cols elements and applies the affine map, as
// PyTorch's LayerNorm:
//
//	x, y are [rows, cols]; mean, rstd are [rows]; gamma, beta are [cols]
//	mean[r] = sum_j x[r,j] / cols
//	rstd[r] = 1 / sqrt(sum_j (x[r,j]-mean[r])^2 / cols + eps)   (two passes, biased variance)
//	y[r,j]  = (x[r,j]-mean[r]) * rstd[r] * gamma[j] + beta[j]
//
// mean and rstd are saved for LayerNormBackward. y may be x.
func LayerNorm(y, mean, rstd, x, gamma, beta []float32, cols int, eps float32) {
	rows := checkVectorRows("LayerNorm", "x", len(x), cols)
	checkVectorLen("LayerNorm", "y", len(y), "x", len(x))
	checkVectorLen("LayerNorm", "mean", len(mean), "rows", rows)
	checkVectorLen("LayerNorm", "rstd", len(rstd), "rows", rows)
	checkVectorLen("LayerNorm", "gamma", len(gamma), "cols", cols)
	checkVectorLen("LayerNorm", "beta", len(beta), "cols", cols)
	if rows == 0 {
		return
	}
	stream := 4*len(y) >= streamThreshold && IsAligned(y) && cols%(Alignment/4) == 0
	if len(x) < parallelMin {
		layerNormRows(y, mean, rstd, x, gamma, beta, cols, eps, stream)
		return
	}
	j := getVecJob(layerNormBody)
	j.dst, j.x, j.y, j.z = y, x, gamma, beta
	j.mean, j.rstd, j.cols, j.s, j.stream = mean, rstd, cols, eps, stream
	j.run(rows, cols)
}

func layerNormBody(j *vecJob, lo, hi int) {
	c := j.cols
	layerNormRows(j.dst[lo*c:hi*c], j.mean[lo:hi], j.rstd[lo:hi], j.x[lo*c:hi*c], j.y, j.z, c, j.s, j.stream)
}

// layerNormRows normalizes the rows of x; with stream, y is written with non-temporal stores
// (y is then aligned and cols a multiple of Alignment/4, so every row is aligned).
func layerNormRows(y, mean, rstd, x, gamma, beta []float32, cols int, eps float32, stream bool) {
	k := vectorAsmFor(active)
	if k == nil || cols > asmMaxCols {
		layerNormGo(y, mean, rstd, x, gamma, beta, cols, eps)
		return
	}
	fn := k.layerNorm
	if stream {
		fn = k.layerNormNT
	}
	forRowBlocks(len(mean), cols, func(r, n int) {
		fn(&y[r*cols], &mean[r], &rstd[r], &x[r*cols], &gamma[0], &beta[0], n, cols, eps)
	})
}

// LayerNormBackward is the gradient of LayerNorm: with xhat = (x-mean)*rstd and g = dy*gamma,
//
//	dx[r,j]   = rstd[r] * (g[r,j] - mean_j g[r,j] - xhat[r,j] * mean_j(g[r,j]*xhat[r,j]))
//	dgamma[j] += sum_r dy[r,j]*xhat[r,j]
//	dbeta[j]  += sum_r dy[r,j]
//
// dx, dy, x are [rows, cols]; mean, rstd are [rows] (as LayerNorm left them); gamma, dgamma,
// dbeta are [cols]. dx is overwritten and may be dy or x; dgamma and dbeta are accumulated, as a
// parameter gradient is. The sums over rows are taken per block of rows, the blocks fixed by
// the shape alone, and added in block order, so the result is the same for any thread count.
func LayerNormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, cols int) {
	rows := checkVectorRows("LayerNormBackward", "x", len(x), cols)
	checkVectorLen("LayerNormBackward", "dx", len(dx), "x", len(x))
	checkVectorLen("LayerNormBackward", "dy", len(dy), "x", len(x))
	checkVectorLen("LayerNormBackward", "mean", len(mean), "rows", rows)
	checkVectorLen("LayerNormBackward", "rstd", len(rstd), "rows", rows)
	checkVectorLen("LayerNormBackward", "gamma", len(gamma), "cols", cols)
	checkVectorLen("LayerNormBackward", "dgamma", len(dgamma), "cols", cols)
	checkVectorLen("LayerNormBackward", "dbeta", len(dbeta), "cols", cols)
	if rows == 0 {
		return
	}
	blocks := min(maxLayerNormBlocks, rows, ceilDiv(len(x), taskElems))
	if blocks == 1 {
		layerNormBackwardRows(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, cols)
		return
	}
	j := getVecJob(layerNormBackwardBody)
	j.dst, j.x, j.y, j.z = dx, dy, x, gamma
	j.mean, j.rstd, j.cols = mean, rstd, cols
	j.items, j.per = rows, ceilDiv(rows, blocks)
	blocks = ceilDiv(rows, j.per)
	j.partial = growAligned(j.partial, 2*blocks*cols)
	clear(j.partial[:2*blocks*cols])
	if len(x) < parallelMin {
		for b := range blocks {
			j.runTask(0, b)
		}
	} else {
		pool().Run(blocks, j.task)
	}
	for b := range blocks {
		part := j.partial[2*b*cols : 2*(b+1)*cols]
		addSerial(dgamma, dgamma, part[:cols])
		addSerial(dbeta, dbeta, part[cols:])
	}
	putVecJob(j)
}

// maxLayerNormBlocks bounds the blocks of rows of LayerNormBackward, each with its own partial
// dgamma and dbeta.
const maxLayerNormBlocks = 16

// layerNormBackwardBody does rows lo..hi-1 into the partial sums of their block.
func layerNormBackwardBody(j *vecJob, lo, hi int) {
	c := j.cols
	b := lo / j.per
	part := j.partial[2*b*c : 2*(b+1)*c]
	layerNormBackwardRows(j.dst[lo*c:hi*c], part[:c], part[c:], j.x[lo*c:hi*c], j.y[lo*c:hi*c], j.mean[lo:hi], j.rstd[lo:hi], j.z, c)
}

func layerNormBackwardRows(dx, dgamma, dbeta, dy, x, mean, rstd, gamma []float32, cols int) {
	k := vectorAsmFor(active)
	if k == nil || cols > asmMaxCols {
		layerNormBackwardGo(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, cols)
		return
	}
	forRowBlocks(len(mean), cols, func(r, n int) {
		k.layerNormBackward(&dx[r*cols], &dgamma[0], &dbeta[0], &dy[r*cols], &x[r*cols], &mean[r], &rstd[r], &gamma[0], n, cols)
	})
}

// L2Normalize divides each row of x by its Euclidean norm, clamped below at eps, as PyTorch's
// F.normalize: y[r,j] = x[r,j] / max(norm[r], eps) with norm[r] = ||x[r,:]||, which it stores
// for L2NormalizeBackward. x, y are [rows, cols], norm is [rows]; y may be x.
func L2Normalize(y, norm, x []float32, cols int, eps float32) {
	rows := checkVectorRows("L2Normalize", "x", len(x), cols)
	checkVectorLen("L2Normalize", "y", len(y), "x", len(x))
	checkVectorLen("L2Normalize", "norm", len(norm), "rows", rows)
	if len(x) < parallelMin {
		l2NormalizeRows(y, norm, x, cols, eps)
		return
	}
	j := getVecJob(l2NormalizeBody)
	j.dst, j.x, j.mean, j.cols, j.s = y, x, norm, cols, eps
	j.run(rows, cols)
}

func l2NormalizeBody(j *vecJob, lo, hi int) {
	c := j.cols
	l2NormalizeRows(j.dst[lo*c:hi*c], j.mean[lo:hi], j.x[lo*c:hi*c], c, j.s)
}

func l2NormalizeRows(y, norm, x []float32, cols int, eps float32) {
	for r := range norm {
		xr := x[r*cols : (r+1)*cols]
		n := float32(math.Sqrt(float64(dotSerial(xr, xr))))
		norm[r] = n
		scaleSerial(y[r*cols:(r+1)*cols], 1/max(n, eps), xr)
	}
}

// L2NormalizeBackward is the gradient of L2Normalize: for a row with norm >= eps,
// dx = (dy - y*dot(dy, y)) / norm; for a row whose norm was clamped to eps, y = x/eps and
// dx = dy/eps. dx, dy, y are [rows, cols] (y as L2Normalize returned it), norm is [rows]; dx
// may be dy, but not y.
func L2NormalizeBackward(dx, dy, y, norm []float32, cols int, eps float32) {
	rows := checkVectorRows("L2NormalizeBackward", "y", len(y), cols)
	checkVectorLen("L2NormalizeBackward", "dx", len(dx), "y", len(y))
	checkVectorLen("L2NormalizeBackward", "dy", len(dy), "y", len(y))
	checkVectorLen("L2NormalizeBackward", "norm", len(norm), "rows", rows)
	if len(y) < parallelMin {
		l2NormalizeBackwardRows(dx, dy, y, norm, cols, eps)
		return
	}
	j := getVecJob(l2NormalizeBackwardBody)
	j.dst, j.x, j.y, j.mean, j.cols, j.s = dx, dy, y, norm, cols, eps
	j.run(rows, cols)
}

func l2NormalizeBackwardBody(j *vecJob, lo, hi int) {
	c := j.cols
	l2NormalizeBackwardRows(j.dst[lo*c:hi*c], j.x[lo*c:hi*c], j.y[lo*c:hi*c], j.mean[lo:hi], c, j.s)
}

func l2NormalizeBackwardRows(dx, dy, y, norm []float32, cols int, eps float32) {
	for r, n := range norm {
		dxr, dyr, yr := dx[r*cols:(r+1)*cols], dy[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		if n >= eps {
			addScaledMulSerial(dxr, dyr, yr, -dotSerial(dyr, yr), 1/n)
		} else {
			scaleSerial(dxr, 1/eps, dyr)
		}
	}
}

// vecJob is one parallel vector call: the kernel's operands and body, split into tasks of
// contiguous items (elements or rows). Jobs are pooled so that a warm call allocates nothing.
type vecJob struct {
	body         func(j *vecJob, lo, hi int) // processes items lo..hi-1
	items, per   int                         // items in all and per task
	dst, x, y, z []float32                   // operands, by kernel
	mean, rstd   []float32
	s            float32
	cols         int
	stream       bool
	partial      []float32 // per-block partial sums (LayerNormBackward)
	task         func(worker, task int)
}

var vecJobs sync.Pool

func getVecJob(body func(j *vecJob, lo, hi int)) *vecJob {
	j, _ := vecJobs.Get().(*vecJob)
	if j == nil {
		j = &vecJob{}
		j.task = j.runTask
	}
	j.body = body
	return j
}

func putVecJob(j *vecJob) {
	partial, task := j.partial, j.task
	*j = vecJob{partial: partial, task: task}
	vecJobs.Put(j)
}

func (j *vecJob) runTask(_, task int) {
	lo := task * j.per
	j.body(j, lo, min(lo+j.per, j.items))
}

// run splits items, each itemElems elements, into tasks of at least taskElems elements, at most
// four per worker, runs them on the pool and returns the job to its pool.
func (j *vecJob) run(items, itemElems int) {
	p := pool()
	tasks := min(ceilDiv(items*itemElems, taskElems), 4*p.Size(), items)
	j.items = items
	j.per = ceilDiv(items, tasks)
	if itemElems == 1 {
		j.per = roundUp(j.per, Alignment/4) // tasks meet at cache-line boundaries
	}
	p.Run(ceilDiv(items, j.per), j.task)
	putVecJob(j)
}

// checkVectorLen panics unless a length is what it must be.
func checkVectorLen(fn, name string, got int, wantName string, want int) {
	if got != want {
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d, want %d (%s)", fn, name, got, want, wantName))
	}
}

// checkVectorRows returns the rows of a [rows, cols] matrix of n elements, and panics if cols is
// negative, or n is not a multiple of it.
func checkVectorRows(fn, name string, n, cols int) int {
	switch {
	case cols < 0:
		panic(fmt.Sprintf("kernels: %s: cols = %d, want at least 0", fn, cols))
	case cols == 0 && n != 0:
		panic(fmt.Sprintf("kernels: %s: cols = 0 with len(%s) = %d", fn, name, n))
	case cols == 0:
		return 0
	case n%cols != 0:
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d is not a multiple of cols = %d", fn, name, n, cols))
	}
	return n / cols
}
