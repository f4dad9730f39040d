package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// bf16Pairs generates the conversion of float32 values to bf16 pairs that packs A for the bf16
// kernel: 32 values at a time, loaded as two vectors and rounded to nearest even by one
// VCVTNE2PS2BF16 into 16 pairs (value 2i in the low, 2i+1 in the high half of pair i).
func bf16Pairs() {
	TEXT("bf16PairsAVX512", NOSPLIT, "func(dst *float32, src *float32, n int)")
	Doc("bf16PairsAVX512 rounds the n float32 values at src to bf16 and writes them as n/2 pairs of 32 bits at dst. n is a multiple of 32 (or 0).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	SHRQ(U8(5), n)
	JZ(LabelRef("done"))
	Label("loop")
	VMOVUPS(Mem{Base: src}, Z0)
	VMOVUPS(Mem{Base: src}.Offset(64), Z1)
	// The second source (Z0, values 0..15) fills the low half, the first (Z1) the high half.
	opVCVTNE2PS2BF16.emit(Z2, Z1, Z0)
	VMOVUPS(Z2, Mem{Base: dst})
	ADDQ(U8(128), src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
