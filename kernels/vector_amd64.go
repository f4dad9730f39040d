//go:build amd64 && gc && !purego

package kernels

//go:generate sh -c "cd _asm && go run ./vector -out ../vector_amd64.s -stubs ../vector_stubs_amd64.go -pkg kernels"

var (
	vectorAVX512 = vectorAsm{
		add: addAVX512, scale: scaleAVX512, axpy: axpyAVX512, addScaledMul: addScaledMulAVX512,
		sum: sumAVX512, dot: dotAVX512, max: maxAVX512,
		exp: expAVX512, expSum: expSumAVX512,
		gelu: geluAVX512, geluBackward: geluBackwardAVX512, biasGELU: biasGELUAVX512, biasGELUPre: biasGELUPreAVX512,
		geluGrad:  geluGradAVX512,
		layerNorm: layerNormAVX512, layerNormNT: layerNormNTAVX512, layerNormBackward: layerNormBackwardAVX512,
	}
	vectorAVX2 = vectorAsm{
		add: addAVX2, scale: scaleAVX2, axpy: axpyAVX2, addScaledMul: addScaledMulAVX2,
		sum: sumAVX2, dot: dotAVX2, max: maxAVX2,
		exp: expAVX2, expSum: expSumAVX2,
		gelu: geluAVX2, geluBackward: geluBackwardAVX2, biasGELU: biasGELUAVX2, biasGELUPre: biasGELUPreAVX2,
		geluGrad:  geluGradAVX2,
		layerNorm: layerNormAVX2, layerNormNT: layerNormNTAVX2, layerNormBackward: layerNormBackwardAVX2,
	}
)

// vectorAsmFor returns the vector assembly of path s, or nil for the Go versions.
func vectorAsmFor(s SIMD) *vectorAsm {
	switch s {
	case AVX512, AVX512BF16:
		return &vectorAVX512
	case AVX2:
		return &vectorAVX2
	}
	return nil
}
