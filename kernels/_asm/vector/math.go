package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// expConsts are the constants of expCore, most used first (for hoisting).
var expConsts = []string{"expLo", "expHi", "one", "log2e", "ln2Hi", "ln2Lo", "exp6", "exp5", "exp4", "exp3", "exp2", "exp1", "expBias"}

// clampExp clamps x to [expLo, expHi]. NaN stays NaN: MAXPS and MINPS return their second
// (Intel) source, the first in Go's order, when either is NaN, and that is x.
func clampExp(x VecVirtual, c *constPool) {
	VMAXPS(x, c.reg("expLo"), x)
	VMINPS(x, c.reg("expHi"), x)
}

// expCore returns exp(x + lo) for x clamped to [expLo, expHi] and lo small against x (nil for
// none): n = round(x log2e), r = x - n ln2Hi + lo - n ln2Lo, e^r by the degree-6 polynomial,
// scaled by 2^n. x is clobbered.
func expCore(w width, x VecVirtual, lo Op, c *constPool) VecVirtual {
	n := w.vec()
	VMULPS(c.op("log2e"), x, n)
	w.roundEven(n)
	VFNMADD231PS(c.op("ln2Hi"), n, x) // x -= n*ln2Hi (exact product, one rounding)
	if lo != nil {
		VADDPS(lo, x, x)
	}
	VFNMADD231PS(c.op("ln2Lo"), n, x)
	p := w.vec()
	c.load("exp6", p)
	for i := 5; i >= 1; i-- {
		VFMADD213PS(c.op(fmt.Sprintf("exp%d", i)), x, p) // p = p*r + c_i
	}
	VFMADD213PS(c.op("one"), x, p)
	w.scalePow2(p, n, c)
	return p
}

// geluConsts are the constants of geluTail, most used first.
var geluConsts = []string{"one", "absMask", "geluClamp", "expLo", "minusHalf", "geluK", "log2e", "ln2Hi", "ln2Lo",
	"exp6", "exp5", "exp4", "exp3", "exp2", "exp1",
	"gelu9", "gelu8", "gelu7", "gelu6", "gelu5", "gelu4", "gelu3", "gelu2", "gelu1", "gelu0", "expBias"}

// geluTail returns, for x, a = min(|x|, geluClamp), e = exp(-a*a/2) and q = Q(a), the normal
// upper tail mass 0.5 erfc(a/sqrt2) = e * t * S(t) with t = 1/(1 + geluK*a).
//
// -a*a/2 is formed exactly as hi + lo (b = -a/2 is exact, hi = a*b rounded, lo = a*b - hi by a
// fused multiply-subtract) and lo joins the reduced argument of exp, so no rounding of a*a
// reaches the result: that keeps q accurate relative to itself for large a. The clamp keeps
// 0 * Inf out: for |x| >= geluClamp, e and q are 0.
func geluTail(w width, x VecVirtual, c *constPool) (a, e, q VecVirtual) {
	a = w.vec()
	VANDPS(c.op("absMask"), x, a)
	VMINPS(a, c.reg("geluClamp"), a) // NaN stays NaN
	b := w.vec()
	VMULPS(c.op("minusHalf"), a, b)
	hi, lo := w.vec(), w.vec()
	VMULPS(b, a, hi)
	VMOVAPS(hi, lo)
	VFMSUB231PS(b, a, lo) // lo = a*b - hi
	VMAXPS(hi, c.reg("expLo"), hi)
	e = expCore(w, hi, lo, c)

	t := w.vec()
	VMOVAPS(a, t)
	VFMADD132PS(c.op("geluK"), c.reg("one"), t) // t = a*geluK + 1
	VDIVPS(t, c.reg("one"), t)                  // t = 1/t
	q = w.vec()
	c.load("gelu9", q)
	for i := 8; i >= 0; i-- {
		VFMADD213PS(c.op(fmt.Sprintf("gelu%d", i)), t, q) // q = q*t + s_i
	}
	VMULPS(t, q, q)
	VMULPS(e, q, q)
	return a, e, q
}

// gelu sets x = GELU(x) = max(x, 0) - a*Q(a) with a = |x|: for x > 0 that is x - x Q(x) =
// x Phi(x), for x <= 0 it is x Q(-x) = x Phi(x). One fused multiply-add rounds it.
func gelu(w width, x VecVirtual, c *constPool) {
	a, _, q := geluTail(w, x, c)
	VMAXPS(x, c.reg("zero"), x) // NaN stays NaN
	VFNMADD231PS(q, a, x)       // x -= a*q
}

// geluGrad returns GELU'(x) = Phi(x) + x phi(x), Phi(x) = 1 - Q(x) for x > 0 and Q(-x)
// otherwise, phi(x) = e / sqrt(2 pi); x is clamped to +-geluClamp in the x phi(x) term so that
// Inf * 0 gives no NaN.
func geluGrad(w width, x VecVirtual, c *constPool) VecVirtual {
	_, e, q := geluTail(w, x, c)
	VMULPS(c.op("invSqrt2Pi"), e, e)
	oneMinusQ := w.vec()
	VSUBPS(q, c.reg("one"), oneMinusQ)
	d := w.vec()
	w.selectBySign(x, q, oneMinusQ, d)
	VMAXPS(x, c.reg("geluNegClamp"), x)
	VMINPS(x, c.reg("geluClamp"), x)
	VFMADD231PS(e, x, d) // d += x*phi
	return d
}
