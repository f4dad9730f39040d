package kernels_test

import (
	"fmt"

	"github.com/semprox/semprox/kernels"
)

// A linear layer's product on float32 slices: C = A W^T, every matrix row-major.
func ExampleSgemm() {
	m, n, k := 2, 3, 4
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8}                      // A [m, k]
	w := []float32{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1}          // W [n, k]
	c := make([]float32, m*n)                                   // C [m, n]
	kernels.Sgemm(false, true, m, n, k, 1, a, k, w, k, 0, c, n) // beta 0: C is written, not read
	fmt.Println(c)
	// Output: [1 2 7 5 6 15]
}

// The first product of a transformer MLP: the bias added and GELU applied to each tile of C
// while the tile is in cache.
func ExampleSgemmEpilogue() {
	m, n, k := 2, 3, 4
	a := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	w := []float32{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1}
	c := make([]float32, m*n)
	gelu := &kernels.BiasGELU{Bias: []float32{0, 0, -7}} // a pointer: no allocation per call
	kernels.SgemmEpilogue(gelu, false, true, m, n, k, 1, a, k, w, k, 0, c, n)
	fmt.Printf("%.4f\n", c)
	// Output: [0.8413 1.9545 0.0000 5.0000 6.0000 8.0000]
}

// Fused self-attention reads q, k and v in place from the qkv projection's [B, N, 3, H, dh]
// output and writes [B, N, H*dh], saving one log-sum-exp per row of scores for backward.
func ExampleAttentionForward() {
	s := kernels.AttentionShape{Batch: 1, Tokens: 3, Heads: 2, HeadDim: 2}
	qkv := make([]float32, s.Batch*s.Tokens*3*s.Heads*s.HeadDim)
	for t := range s.Tokens { // q and k zero (every score equal), v of token t: t, 10t, -t, -10t
		copy(qkv[(t*3+2)*s.Heads*s.HeadDim:], []float32{float32(t), float32(10 * t), float32(-t), float32(-10 * t)})
	}
	out := make([]float32, s.Batch*s.Tokens*s.Heads*s.HeadDim)
	lse := make([]float32, s.Batch*s.Heads*s.Tokens)
	kernels.AttentionForward(out, lse, qkv, s)
	fmt.Printf("%.4f\n%.4f\n", out[:4], lse[:3]) // token 0: the mean of the values; log 3
	// Output:
	// [1.0000 10.0000 -1.0000 -10.0000]
	// [1.0986 1.0986 1.0986]
}

// LayerNorm over rows of cols values, as PyTorch's, saving each row's mean and 1/std for
// LayerNormBackward.
func ExampleLayerNorm() {
	x := []float32{1, 2, 3, 4, 10, 10, 10, 10} // two rows of 4
	gamma, beta := []float32{1, 1, 1, 1}, []float32{0, 0, 0, 0}
	y, mean, rstd := make([]float32, len(x)), make([]float32, 2), make([]float32, 2)
	kernels.LayerNorm(y, mean, rstd, x, gamma, beta, 4, 1e-6)
	fmt.Printf("%.4f %v\n", y, mean)
	// Output: [-1.3416 -0.4472 0.4472 1.3416 0.0000 0.0000 0.0000 0.0000] [2.5 10]
}
