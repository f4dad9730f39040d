// Command stream generates the non-temporal copies of package kernels, with which large
// results are written (a ZMM and a YMM version), and the fence that ends them.
//
// Run `go generate` in package kernels (or `make generate`) to rewrite stream_amd64.s and
// stream_amd64.go.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego")
	streamCopyKernel("streamCopyAVX512", 16, func() VecVirtual { return ZMM() })
	streamCopyKernel("streamCopyAVX2", 8, func() VecVirtual { return YMM() })
	streamFence()
	Generate()
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
