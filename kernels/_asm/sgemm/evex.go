package main

import (
	"encoding/binary"
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// A small EVEX encoder for the AVX512_BF16 instructions, which neither Go's assembler nor avo
// knows. Each is emitted as data directives behind a comment naming the instruction in Intel
// operand order. Only the register-to-register 512-bit form without masking is encoded: that is
// all the kernels use. Layout of the four-byte prefix (Intel SDM vol. 2, 2.7.1):
//
//	0x62
//	P0: R̄ X̄ B̄ R̄' 0 0 m m   R, R' extend ModRM.reg; X, B extend ModRM.rm; mm selects 0F/0F38/0F3A
//	P1: W v̄ v̄ v̄ v̄ 1 p p    vvvv is the low four bits of the second source, inverted; pp the legacy prefix
//	P2: z L' L b V̄' a a a   L'L = 10 for 512 bits; V' the fifth bit of vvvv, inverted; aaa the mask
//
// followed by the opcode and ModRM = 11 reg rm.

// evexOp is one EVEX-encoded operation: its map, legacy prefix, W bit and opcode byte.
type evexOp struct {
	name   string
	mm, pp byte // mm: 1 = 0F, 2 = 0F38, 3 = 0F3A; pp: 0 none, 1 = 66, 2 = F3, 3 = F2
	w      byte
	opcode byte
}

var (
	// VDPBF16PS zmm1, zmm2, zmm3: zmm1[i] += zmm2.bf16[2i]*zmm3.bf16[2i] + zmm2.bf16[2i+1]*zmm3.bf16[2i+1]
	// (EVEX.512.F3.0F38.W0 52 /r).
	opVDPBF16PS = evexOp{name: "VDPBF16PS", mm: 2, pp: 2, w: 0, opcode: 0x52}
	// VCVTNE2PS2BF16 zmm1, zmm2, zmm3: the 16 floats of zmm3 rounded to bf16 in the low half of
	// zmm1, those of zmm2 in the high half (EVEX.512.F2.0F38.W0 72 /r).
	opVCVTNE2PS2BF16 = evexOp{name: "VCVTNE2PS2BF16", mm: 2, pp: 3, w: 0, opcode: 0x72}
)

// encode returns the bytes of op dst, src1, src2 for 512-bit registers numbered 0 to 31.
func (op evexOp) encode(dst, src1, src2 int) []byte {
	for _, r := range []int{dst, src1, src2} {
		if r < 0 || r > 31 {
			panic(fmt.Sprintf("evex: %s: register %d out of range", op.name, r))
		}
	}
	inv := func(v int, bit uint) byte { return byte(^v>>bit) & 1 }
	p0 := inv(dst, 3)<<7 | inv(src2, 4)<<6 | inv(src2, 3)<<5 | inv(dst, 4)<<4 | op.mm
	p1 := op.w<<7 | byte(^src1&15)<<3 | 1<<2 | op.pp
	p2 := byte(2)<<5 | inv(src1, 4)<<3
	modrm := byte(3)<<6 | byte(dst&7)<<3 | byte(src2&7)
	return []byte{0x62, p0, p1, p2, op.opcode, modrm}
}

// intel is the instruction in Intel syntax, as the comment above its bytes shows it.
func (op evexOp) intel(dst, src1, src2 int) string {
	return fmt.Sprintf("%s Z%d, Z%d, Z%d", op.name, dst, src1, src2)
}

// emit writes op dst, src1, src2 into the function being generated: the six bytes as a LONG and
// a WORD directive (little-endian), behind a comment naming the instruction.
func (op evexOp) emit(dst, src1, src2 vector) {
	d, s1, s2 := zmmNumber(dst), zmmNumber(src1), zmmNumber(src2)
	b := op.encode(d, s1, s2)
	Comment(op.intel(d, s1, s2))
	Instruction(&ir.Instruction{Opcode: "LONG", Operands: []Op{U32(binary.LittleEndian.Uint32(b[:4]))}})
	Instruction(&ir.Instruction{Opcode: "WORD", Operands: []Op{U16(binary.LittleEndian.Uint16(b[4:]))}})
}

// zmmNumber is the number of a physical vector register (X, Y or Z of that number).
func zmmNumber(v vector) int {
	p, ok := v.(reg.Physical)
	if !ok {
		panic(fmt.Sprintf("evex: %v is not a physical register: raw encodings cannot be register-allocated", v))
	}
	return int(p.PhysicalIndex())
}

// vector is a vector register, virtual or physical, usable as an operand.
type vector interface {
	reg.Register
	reg.Vec
}
