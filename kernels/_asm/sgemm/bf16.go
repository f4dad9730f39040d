package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// bf16Pairs generates the conversion of float32 values to bf16 pairs that packs A for the bf16
// kernel: 32 values at a time, loaded as two vectors and rounded to nearest even by one
// VCVTNE2PS2BF16 into 16 pairs (value 2i in the low, 2i+1 in the high half of pair i). The last
// n % 32 values go through the same conversion with masked loads, which read nothing past the
// end and load zeros in its place (the high half of the last pair when n is odd), and a masked
// store of the (n % 32 + 1) / 2 pairs they make.
func bf16Pairs() {
	TEXT("bf16PairsAVX512", NOSPLIT, "func(dst *float32, src *float32, n int)")
	Doc("bf16PairsAVX512 rounds the n float32 values at src to bf16 and writes them as (n+1)/2 pairs of 32 bits at dst, the high half of the last pair zero when n is odd.")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64()).(GPVirtual)
	blocks := GP64()
	MOVQ(n, blocks)
	SHRQ(U8(5), blocks)
	JZ(LabelRef("tail"))
	Label("loop")
	VMOVUPS(Mem{Base: src}, Z0)
	VMOVUPS(Mem{Base: src}.Offset(64), Z1)
	// The second source (Z0, values 0..15) fills the low half, the first (Z1) the high half.
	opVCVTNE2PS2BF16.emit(Z2, Z1, Z0)
	VMOVUPS(Z2, Mem{Base: dst})
	ADDQ(U8(128), src)
	ADDQ(U8(64), dst)
	DECQ(blocks)
	JNZ(LabelRef("loop"))

	Label("tail")
	ANDQ(U8(31), n)
	JZ(LabelRef("done"))
	ones, bits := GP32(), GP32()
	MOVL(U32(0xffffffff), ones)
	BZHIL(n.As32(), ones, bits) // the low n%32 bits: one per value left
	KMOVW(bits, K1)
	SHRL(U8(16), bits)
	KMOVW(bits, K2)
	VMOVUPS_Z(Mem{Base: src}, K1, Z0)
	VMOVUPS_Z(Mem{Base: src}.Offset(64), K2, Z1)
	opVCVTNE2PS2BF16.emit(Z2, Z1, Z0)
	INCQ(n)
	SHRQ(U8(1), n)
	BZHIL(n.As32(), ones, bits) // one bit per pair
	KMOVW(bits, K3)
	VMOVDQU32(Z2, K3, Mem{Base: dst})
	Label("done")
	VZEROUPPER()
	RET()
}

// bf16ColumnPairs generates the rounding of two rows to bf16 pairs down their columns, the
// operand layout of a bf16 product whose depth runs along the rows (roundColumnPairs): column j
// of row lo in the low and of row hi in the high half of pair j. Per 16 columns one
// VCVTNE2PS2BF16 rounds lo into the low 16 words of a register and hi into the high 16, and one
// VPERMW with the constant index table 0,16,1,17,...,15,31 interleaves them so that dword j is
// lo_j | hi_j<<16. The loop takes 32 columns at a time, then a last 16 if n asks for them.
func bf16ColumnPairs() {
	idx := GLOBL("bf16ColumnPairsIndex", RODATA|NOPTR)
	for j := 0; j < 16; j++ {
		// Word 2j (the low half of dword j) is lo_j, word 2j+1 is hi_j.
		DATA(4*j, U32(j|(16+j)<<16))
	}

	TEXT("bf16ColumnPairsAVX512", NOSPLIT, "func(dst, lo, hi *float32, n int)")
	Doc("bf16ColumnPairsAVX512 rounds the n float32 values at lo and at hi to bf16 and writes them as n pairs of 32 bits at dst: dst[j] holds lo[j] in its low and hi[j] in its high 16 bits. n is a multiple of 16 (or 0).")
	dst := Load(Param("dst"), GP64())
	lo := Load(Param("lo"), GP64())
	hi := Load(Param("hi"), GP64())
	n := Load(Param("n"), GP64())
	// The registers are physical: the raw encoding of VCVTNE2PS2BF16 names them.
	perm := Z6
	VMOVDQU64(idx, perm)
	blocks := GP64()
	MOVQ(n, blocks)
	SHRQ(U8(5), blocks)
	JZ(LabelRef("tail"))

	Label("loop")
	VMOVUPS(Mem{Base: lo}, Z0)
	VMOVUPS(Mem{Base: hi}, Z1)
	VMOVUPS(Mem{Base: lo}.Offset(64), Z3)
	VMOVUPS(Mem{Base: hi}.Offset(64), Z4)
	// The second source (lo) fills the low 16 words, the first (hi) the high 16.
	opVCVTNE2PS2BF16.emit(Z2, Z1, Z0)
	opVCVTNE2PS2BF16.emit(Z5, Z4, Z3)
	// Word 2j takes lo_j (word j), word 2j+1 takes hi_j (word 16+j).
	VPERMW(Z2, perm, Z2)
	VPERMW(Z5, perm, Z5)
	VMOVUPS(Z2, Mem{Base: dst})
	VMOVUPS(Z5, Mem{Base: dst}.Offset(64))
	ADDQ(U8(128), lo)
	ADDQ(U8(128), hi)
	ADDQ(U8(128), dst)
	DECQ(blocks)
	JNZ(LabelRef("loop"))

	Label("tail")
	TESTQ(U32(16), n)
	JZ(LabelRef("done"))
	VMOVUPS(Mem{Base: lo}, Z0)
	VMOVUPS(Mem{Base: hi}, Z1)
	opVCVTNE2PS2BF16.emit(Z2, Z1, Z0)
	VPERMW(Z2, perm, Z2)
	VMOVUPS(Z2, Mem{Base: dst})

	Label("done")
	VZEROUPPER()
	RET()
}
