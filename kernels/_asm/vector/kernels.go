package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// paramAddr is the memory operand of an argument, so a float32 can be broadcast straight into a
// vector register (legacy SSE loads cannot reach X16-X31, and Load cannot place a float32 in a
// general register).
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// returnAddr is the memory operand of the float32 result.
func returnAddr() Mem {
	b, err := ReturnIndex(0).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// broadcastParam loads the float32 argument name into every lane of a new register.
func broadcastParam(w width, name string) VecVirtual {
	v := w.vec()
	VBROADCASTSS(paramAddr(name), v)
	return v
}

// hoistBudget hoists as many of names, in order, as leave live registers for the loop body and
// a spare. AVX-512 scales by VSCALEFPS and never needs expBias.
func (w width) hoistBudget(live int, names ...string) *constPool {
	var used []string
	for _, n := range names {
		if !(w.zmm && n == "expBias") {
			used = append(used, n)
		}
	}
	n := max(0, min(len(used), w.regs-live-2))
	return w.hoist(used[:n]...)
}

// pointers loads the pointer arguments.
func pointers(names ...string) []Register {
	r := make([]Register, len(names))
	for i, n := range names {
		r[i] = Load(Param(n), GP64())
	}
	return r
}

// textf starts a kernel of width w: the name gets the width's suffix, doc its first line.
func textf(w width, name, signature, doc string, args ...any) {
	TEXT(name+w.suffix, NOSPLIT, signature)
	Doc(fmt.Sprintf("%s%s "+doc, append([]any{name, w.suffix}, args...)...))
}

// finish ends an AVX function.
func finish() {
	VZEROUPPER()
	RET()
}

func addKernel(w width) {
	textf(w, "add", "func(dst, a, b *float32, n int)", "sets dst[i] = a[i] + b[i] for i < n.")
	p := pointers("dst", "a", "b")
	n := Load(Param("n"), GP64())
	w.vectorLoop("add", n, GP64(), 4, func(it iter) {
		v := it.load(p[1])
		VADDPS(it.src(p[2]), v, v)
		it.store(v, p[0])
	})
	finish()
}

func scaleKernel(w width) {
	textf(w, "scale", "func(dst *float32, alpha float32, x *float32, n int)", "sets dst[i] = alpha * x[i] for i < n.")
	p := pointers("dst", "x")
	alpha := broadcastParam(w, "alpha")
	n := Load(Param("n"), GP64())
	w.vectorLoop("scale", n, GP64(), 4, func(it iter) {
		v := w.vec()
		VMULPS(it.src(p[1]), alpha, v)
		it.store(v, p[0])
	})
	finish()
}

func axpyKernel(w width) {
	textf(w, "axpy", "func(alpha float32, x, y *float32, n int)", "sets y[i] += alpha * x[i] for i < n (one rounding).")
	p := pointers("x", "y")
	alpha := broadcastParam(w, "alpha")
	n := Load(Param("n"), GP64())
	w.vectorLoop("axpy", n, GP64(), 4, func(it iter) {
		v := it.load(p[1])
		VFMADD231PS(it.src(p[0]), alpha, v) // v += alpha*x
		it.store(v, p[1])
	})
	finish()
}

// accumulators returns n vectors set to the constant name.
func accumulators(w width, n int, c *constPool, name string) []VecVirtual {
	acc := make([]VecVirtual, n)
	for i := range acc {
		acc[i] = w.vec()
		if name == "zero" {
			VXORPS(acc[i], acc[i], acc[i])
		} else {
			c.load(name, acc[i])
		}
	}
	return acc
}

// foldInto combines acc[1:] into acc[0] with op, pairwise.
func foldInto(acc []VecVirtual, op func(...Op)) VecVirtual {
	for len(acc) > 1 {
		half := (len(acc) + 1) / 2
		for i := half; i < len(acc); i++ {
			op(acc[i], acc[i-half], acc[i-half])
		}
		acc = acc[:half]
	}
	return acc[0]
}

const reduceUnroll = 4

func sumKernel(w width) {
	textf(w, "sum", "func(x *float32, n int) float32", "returns the sum of x[:n], in %d*%d partial sums.", reduceUnroll, w.lanes)
	p := pointers("x")
	n := Load(Param("n"), GP64())
	acc := accumulators(w, reduceUnroll, nil, "zero")
	w.vectorLoop("sum", n, GP64(), reduceUnroll, func(it iter) {
		VADDPS(it.src(p[0]), acc[it.v], acc[it.v])
	})
	s := w.reduce(foldInto(acc, VADDPS), VADDPS)
	VMOVSS(s, returnAddr())
	finish()
}

func dotKernel(w width) {
	textf(w, "dot", "func(x, y *float32, n int) float32", "returns the sum of x[i]*y[i] for i < n, in %d*%d partial sums.", reduceUnroll, w.lanes)
	p := pointers("x", "y")
	n := Load(Param("n"), GP64())
	acc := accumulators(w, reduceUnroll, nil, "zero")
	w.vectorLoop("dot", n, GP64(), reduceUnroll, func(it iter) {
		v := it.load(p[0])
		VFMADD231PS(it.src(p[1]), v, acc[it.v])
	})
	s := w.reduce(foldInto(acc, VADDPS), VADDPS)
	VMOVSS(s, returnAddr())
	finish()
}

func maxKernel(w width) {
	textf(w, "max", "func(x *float32, n int) float32", "returns the largest of x[:n] (n > 0), NaN if any is NaN.")
	p := pointers("x")
	n := Load(Param("n"), GP64())
	c := w.hoist("negInf")
	acc := accumulators(w, reduceUnroll, c, "negInf")
	nan := w.newNaNFlag()
	w.vectorLoop("max", n, GP64(), reduceUnroll, func(it iter) {
		v := it.load(p[0])
		if it.m != nil {
			w.fillOutside(*it.m, v, c.reg("negInf"))
		}
		w.note(nan, v)
		VMAXPS(v, acc[it.v], acc[it.v])
	})
	m := w.reduce(foldInto(acc, VMAXPS), VMAXPS)
	w.jumpIfClear(nan, "result")
	VMOVSS(constMem("absMask"), m) // 0x7fffffff is a NaN
	Label("result")
	VMOVSS(m, returnAddr())
	finish()
}

func expKernel(w width) {
	textf(w, "exp", "func(dst, x *float32, n int)", "sets dst[i] = exp(x[i]) for i < n.")
	p := pointers("dst", "x")
	n := Load(Param("n"), GP64())
	unroll := 1
	if w.zmm {
		unroll = 2
	}
	c := w.hoistBudget(5*unroll, expConsts...)
	w.vectorLoop("exp", n, GP64(), unroll, func(it iter) {
		x := it.load(p[1])
		clampExp(x, c)
		it.store(expCore(w, x, nil, c), p[0])
	})
	finish()
}

func expSumKernel(w width) {
	textf(w, "expSum", "func(dst, x *float32, shift float32, n int) float32", "sets dst[i] = exp(x[i] - shift) for i < n and returns their sum.")
	p := pointers("dst", "x")
	n := Load(Param("n"), GP64())
	unroll := 1
	if w.zmm {
		unroll = 2
	}
	shift := broadcastParam(w, "shift")
	acc := accumulators(w, unroll, nil, "zero")
	c := w.hoistBudget(6*unroll+1, expConsts...)
	w.vectorLoop("expSum", n, GP64(), unroll, func(it iter) {
		x := it.load(p[1])
		VSUBPS(shift, x, x)
		clampExp(x, c)
		e := expCore(w, x, nil, c)
		it.store(e, p[0])
		if it.m != nil {
			w.zeroOutside(*it.m, e)
		}
		VADDPS(e, acc[it.v], acc[it.v])
	})
	s := w.reduce(foldInto(acc, VADDPS), VADDPS)
	VMOVSS(s, returnAddr())
	finish()
}

// geluUnroll is the unroll of the GELU loops and geluLive the registers one vector keeps live.
func geluUnroll(w width) (unroll, live int) {
	if w.zmm {
		return 2, 8
	}
	return 1, 8
}

func geluKernel(w width) {
	textf(w, "gelu", "func(dst, x *float32, n int)", "sets dst[i] = GELU(x[i]) = x[i] Phi(x[i]) for i < n.")
	p := pointers("dst", "x")
	n := Load(Param("n"), GP64())
	unroll, live := geluUnroll(w)
	c := w.hoistBudget(unroll*live, append([]string{"zero"}, geluConsts...)...)
	w.vectorLoop("gelu", n, GP64(), unroll, func(it iter) {
		x := it.load(p[1])
		gelu(w, x, c)
		it.store(x, p[0])
	})
	finish()
}

func geluBackwardKernel(w width) {
	textf(w, "geluBackward", "func(dx, dy, x *float32, n int)", "sets dx[i] = dy[i] * GELU'(x[i]) for i < n.")
	p := pointers("dx", "dy", "x")
	n := Load(Param("n"), GP64())
	unroll, live := geluUnroll(w)
	c := w.hoistBudget(unroll*(live+1), append(geluConsts, "invSqrt2Pi", "geluNegClamp")...)
	w.vectorLoop("geluBackward", n, GP64(), unroll, func(it iter) {
		x := it.load(p[2])
		d := geluGrad(w, x, c)
		VMULPS(it.src(p[1]), d, d)
		it.store(d, p[0])
	})
	finish()
}

// biasGELUKernel emits biasGELU, or with withPre biasGELUPre, over a tile of rows x cols
// (GEMM epilogues): the constants are loaded once per tile, not once per row.
func biasGELUKernel(w width, withPre bool) {
	name, sig := "biasGELU", "func(dst *float32, ldd int, bias *float32, rows, cols int)"
	doc := "sets dst[r*ldd+j] = GELU(dst[r*ldd+j] + bias[j]) for r < rows, j < cols (both > 0)."
	if withPre {
		name, sig = "biasGELUPre", "func(dst *float32, ldd int, pre *float32, ldp int, bias *float32, rows, cols int)"
		doc = "sets pre[r*ldp+j] = dst[r*ldd+j] + bias[j] and dst[r*ldd+j] = GELU(pre[r*ldp+j]) for r < rows, j < cols (both > 0)."
	}
	textf(w, name, sig, doc)
	ptrs, strides := []Register{Load(Param("dst"), GP64())}, []Register{Load(Param("ldd"), GP64())}
	if withPre {
		ptrs, strides = append(ptrs, Load(Param("pre"), GP64())), append(strides, Load(Param("ldp"), GP64()))
	}
	bias := Load(Param("bias"), GP64())
	unroll, live := geluUnroll(w)
	c := w.hoistBudget(unroll*live, append([]string{"zero"}, geluConsts...)...)
	w.tileLoop(name, ptrs, strides, unroll, func(it iter) {
		x := it.load(ptrs[0])
		VADDPS(it.src(bias), x, x)
		if withPre {
			it.store(x, ptrs[1])
		}
		gelu(w, x, c)
		it.store(x, ptrs[0])
	})
	finish()
}

// geluGradKernel emits geluGrad, GELU's backward pass applied in place to a tile (the epilogue
// of the product that computes the gradient of GELU's output).
func geluGradKernel(w width) {
	textf(w, "geluGrad", "func(dst *float32, ldd int, x *float32, ldx int, rows, cols int)",
		"multiplies dst[r*ldd+j] by GELU'(x[r*ldx+j]) for r < rows, j < cols (both > 0).")
	ptrs := []Register{Load(Param("dst"), GP64()), Load(Param("x"), GP64())}
	strides := []Register{Load(Param("ldd"), GP64()), Load(Param("ldx"), GP64())}
	unroll, live := geluUnroll(w)
	c := w.hoistBudget(unroll*(live+1), append(geluConsts, "invSqrt2Pi", "geluNegClamp")...)
	w.tileLoop("geluGrad", ptrs, strides, unroll, func(it iter) {
		d := geluGrad(w, it.load(ptrs[1]), c)
		VMULPS(it.src(ptrs[0]), d, d)
		it.store(d, ptrs[0])
	})
	finish()
}

// tileLoop walks a tile of the rows and cols arguments (both > 0) with vectorLoop, a row at a
// time: after each row, pointer i moves on by strides[i] elements.
func (w width) tileLoop(prefix string, ptrs, strides []Register, unroll int, body func(it iter)) {
	rows, cols := Load(Param("rows"), GP64()), Load(Param("cols"), GP64())
	for _, s := range strides {
		SHLQ(U8(2), s)
	}
	count, off := GP64(), GP64()
	rowLoop(rows, ptrs, strides, nil, func() {
		MOVQ(cols, count)
		w.vectorLoop(prefix, count, off, unroll, body)
	})
}

func addScaledMulKernel(w width) {
	textf(w, "addScaledMul", "func(dst, a, b *float32, s, t float32, n int)", "sets dst[i] = (a[i] + s*b[i]) * t for i < n.")
	p := pointers("dst", "a", "b")
	s := broadcastParam(w, "s")
	t := broadcastParam(w, "t")
	n := Load(Param("n"), GP64())
	w.vectorLoop("addScaledMul", n, GP64(), 4, func(it iter) {
		v := it.load(p[1])
		VFMADD231PS(it.src(p[2]), s, v) // v += s*b
		VMULPS(t, v, v)
		it.store(v, p[0])
	})
	finish()
}
