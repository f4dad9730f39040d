package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// width is one vector width: 16 lanes in ZMM registers (AVX-512) or 8 lanes in YMM registers
// (AVX2+FMA). Every kernel is written once against it; the few operations the two instruction
// sets do differently (masks, rounding, the power-of-two scaling of exp, lane selection) are its
// methods.
type width struct {
	suffix string // appended to every kernel name
	lanes  int
	zmm    bool
	regs   int // vector registers the allocator may use
}

var (
	avx512 = width{suffix: "AVX512", lanes: 16, zmm: true, regs: 32}
	avx2   = width{suffix: "AVX2", lanes: 8, zmm: false, regs: 16}
)

func (w width) vecBytes() int { return 4 * w.lanes }

// vec returns a new virtual vector register of the width.
func (w width) vec() VecVirtual {
	if w.zmm {
		return ZMM()
	}
	return YMM()
}

// mask selects the first lanes of a vector: the tail of a loop, shorter than a vector. AVX-512
// keeps it in an opmask register, AVX2 in a vector whose selected lanes are all ones.
type mask struct {
	k Register
	v VecVirtual
}

// tailMask returns the mask of the first count lanes (0 < count < lanes).
func (w width) tailMask(count Register) mask {
	iota := constMem("iota")
	if w.zmm {
		n := ZMM()
		VPBROADCASTD(count.(GPVirtual).As32(), n)
		k := K()
		VPCMPGTD(iota, n, k) // lane i is selected when count > i
		return mask{k: k}
	}
	n := YMM()
	VMOVD(count.(GPVirtual).As32(), n.AsX())
	VPBROADCASTD(n.AsX(), n)
	VPCMPGTD(iota, n, n)
	return mask{v: n}
}

// loadMasked loads the selected lanes of src into dst and zeroes the others; memory past the
// selected lanes is not touched.
func (w width) loadMasked(m mask, src Mem, dst VecVirtual) {
	if w.zmm {
		VMOVUPS_Z(src, m.k, dst)
		return
	}
	VMASKMOVPS(src, m.v, dst)
}

// storeMasked stores the selected lanes of src (merge masking: zero-masked stores fault).
func (w width) storeMasked(m mask, src VecVirtual, dst Mem) {
	if w.zmm {
		VMOVUPS(src, m.k, dst)
		return
	}
	VMASKMOVPS(src, m.v, dst)
}

// zeroOutside zeroes the lanes of v that m does not select.
func (w width) zeroOutside(m mask, v VecVirtual) {
	if w.zmm {
		VMOVAPS_Z(v, m.k, v)
		return
	}
	VANDPS(m.v, v, v)
}

// fillOutside sets the lanes of v that m does not select to those of fill.
func (w width) fillOutside(m mask, v, fill VecVirtual) {
	if w.zmm {
		VBLENDMPS(v, fill, m.k, v) // v = k ? v : fill
		return
	}
	VBLENDVPS(m.v, v, fill, v) // v = mask ? v : fill
}

// selectBySign sets dst to neg in the lanes where the sign bit of x is set, to other elsewhere.
func (w width) selectBySign(x, neg, other, dst VecVirtual) {
	if w.zmm {
		k := K()
		VPMOVD2M(x, k)
		VBLENDMPS(neg, other, k, dst) // dst = k ? neg : other
		return
	}
	VBLENDVPS(x, neg, other, dst) // dst = sign(x) ? neg : other
}

// roundEven rounds every lane of v to the nearest integer, ties to even.
func (w width) roundEven(v VecVirtual) {
	if w.zmm {
		VRNDSCALEPS(U8(0), v, v)
		return
	}
	VROUNDPS(U8(0), v, v)
}

// scalePow2 sets p = p * 2^n for integral n in [-152, 128] with a single rounding, so subnormal
// results are correctly rounded and large ones overflow to +Inf. AVX-512 has VSCALEFPS. AVX2
// builds the powers of two in the exponent field, in two factors 2^(n>>1) and 2^(n-(n>>1)) that
// each stay normal: the first product is exact and only the second rounds.
func (w width) scalePow2(p, n VecVirtual, c *constPool) {
	if w.zmm {
		VSCALEFPS(n, p, p)
		return
	}
	hi, lo := YMM(), YMM()
	VCVTPS2DQ(n, hi)
	VPSRAD(U8(1), hi, lo) // lo = n >> 1
	VPSUBD(lo, hi, hi)    // hi = n - (n >> 1)
	VPADDD(c.op("expBias"), lo, lo)
	VPSLLD(U8(23), lo, lo)
	VPADDD(c.op("expBias"), hi, hi)
	VPSLLD(U8(23), hi, hi)
	VMULPS(lo, p, p)
	VMULPS(hi, p, p)
}

// reduce folds the lanes of v with op (VADDPS, VMAXPS, ...) and returns an XMM register whose
// lowest lane holds the result. v is clobbered.
func (w width) reduce(v VecVirtual, op func(ops ...Op)) VecVirtual {
	x := XMM()
	if w.zmm {
		y := YMM()
		VEXTRACTF32X8(U8(1), v, y)
		op(y, v.AsY(), y)
		VEXTRACTF32X4(U8(1), y, x)
		op(x, y.AsX(), x)
	} else {
		VEXTRACTF128(U8(1), v, x)
		op(x, v.AsX(), x)
	}
	t := XMM()
	VPERMILPS(U8(0x4e), x, t) // swap the 64-bit halves
	op(t, x, x)
	VPERMILPS(U8(0xb1), x, t) // swap neighbours
	op(t, x, x)
	return x
}

// nanFlag records whether any lane of any vector seen was NaN.
type nanFlag struct {
	k Register
	v VecVirtual
}

func (w width) newNaNFlag() nanFlag {
	if w.zmm {
		k := K()
		KXORW(k, k, k)
		return nanFlag{k: k}
	}
	v := YMM()
	VXORPS(v, v, v)
	return nanFlag{v: v}
}

// note adds the NaN lanes of x to the flag.
func (w width) note(f nanFlag, x VecVirtual) {
	if w.zmm {
		k := K()
		VCMPPS(U8(3), x, x, k) // unordered: x is NaN
		KORW(k, f.k, f.k)
		return
	}
	t := YMM()
	VCMPPS(U8(3), x, x, t)
	VORPS(t, f.v, f.v)
}

// jumpIfClear jumps to label when the flag saw no NaN.
func (w width) jumpIfClear(f nanFlag, label string) {
	if w.zmm {
		KORTESTW(f.k, f.k)
	} else {
		VPTEST(f.v, f.v)
	}
	JZ(LabelRef(label))
}

// iter is one vector of a vectorLoop: the v-th vector of the current pass, at byte offset
// off + v*vecBytes from each base pointer, masked by m in the tail (m == nil elsewhere).
type iter struct {
	w   width
	off Register
	v   int
	m   *mask
}

// at is the address of the vector in the array at base.
func (it iter) at(base Register) Mem {
	return Mem{Base: base, Index: it.off, Scale: 1, Disp: it.v * it.w.vecBytes()}
}

// load returns the vector of the array at base in a new register (masked in the tail).
func (it iter) load(base Register) VecVirtual {
	r := it.w.vec()
	if it.m != nil {
		it.w.loadMasked(*it.m, it.at(base), r)
	} else {
		VMOVUPS(it.at(base), r)
	}
	return r
}

// src returns the vector of the array at base as an operand for an arithmetic instruction: the
// memory operand itself, or in the tail a masked load (a full-width memory operand would read
// past the end).
func (it iter) src(base Register) Op {
	if it.m != nil {
		return it.load(base)
	}
	return it.at(base)
}

// store writes v to the array at base (only the selected lanes in the tail).
func (it iter) store(v VecVirtual, base Register) {
	if it.m != nil {
		it.w.storeMasked(*it.m, v, it.at(base))
		return
	}
	VMOVUPS(v, it.at(base))
}

// vectorLoop walks count elements (the register is clobbered): unroll vectors per pass while
// that many remain, then single vectors, then one masked vector for the last count % lanes.
// off, the byte offset of the pass, starts at zero. body emits the work of one vector; in the
// single and masked passes it is always vector 0, so per-vector accumulators fold into the first.
func (w width) vectorLoop(prefix string, count, off Register, unroll int, body func(it iter)) {
	label := func(s string) string { return fmt.Sprintf("%s_%s", prefix, s) }
	XORQ(off, off)
	if unroll > 1 {
		CMPQ(count, U32(unroll*w.lanes))
		JB(LabelRef(label("single")))
		Label(label("unrolled"))
		for v := 0; v < unroll; v++ {
			body(iter{w: w, off: off, v: v})
		}
		ADDQ(U32(unroll*w.vecBytes()), off)
		SUBQ(U32(unroll*w.lanes), count)
		CMPQ(count, U32(unroll*w.lanes))
		JAE(LabelRef(label("unrolled")))
	}
	Label(label("single"))
	CMPQ(count, U32(w.lanes))
	JB(LabelRef(label("tail")))
	body(iter{w: w, off: off})
	ADDQ(U32(w.vecBytes()), off)
	SUBQ(U32(w.lanes), count)
	JMP(LabelRef(label("single")))
	Label(label("tail"))
	TESTQ(count, count)
	JZ(LabelRef(label("done")))
	m := w.tailMask(count)
	body(iter{w: w, off: off, m: &m})
	Label(label("done"))
}
