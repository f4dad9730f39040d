package main

import (
	"fmt"

	"github.com/semprox/semprox/nn"
)

// batchBytes estimates the memory of a forward pass of n images through a ViT of
// configuration c: per image, the input (3 x size x size floats) and, per token, the widest
// moment of a block: the residual stream, its normalisation, q, k, v, the attention output
// and its projection (six widths) and the MLP's hidden layer before and after GELU (twice
// MLPRatio widths). For ViT-S/16 that is 4.8 MB an image, about twice what a pass uses.
func batchBytes(c nn.Config, n int) int64 {
	perImage := 3*int64(c.ImageSize)*int64(c.ImageSize) + int64(c.Patches()+1)*int64(c.Dim)*int64(6+2*c.MLPRatio)
	return 4 * perImage * int64(n)
}

// checkBatch refuses a batch of n images whose forward pass would need more than the machine's
// memory (0: unknown, not checked).
func checkBatch(c nn.Config, n int, memory uint64) error {
	if need := batchBytes(c, n); memory > 0 && need > int64(memory) {
		return fmt.Errorf("-batch %d: a forward pass would need about %.1f GB on this model; the machine has %.1f GB (use -batch %d or less)",
			n, float64(need)/1e9, float64(memory)/1e9, max(int64(memory)/batchBytes(c, 1), 1))
	}
	return nil
}
