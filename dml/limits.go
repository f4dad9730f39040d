package dml

import (
	"fmt"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
)

// stepBytes estimates the memory of one training image in a step on vit: the activations that
// backward keeps, about (4 + MLPRatio) values of width D per token and block, for both towers.
// (ViT-S/16 with 10 prompts: 61 MB, where 72 MB were measured.)
func stepBytes(vit nn.Config, prompts int) float64 {
	side := vit.ImageSize / vit.PatchSize
	tokens := side*side + 1 + prompts
	return 2 * 4 * float64(4+vit.MLPRatio) * float64(vit.Dim) * float64(tokens) * float64(vit.Depth)
}

// classPromptBytes estimates the memory of the class prompt bank: classes x m prompts of width D
// in each block that has them, with two optimizer moments each.
func classPromptBytes(c ModelConfig, classes int, vit nn.Config) float64 {
	return 3 * 4 * float64(classes) * float64(c.Class.Count) * float64(min(c.Class.Depth, vit.Depth)) * float64(vit.Dim)
}

// CheckBatch refuses a batch that the training images cannot fill (the error says which -batch and
// -k would fit), and a batch or class prompt bank that could not be held in memory bytes of
// memory (0: unknown, not checked).
func CheckBatch(c RunConfig, train *data.Split, vit nn.Config, memory uint64) error {
	if err := checkBatchFits(c.BatchShape, train); err != nil {
		return err
	}
	step := float64(c.Batch) * stepBytes(vit, c.Prompts.Count+c.Class.Count)
	bank := classPromptBytes(c.ModelConfig, train.Classes, vit)
	if memory > 0 && step+bank > float64(memory) {
		return fmt.Errorf("-batch %d, -class-prompts %d: a training step would need about %.1f GB and the class prompts of %d classes %.1f GB on this backbone; the machine has %.1f GB",
			c.Batch, c.Class.Count, step/1e9, train.Classes, bank/1e9, float64(memory)/1e9)
	}
	return nil
}

// checkBatchFits refuses a batch of more images than the split has, or of more classes than have
// images, and names the largest batch that would fit.
func checkBatchFits(b BatchShape, train *data.Split) error {
	if b.K <= 0 || b.Batch <= 0 || b.Batch%b.K != 0 {
		return nil // Validate names the flags
	}
	images := len(train.Samples)
	seen := make(map[int]bool)
	for _, l := range train.Labels() {
		seen[l] = true
	}
	classes := len(seen)
	var problem string
	switch {
	case b.Batch > images:
		problem = fmt.Sprintf("the train split has only %d images", images)
	case b.Batch/b.K > classes:
		problem = fmt.Sprintf("the train split has %d classes with images, and a batch of %d with %d per class needs %d", classes, b.Batch, b.K, b.Batch/b.K)
	default:
		return nil
	}
	k := b.K
	fit := k * min(b.Batch/k, classes, images/k)
	if fit == 0 {
		k, fit = 1, min(b.Batch, classes, images)
	}
	if fit == 0 {
		return fmt.Errorf("-batch %d, -k %d: %s; no batch fits", b.Batch, b.K, problem)
	}
	return fmt.Errorf("-batch %d, -k %d: %s; -batch %d -k %d would fit", b.Batch, b.K, problem, fit, k)
}
