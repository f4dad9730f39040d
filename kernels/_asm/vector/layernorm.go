package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// rowLoop emits the loop over rows (rows > 0): body handles one row, then pointer advance[i]
// moves on by strides[i] bytes (one row of its array) and every pointer in perRow by one float32.
func rowLoop(rows Register, advance, strides, perRow []Register, body func()) {
	Label("row")
	body()
	for i, p := range advance {
		ADDQ(strides[i], p)
	}
	for _, p := range perRow {
		ADDQ(U8(4), p)
	}
	DECQ(rows)
	JNZ(LabelRef("row"))
}

// rowMean sums one row with vectorLoop and returns the sum divided by colsF, in lane 0 of an XMM.
func rowMean(w width, prefix string, cols, count, off Register, colsF VecVirtual, unroll int, body func(it iter, acc []VecVirtual)) VecVirtual {
	acc := accumulators(w, unroll, nil, "zero")
	MOVQ(cols, count)
	w.vectorLoop(prefix, count, off, unroll, func(it iter) { body(it, acc) })
	s := w.reduce(foldInto(acc, VADDPS), VADDPS)
	VDIVSS(colsF, s, s)
	return s
}

// broadcast copies lane 0 of x to every lane of a new register.
func broadcast(w width, x VecVirtual) VecVirtual {
	v := w.vec()
	VBROADCASTSS(x, v)
	return v
}

// rowSetup loads rows and cols and derives the row length in bytes and cols as a float32.
func rowSetup() (rows, cols, rowBytes Register, colsF VecVirtual) {
	rows = Load(Param("rows"), GP64())
	cols = Load(Param("cols"), GP64())
	rowBytes = GP64()
	MOVQ(cols, rowBytes)
	SHLQ(U8(2), rowBytes)
	colsF = XMM()
	VCVTSI2SSQ(cols, colsF, colsF)
	return rows, cols, rowBytes, colsF
}

// layerNormKernel emits layerNorm, or with nt layerNormNT, which writes y with non-temporal
// stores (y and every row must then start on a vector boundary).
func layerNormKernel(w width, nt bool) {
	name, doc := "layerNorm", "normalizes rows rows of cols elements (rows, cols > 0): mean, then the biased variance from the deviations, rstd = 1/sqrt(var+eps), y = (x-mean)*rstd*gamma + beta."
	if nt {
		name, doc = "layerNormNT", "is layerNorm writing y with non-temporal stores, which skip the cache: y must be aligned to a vector and cols a multiple of its lanes."
	}
	textf(w, name, "func(y, mean, rstd, x, gamma, beta *float32, rows, cols int, eps float32)", doc)
	p := pointers("y", "mean", "rstd", "x", "gamma", "beta")
	y, mean, rstd, x, gamma, beta := p[0], p[1], p[2], p[3], p[4], p[5]
	rows, cols, rowBytes, colsF := rowSetup()
	count, off := GP64(), GP64()
	rowLoop(rows, []Register{x, y}, []Register{rowBytes, rowBytes}, []Register{mean, rstd}, func() {
		m := rowMean(w, "mean", cols, count, off, colsF, reduceUnroll, func(it iter, acc []VecVirtual) {
			VADDPS(it.src(x), acc[it.v], acc[it.v])
		})
		VMOVSS(m, Mem{Base: mean})
		mv := broadcast(w, m)

		v := rowMean(w, "var", cols, count, off, colsF, reduceUnroll, func(it iter, acc []VecVirtual) {
			d := it.load(x)
			VSUBPS(mv, d, d)
			if it.m != nil {
				w.zeroOutside(*it.m, d)
			}
			VFMADD231PS(d, d, acc[it.v])
		})
		VADDSS(paramAddr("eps"), v, v)
		VSQRTSS(v, v, v)
		r := XMM()
		VMOVSS(constMem("one"), r)
		VDIVSS(v, r, r)
		VMOVSS(r, Mem{Base: rstd})
		rv := broadcast(w, r)

		next := GP64()
		LEAQ(Mem{Base: x, Index: rowBytes, Scale: 1}, next)
		MOVQ(cols, count)
		w.vectorLoop(name+"Norm", count, off, reduceUnroll, func(it iter) {
			d := it.load(x)
			if it.m == nil && (w.zmm || it.v%2 == 0) {
				// Fetch the next row while this one is finished from L1.
				PREFETCHT0(it.at(next))
			}
			VSUBPS(mv, d, d)
			VMULPS(rv, d, d)
			g := it.load(gamma)
			VFMADD213PS(it.src(beta), g, d) // d = gamma*d + beta
			if nt && it.m == nil {
				VMOVNTPS(d, it.at(y))
			} else {
				it.store(d, y)
			}
		})
	})
	if nt {
		SFENCE() // order the non-temporal stores before whatever follows
	}
	finish()
}

func layerNormBackwardKernel(w width) {
	textf(w, "layerNormBackward", "func(dx, dgamma, dbeta, dy, x, mean, rstd, gamma *float32, rows, cols int)",
		"is the gradient of layerNorm for rows rows of cols elements (rows, cols > 0): with xhat = (x-mean)*rstd and g = dy*gamma, dx = rstd*(g - mean(g) - xhat*mean(g*xhat)); dgamma += dy*xhat and dbeta += dy, summed over the rows in order.")
	p := pointers("dx", "dgamma", "dbeta", "dy", "x", "mean", "rstd", "gamma")
	dx, dgamma, dbeta, dy, x, mean, rstd, gamma := p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
	rows, cols, rowBytes, colsF := rowSetup()
	count, off := GP64(), GP64()
	unroll := 1
	if w.zmm {
		unroll = 2
	}
	rowLoop(rows, []Register{dx, dy, x}, []Register{rowBytes, rowBytes, rowBytes}, []Register{mean, rstd}, func() {
		mv, rv := w.vec(), w.vec()
		VBROADCASTSS(Mem{Base: mean}, mv)
		VBROADCASTSS(Mem{Base: rstd}, rv)
		xhat := func(it iter) VecVirtual {
			v := it.load(x)
			VSUBPS(mv, v, v)
			VMULPS(rv, v, v)
			return v
		}
		s1 := accumulators(w, unroll, nil, "zero")
		m2 := rowMean(w, "sums", cols, count, off, colsF, unroll, func(it iter, s2 []VecVirtual) {
			xh := xhat(it)
			d := it.load(dy)
			g := w.vec()
			VMULPS(it.src(gamma), d, g)
			VADDPS(g, s1[it.v], s1[it.v])
			VFMADD231PS(xh, g, s2[it.v])
			dg := it.load(dgamma)
			VFMADD231PS(xh, d, dg)
			it.store(dg, dgamma)
			db := it.load(dbeta)
			VADDPS(d, db, db)
			it.store(db, dbeta)
		})
		m1 := w.reduce(foldInto(s1, VADDPS), VADDPS)
		VDIVSS(colsF, m1, m1)
		m1v, m2v := broadcast(w, m1), broadcast(w, m2)

		MOVQ(cols, count)
		w.vectorLoop("dx", count, off, 2*unroll, func(it iter) {
			xh := xhat(it)
			g := it.load(dy)
			VMULPS(it.src(gamma), g, g)
			VSUBPS(m1v, g, g)
			VFNMADD231PS(m2v, xh, g) // g -= xhat*mean(g*xhat)
			VMULPS(rv, g, g)
			it.store(g, dx)
		})
	})
	finish()
}
