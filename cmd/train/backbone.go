package main

import (
	"fmt"
	"strings"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/pretrained"
	"github.com/semprox/semprox/nn/vision"
)

// backbone is the frozen ViT a run fine-tunes, with the normalisation it was trained with.
type backbone struct {
	vit         *nn.ViT
	description string
	mean, std   vision.Channels
}

// loadBackbone reads -weights, or the embedded Fashion-MNIST backbone when it is empty.
// The normalisation is the embedded backbone's own unless -mean or -std are given.
func loadBackbone(s settings, set map[string]bool) (backbone, error) {
	if s.Weights == "" {
		vit, info, err := pretrained.FashionMNIST()
		if err != nil {
			return backbone{}, err
		}
		b := backbone{vit: vit, mean: info.Mean, std: info.Std,
			description: fmt.Sprintf("embedded %s pretrained on Fashion-MNIST (test accuracy %.1f%%)", info.Arch, 100*info.TestAccuracy)}
		if set["mean"] {
			b.mean = s.Mean
		}
		if set["std"] {
			b.std = s.Std
		}
		return b, nil
	}
	ck, err := nn.ReadCheckpoint(s.Weights)
	if err != nil {
		return backbone{}, err
	}
	c, err := nn.CheckpointConfig(ck)
	if err != nil {
		return backbone{}, err
	}
	if s.Heads > 0 {
		c.Heads = s.Heads
	}
	vit, err := nn.NewViTFromCheckpoint(ck, c)
	if err != nil {
		return backbone{}, err
	}
	desc := fmt.Sprintf("%s (ViT D=%d, depth %d, %d heads, %dpx patches of %dpx images)", s.Weights, c.Dim, c.Depth, c.Heads, c.PatchSize, c.ImageSize)
	if len(ck.Ignored) > 0 {
		desc += fmt.Sprintf("; ignored %d classifier tensors", len(ck.Ignored))
	}
	return backbone{vit: vit, description: desc, mean: s.Mean, std: s.Std}, nil
}

// transforms returns the training augmentation and the evaluation preprocessing for the
// backbone's input size. Small gray datasets (MNIST and Fashion-MNIST, 28x28) get a mild
// augmentation without flips (a flipped digit is another glyph) and no resize margin; photos
// get the DML reference augmentation and a resize to 8/7 of the crop.
func transforms(s settings, b backbone) (train, eval data.Transform, err error) {
	interp, err := vision.ParseInterpolation(s.Interp)
	if err != nil {
		return nil, nil, fmt.Errorf("-interp: %w", err)
	}
	size := b.vit.ImageSize
	tr := data.NewTrain(size, interp)
	tr.Mean, tr.Std = b.mean, b.std
	ev := vision.Preprocess{Resize: size * 8 / 7, Crop: size, Interp: interp, Mean: b.mean, Std: b.std}
	if smallImages(s.Dataset) {
		tr.Scale, tr.Ratio, tr.FlipProb = [2]float64{0.7, 1}, [2]float64{0.9, 1.1}, 0
		ev.Resize = size
	}
	return tr, data.EvalTransform{Preprocess: ev}, nil
}

// smallImages reports whether the dataset holds 28x28 IDX images.
func smallImages(dataset string) bool {
	switch strings.ToLower(dataset) {
	case "mnist", "fashion-mnist", "fashionmnist", "idx":
		return true
	}
	return false
}
