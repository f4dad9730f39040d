//go:build amd64 && gc && !purego

package kernels

import "github.com/klauspost/cpuid/v2"

// Each family of assembly the functions below dispatch to has its own generator in _asm and its
// own output file.
//go:generate sh -c "cd _asm && go run ./sgemm -out ../sgemm_kernel_amd64.s -stubs ../sgemm_kernel_amd64.go -pkg kernels"
//go:generate sh -c "cd _asm && go run ./moves -family transpose -out ../transpose_amd64.s -stubs ../transpose_amd64.go -pkg kernels"
//go:generate sh -c "cd _asm && go run ./moves -family stream -out ../stream_amd64.s -stubs ../stream_amd64.go -pkg kernels"
//go:generate sh -c "cd _asm && go run ./moves -family bias -out ../bias_amd64.s -stubs ../bias_amd64.go -pkg kernels"

func detectSIMD() SIMD {
	switch {
	case cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VL, cpuid.AVX512DQ, cpuid.AVX512BF16, cpuid.BMI2):
		return AVX512BF16
	case cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512BW, cpuid.AVX512VL, cpuid.AVX512DQ):
		return AVX512
	case cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3):
		return AVX2
	}
	return Generic
}

// sgemmKernelFor returns the micro-kernel of path s.
func sgemmKernelFor(s SIMD) gemmKernel {
	switch s {
	case AVX512, AVX512BF16:
		return gemmKernel{mr: 14, nr: 32, kc: 384, nc: 512, fn: sgemmKernel14x32AVX512}
	case AVX2:
		return gemmKernel{mr: 6, nr: 16, kc: 256, nc: 512, fn: sgemmKernel6x16AVX2}
	}
	return genericGemmKernel
}

// bf16GemmKernelFor returns the bf16 micro-kernel of path s: assembly with AVX512_BF16, else Go.
func bf16GemmKernelFor(s SIMD) gemmKernel {
	if s == AVX512BF16 {
		return gemmKernel{mr: 14, nr: 32, kc: 768, nc: 512, pairs: true, fn: sgemmKernel14x32BF16AVX512}
	}
	return genericBF16GemmKernel
}

// bf16PairsFor returns the bf16 rounding of path s, if it has one.
func bf16PairsFor(s SIMD) bf16PairsKernel {
	if s == AVX512BF16 {
		return bf16PairsAVX512
	}
	return nil
}

// bf16ColumnPairsFor returns the bf16 rounding of two rows into pairs down their columns of
// path s, if it has one.
func bf16ColumnPairsFor(s SIMD) bf16ColumnPairsKernel {
	if s == AVX512BF16 {
		return bf16ColumnPairsAVX512
	}
	return nil
}

// transposeBlockFor returns the block transpose of path s, if it has one.
func transposeBlockFor(s SIMD) transposeBlock {
	switch s {
	case AVX512, AVX512BF16:
		return transposeBlock{n: 16, fn: transpose16x16AVX512}
	case AVX2:
		return transposeBlock{n: 8, fn: transpose8x8AVX2}
	}
	return transposeBlock{}
}

// streamCopyFor returns the non-temporal copy of path s, if it has one.
func streamCopyFor(s SIMD) streamCopy {
	switch s {
	case AVX512, AVX512BF16:
		return streamCopy{lanes: 16, fn: streamCopyAVX512}
	case AVX2:
		return streamCopy{lanes: 8, fn: streamCopyAVX2}
	}
	return streamCopy{}
}

// fenceStreams orders earlier non-temporal stores before later stores.
func fenceStreams() { streamFence() }

// biasRowsFor returns the bias-add of path s for column panels of its micro-kernel's width.
func biasRowsFor(s SIMD) biasRows {
	switch s {
	case AVX512, AVX512BF16:
		return biasRows{width: 32, fn: biasRows32AVX512}
	case AVX2:
		return biasRows{width: 16, fn: biasRows16AVX2}
	}
	return biasRows{}
}
