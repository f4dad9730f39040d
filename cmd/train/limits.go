package main

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
)

// Bounds of the settings that size the model, far above any published configuration.
const (
	maxPromptCount = 1024    // prompts or class prompts per block
	maxEmbedDim    = 1 << 16 // -embed-dim
	maxBlocks      = 1024    // -adapter-blocks
)

// checkFinite refuses a NaN or infinite value of a float flag, which no validation range would
// catch and which config.json could not hold.
func (s settings) checkFinite() error {
	for _, f := range []struct {
		flag  string
		value float64
	}{{"-lr", s.LR}, {"-lr-proxy", s.LRProxy}, {"-wd", s.WeightDecay}, {"-cosine-min", s.CosineMin}, {"-alpha", s.Alpha}, {"-clip", s.Clip}, {"-gru-dropout", s.GRUDropout}} {
		if math.IsNaN(f.value) || math.IsInf(f.value, 0) {
			return fmt.Errorf("%s %g: want a finite number", f.flag, f.value)
		}
	}
	return nil
}

// checkMachine refuses thread counts the machine cannot run, before any pool is started.
func (s settings) checkMachine() error {
	if err := kernels.CheckThreads("-threads", s.Threads); err != nil {
		return err
	}
	return kernels.CheckThreads("-workers", s.Workers)
}

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
func classPromptBytes(s settings, classes int, vit nn.Config) float64 {
	return 3 * 4 * float64(classes) * float64(s.Class.Count) * float64(min(s.Class.Depth, vit.Depth)) * float64(vit.Dim)
}

// checkBatch refuses a batch that the training images cannot fill, and a batch or class prompt
// bank that could not be held in the machine's memory (memory 0: unknown, not checked).
func checkBatch(s settings, train *data.Split, vit nn.Config, memory uint64) error {
	if s.Batch > len(train.Samples) {
		return fmt.Errorf("-batch %d: the train split has only %d images", s.Batch, len(train.Samples))
	}
	step := float64(s.Batch) * stepBytes(vit, s.Prompts.Count+s.Class.Count)
	bank := classPromptBytes(s, train.Classes, vit)
	if memory > 0 && step+bank > float64(memory) {
		return fmt.Errorf("-batch %d, -class-prompts %d: a training step would need about %.1f GB and the class prompts of %d classes %.1f GB on this backbone; the machine has %.1f GB",
			s.Batch, s.Class.Count, step/1e9, train.Classes, bank/1e9, float64(memory)/1e9)
	}
	return nil
}
