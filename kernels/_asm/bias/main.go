// Command bias generates the bias-adds of package kernels' BiasCols epilogue: one column panel
// of a finished tile of C at a time, as wide as the SGEMM micro-kernel of the path (32 columns
// for AVX-512, 16 for AVX2).
//
// Run `go generate` in package kernels (or `make generate`) to rewrite bias_amd64.s and
// bias_amd64.go.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego")
	biasRowsKernel("biasRows32AVX512", 16, func() VecVirtual { return ZMM() })
	biasRowsKernel("biasRows16AVX2", 8, func() VecVirtual { return YMM() })
	Generate()
}

// biasRowsKernel adds the same 2*lanes bias values to each of rows rows of a tile of C (rows
// ldc floats apart): the BiasCols epilogue for one column panel of a finished tile.
func biasRowsKernel(name string, lanes int, newVec func() VecVirtual) {
	TEXT(name, NOSPLIT, "func(c *float32, ldc, rows int, bias *float32)")
	Doc(fmt.Sprintf("%s adds bias[0:%d] to c[r*ldc : r*ldc+%d] for every r < rows (rows may be 0).", name, 2*lanes, 2*lanes))
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	rows := Load(Param("rows"), GP64())
	bias := Load(Param("bias"), GP64())
	b0, b1 := newVec(), newVec()
	VMOVUPS(Mem{Base: bias}, b0)
	VMOVUPS(Mem{Base: bias}.Offset(4*lanes), b1)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("loop")
	for i, b := range []VecVirtual{b0, b1} {
		v := newVec()
		VADDPS(Mem{Base: c}.Offset(4*lanes*i), b, v)
		VMOVUPS(v, Mem{Base: c}.Offset(4*lanes*i))
	}
	ADDQ(ldc, c)
	DECQ(rows)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
