package nn

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/semprox/semprox/autodiff"
)

// SetTrainable makes each parameter trainable when trainable(name) holds and frozen otherwise.
// It panics if one of params is not an autodiff.Param.
func SetTrainable(params []Named, trainable func(name string) bool) {
	for _, p := range params {
		p.Var.SetRequiresGrad(trainable(p.Name))
	}
}

// IsBias reports whether a parameter is a bias vector: BitFit trains exactly these.
func IsBias(name string) bool { return strings.HasSuffix(name, "bias") }

// CountTrainable returns the number of trainable scalars among params.
func CountTrainable(params []Named) int {
	n := 0
	for _, p := range params {
		if p.Var.RequiresGrad() {
			n += p.Var.Value.Len()
		}
	}
	return n
}

// InferConfig works out a ViT's geometry from the shapes of its timm-named tensors: width and
// patch size from patch_embed.proj.weight, image size from pos_embed (square grid plus the
// class token), depth from the highest block index, MLP ratio from fc1. Heads are not stored
// in a checkpoint: the usual head size of 64 is assumed (width/64 heads). LayerNorm epsilon is
// timm's 1e-6.
func InferConfig(shapes map[string][]int) (Config, error) {
	pw, ok := shapes["patch_embed.proj.weight"]
	if !ok || len(pw) != 4 || pw[2] != pw[3] {
		return Config{}, fmt.Errorf("nn: cannot infer the ViT: patch_embed.proj.weight is %v, want [D, 3, p, p]", pw)
	}
	c := Config{Dim: pw[0], PatchSize: pw[2], Eps: 1e-6}
	pos, ok := shapes["pos_embed"]
	if !ok || len(pos) != 3 {
		return Config{}, fmt.Errorf("nn: cannot infer the ViT: pos_embed is %v, want [1, 1+patches, D]", pos)
	}
	grid := int(math.Round(math.Sqrt(float64(pos[1] - 1))))
	if grid*grid != pos[1]-1 {
		return Config{}, fmt.Errorf("nn: cannot infer the ViT: pos_embed has %d positions, not 1 + a square grid", pos[1])
	}
	c.ImageSize = grid * c.PatchSize
	for name := range shapes {
		rest, ok := strings.CutPrefix(name, "blocks.")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '.'), 0)])
		if err == nil {
			c.Depth = max(c.Depth, i+1)
		}
	}
	if fc1, ok := shapes["blocks.0.mlp.fc1.weight"]; ok && len(fc1) == 2 && c.Dim > 0 {
		c.MLPRatio = fc1[0] / c.Dim
	}
	c.Heads = max(1, c.Dim/64)
	return c, c.Validate()
}

// collect returns the parameters that list hands to add, in that order.
func collect(list func(add func(name string, v *autodiff.Var))) []Named {
	var ps []Named
	list(func(name string, v *autodiff.Var) { ps = append(ps, Named{name, v}) })
	return ps
}
