package dml

import (
	"context"
	"fmt"
	"io"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/pretrained"
	"github.com/semprox/semprox/nn/vision"
)

// Backbone is the frozen ViT a run fine-tunes, with the normalisation its images get.
type Backbone struct {
	ViT         *nn.ViT
	Description string
	Mean, Std   vision.Channels
	// Pinned is the hub reference of the exact weights read, hf-hub:ORG/NAME@COMMIT, which a
	// session records in config.json so that a resumed run reads them even after the
	// repository has moved on; "" for a file and the embedded backbone.
	Pinned string
}

// EmbeddedWeights is the RunConfig.Weights (and -weights) that names the embedded backbone, as
// "" does.
const EmbeddedWeights = "embedded"

// LoadBackbone reads the backbone cfg.Weights names (see pretrained.Resolve: a file, or a model of
// the Hugging Face hub, downloaded with progress on progress) with cfg.Heads heads, or the
// embedded Fashion-MNIST backbone for "" and EmbeddedWeights. The normalisation is cfg's where it
// is set (not zero), else the backbone's own: the embedded one's, the hub model's pretrained
// configuration, or 0.5 for a checkpoint file (timm's AugReg models).
func LoadBackbone(ctx context.Context, cfg RunConfig, progress io.Writer) (Backbone, error) {
	var b Backbone
	if cfg.Weights == "" || cfg.Weights == EmbeddedWeights {
		vit, info, err := pretrained.FashionMNIST()
		if err != nil {
			return Backbone{}, err
		}
		b = Backbone{ViT: vit, Mean: info.Mean, Std: info.Std,
			Description: fmt.Sprintf("embedded %s pretrained on Fashion-MNIST (test accuracy %.1f%%)", info.Arch, 100*info.TestAccuracy)}
	} else {
		w, err := pretrained.Resolve(ctx, cfg.Weights, progress)
		if err != nil {
			return Backbone{}, err
		}
		vit, ck, err := nn.LoadViT(w.Path, nn.LoadOptions{Heads: cfg.Heads})
		if err != nil {
			return Backbone{}, err
		}
		half := vision.Channels{0.5, 0.5, 0.5}
		b = Backbone{ViT: vit, Mean: half, Std: half,
			Description: fmt.Sprintf("%s (ViT D=%d, depth %d, %d heads, %dpx patches of %dpx images)", w, vit.Dim, vit.Depth, vit.Heads, vit.PatchSize, vit.ImageSize)}
		if len(ck.Ignored) > 0 {
			b.Description += fmt.Sprintf("; ignored %d classifier tensors", len(ck.Ignored))
		}
		if w.Hub != nil {
			if err := checkInputSize(w, vit); err != nil {
				return Backbone{}, err
			}
			if mean, std, ok := w.Normalization(); ok {
				b.Mean, b.Std = mean, std
			}
			b.Pinned = "hf-hub:" + w.Hub.Repo + "@" + w.Hub.Commit
		}
	}
	if cfg.Mean != (vision.Channels{}) {
		b.Mean = cfg.Mean
	}
	if cfg.Std != (vision.Channels{}) {
		b.Std = cfg.Std
	}
	return b, nil
}

// checkInputSize refuses a hub model whose pretrained configuration gives another input size
// than its position embedding holds.
func checkInputSize(w pretrained.Weights, vit *nn.ViT) error {
	in := w.Hub.Config.InputSize
	if in != [3]int{} && (in[1] != vit.ImageSize || in[2] != vit.ImageSize) {
		return fmt.Errorf("%s: config.json gives input size %dx%d, the weights are for %dpx images", w, in[1], in[2], vit.ImageSize)
	}
	return nil
}

// transforms returns the training augmentation and the evaluation preprocessing of the
// dataset's images for the backbone's input size. Small gray datasets (MNIST and Fashion-MNIST,
// 28x28) get a mild augmentation without flips (a flipped digit is another glyph) and no resize
// margin; photos get the DML reference augmentation and a resize to 8/7 of the crop.
func transforms(cfg RunConfig, kind data.Kind, b Backbone) (train, eval data.Transform, err error) {
	interp, err := vision.ParseInterpolation(cfg.Interp)
	if err != nil {
		return nil, nil, fmt.Errorf("-interp: %w", err)
	}
	size := b.ViT.ImageSize
	tr := data.NewTrain(size, interp)
	tr.Mean, tr.Std = b.Mean, b.Std
	ev := vision.Preprocess{Resize: size * 8 / 7, Crop: size, Interp: interp, Mean: b.Mean, Std: b.Std}
	if kind.SmallImages {
		tr.Scale, tr.Ratio, tr.FlipProb = [2]float64{0.7, 1}, [2]float64{0.9, 1.1}, 0
		ev.Resize = size
	}
	return tr, data.EvalTransform{Preprocess: ev}, nil
}
