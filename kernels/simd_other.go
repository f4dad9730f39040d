//go:build !amd64 || !gc || purego

package kernels

func detectSIMD() SIMD { return Generic }

// sgemmKernelFor returns the micro-kernel of path s; only the Go one exists in this build.
func sgemmKernelFor(SIMD) gemmKernel { return genericGemmKernel }

// bf16GemmKernelFor returns the bf16 micro-kernel of path s; only the Go one exists in this build.
func bf16GemmKernelFor(SIMD) gemmKernel { return genericBF16GemmKernel }

// bf16PairsFor returns no assembly bf16 rounding in this build.
func bf16PairsFor(SIMD) bf16PairsKernel { return nil }

// bf16ColumnPairsFor returns no assembly bf16 rounding down columns in this build.
func bf16ColumnPairsFor(SIMD) bf16ColumnPairsKernel { return nil }

// transposeBlockFor returns no block transpose: the Go loops do it all in this build.
func transposeBlockFor(SIMD) transposeBlock { return transposeBlock{} }

// streamCopyFor returns no non-temporal copy: this build has no assembly.
func streamCopyFor(SIMD) streamCopy { return streamCopy{} }

// fenceStreams has nothing to order in this build.
func fenceStreams() {}

// biasRowsFor returns no assembly bias-add in this build.
func biasRowsFor(SIMD) biasRows { return biasRows{} }
