// Command moves generates the data-movement kernels of package kernels, one family per run
// (-family), each into a file named after it:
//
//   - transpose: the block transposes that pack transposed operands for the SGEMM micro-kernels,
//     one 16x16 block in ZMM registers for AVX-512 and one 8x8 block in YMM registers for AVX2;
//   - stream: the non-temporal copies with which large results are written (a ZMM and a YMM
//     version), and the fence that ends them;
//   - bias: the bias-adds of the BiasCols epilogue, one column panel of a finished tile of C at a
//     time, as wide as the SGEMM micro-kernel of the path (32 columns for AVX-512, 16 for AVX2).
//
// Run `go generate` in package kernels (or `make generate`) to rewrite transpose_amd64.s,
// stream_amd64.s, bias_amd64.s and their Go stubs.
package main

import (
	"flag"
	"log"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/reg"
)

// families are the kernels of each -family, in the order they are written.
var families = map[string]func(){
	"transpose": func() {
		transposeKernel("transpose16x16AVX512", 16, zmm)
		transposeKernel("transpose8x8AVX2", 8, ymm)
	},
	"stream": func() {
		streamCopyKernel("streamCopyAVX512", 16, zmm)
		streamCopyKernel("streamCopyAVX2", 8, ymm)
		streamFence()
	},
	"bias": func() {
		biasRowsKernel("biasRows32AVX512", 16, zmm)
		biasRowsKernel("biasRows16AVX2", 8, ymm)
	},
}

func zmm() VecVirtual { return ZMM() }
func ymm() VecVirtual { return YMM() }

func main() {
	family := flag.String("family", "", "the kernels to generate: transpose, stream or bias")
	flag.Parse() // avo's own flags (-out, -stubs, -pkg) are parsed again by Generate
	kernels, ok := families[*family]
	if !ok {
		log.Fatalf("-family %q: want transpose, stream or bias", *family)
	}
	ConstraintExpr("amd64,gc,!purego")
	kernels()
	Generate()
}
