package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// transposeKernel writes the transpose of an n x n block: dst[p*ldd+j] = src[j*lds+p] for
// j, p < n, with n = lanes (16 for AVX-512, 8 for AVX2). It loads the n rows, transposes them in
// registers and stores n rows:
//
//  1. VUNPCKLPS/VUNPCKHPS interleave row pairs (2x2 blocks inside each 128-bit lane);
//  2. VSHUFPS joins pairs of those into 4x4 blocks: register u_c of rows 4g..4g+3 holds, in lane
//     L, column 4L+c of those four rows;
//  3. the 128-bit lanes of the u_c of all row groups are transposed as a matrix of lanes
//     (VPERM2F128 for two groups of four rows, two rounds of VSHUFF32X4 for four), giving column
//     4L+c of all n rows.
func transposeKernel(name string, lanes int, newVec func() VecVirtual) {
	TEXT(name, NOSPLIT, "func(dst *float32, ldd int, src *float32, lds int)")
	Doc(fmt.Sprintf("%s sets dst[p*ldd+j] = src[j*lds+p] for j, p < %d (strides in elements).", name, lanes))
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	rows := make([]VecVirtual, lanes)
	for j := range rows {
		rows[j] = newVec()
		VMOVUPS(Mem{Base: src}, rows[j])
		if j+1 < lanes {
			ADDQ(lds, src)
		}
	}

	groups := lanes / 4
	u := make([][4]VecVirtual, groups) // u[g][c]
	for g := range groups {
		var t [4]VecVirtual
		for i := range t {
			t[i] = newVec()
		}
		r := rows[4*g : 4*g+4]
		VUNPCKLPS(r[1], r[0], t[0])
		VUNPCKHPS(r[1], r[0], t[1])
		VUNPCKLPS(r[3], r[2], t[2])
		VUNPCKHPS(r[3], r[2], t[3])
		for c := range u[g] {
			u[g][c] = newVec()
		}
		VSHUFPS(U8(0x44), t[2], t[0], u[g][0])
		VSHUFPS(U8(0xEE), t[2], t[0], u[g][1])
		VSHUFPS(U8(0x44), t[3], t[1], u[g][2])
		VSHUFPS(U8(0xEE), t[3], t[1], u[g][3])
	}

	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), ldd)
	out := make([]VecVirtual, lanes) // out[col]
	for c := range 4 {
		if groups == 2 {
			out[c], out[4+c] = newVec(), newVec()
			VPERM2F128(U8(0x20), u[1][c], u[0][c], out[c])
			VPERM2F128(U8(0x31), u[1][c], u[0][c], out[4+c])
			continue
		}
		var v [4]VecVirtual
		for i := range v {
			v[i] = newVec()
		}
		VSHUFF32X4(U8(0x44), u[1][c], u[0][c], v[0])
		VSHUFF32X4(U8(0xEE), u[1][c], u[0][c], v[1])
		VSHUFF32X4(U8(0x44), u[3][c], u[2][c], v[2])
		VSHUFF32X4(U8(0xEE), u[3][c], u[2][c], v[3])
		for l := range 4 {
			out[4*l+c] = newVec()
		}
		VSHUFF32X4(U8(0x88), v[2], v[0], out[c])
		VSHUFF32X4(U8(0xDD), v[2], v[0], out[4+c])
		VSHUFF32X4(U8(0x88), v[3], v[1], out[8+c])
		VSHUFF32X4(U8(0xDD), v[3], v[1], out[12+c])
	}
	for p := range out {
		VMOVUPS(out[p], Mem{Base: dst})
		if p+1 < lanes {
			ADDQ(ldd, dst)
		}
	}
	VZEROUPPER()
	RET()
}

// streamCopyKernel copies n floats (n a multiple of lanes, dst aligned to the vector size) with
// non-temporal stores, which write whole cache lines to memory without first reading them
// (no read-for-ownership) and without evicting the cache's working set. Results that are
// large and not read again soon (an attention output of many megabytes) are written this way.
// The stores are weakly ordered: callers end with streamFence.
func streamCopyKernel(name string, lanes int, newVec func() VecVirtual) {
	TEXT(name, NOSPLIT, "func(dst, src *float32, n int)")
	Doc(fmt.Sprintf("%s copies n floats (a multiple of %d) from src to dst (%d-byte aligned) with non-temporal stores.", name, lanes, 4*lanes))
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	SHRQ(U8(shift(lanes)), n)
	JZ(LabelRef("done"))
	v := newVec()
	Label("loop")
	VMOVUPS(Mem{Base: src}, v)
	VMOVNTPS(v, Mem{Base: dst})
	ADDQ(U32(4*lanes), src)
	ADDQ(U32(4*lanes), dst)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

func shift(lanes int) int {
	s := 0
	for 1<<s < lanes {
		s++
	}
	return s
}

// streamFence orders the non-temporal stores before it with every later store (SFENCE).
func streamFence() {
	TEXT("streamFence", NOSPLIT, "func()")
	Doc("streamFence makes non-temporal stores issued before it visible before any later store.")
	SFENCE()
	RET()
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
