package pretrained

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/semprox/semprox/nn/hub"
	"github.com/semprox/semprox/nn/vision"
)

// Weights is the checkpoint a -weights value names: a file given by its path, or a model of the
// Hugging Face hub found in (or downloaded into) the hub's cache.
type Weights struct {
	Path string     // the checkpoint file
	Hub  *hub.Model // the hub model, with timm's pretrained configuration; nil for a path
}

// Resolve finds the checkpoint s names. A path that exists is taken as it is; otherwise a timm
// model name with its tag (vit_small_patch16_224.augreg_in21k) or a hub reference
// (hf-hub:ORG/NAME[@REVISION]) is fetched with the Hugging Face conventions (hub.FromEnv: the
// shared cache, HF_HUB_OFFLINE, HF_TOKEN, HF_ENDPOINT), showing progress on progress; anything
// else is returned as a path, for the reader to report missing.
func Resolve(ctx context.Context, s string, progress io.Writer) (Weights, error) {
	if _, err := os.Stat(s); err == nil || !hub.IsReference(s) {
		return Weights{Path: s}, nil
	}
	c := hub.FromEnv()
	c.Progress = progress
	m, err := c.Model(ctx, s)
	if err != nil {
		return Weights{}, err
	}
	return Weights{Path: m.WeightsPath, Hub: m}, nil
}

// String names the weights: the path, or the hub repository at its commit and the cached file.
func (w Weights) String() string {
	if w.Hub == nil {
		return w.Path
	}
	commit := w.Hub.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	return fmt.Sprintf("%s@%s (%s)", w.Hub.Repo, commit, w.Path)
}

// Normalization is the mean and standard deviation the model was trained with, from timm's
// pretrained configuration; false when the weights carry none (a path).
func (w Weights) Normalization() (mean, std vision.Channels, ok bool) {
	if w.Hub == nil || w.Hub.Config.Std == ([3]float64{}) {
		return mean, std, false
	}
	for i := range 3 {
		mean[i], std[i] = float32(w.Hub.Config.Mean[i]), float32(w.Hub.Config.Std[i])
	}
	return mean, std, true
}
