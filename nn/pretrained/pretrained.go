package pretrained

import (
	_ "embed"
	"fmt"

	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/nn/weights"
)

// FashionMNISTPath is where the embedded checkpoint lives in the repository (cmd/pretrain's
// default output); errors about it name this path.
const FashionMNISTPath = "nn/pretrained/fashion_mnist_vit.safetensors"

var (
	//go:embed fashion_mnist_vit.safetensors
	fashionMNISTTensors []byte
	//go:embed fashion_mnist_vit.json
	fashionMNISTMeta []byte
)

// Info is the record cmd/pretrain writes beside a backbone (the fields this package reads
// from its JSON).
type Info struct {
	Arch         string     `json:"arch"`   // name of the configuration in nn.Configs
	Config       nn.Config  `json:"config"` // geometry of the ViT
	Mean         [3]float32 `json:"mean"`   // input normalisation: (x - Mean) / Std per RGB channel,
	Std          [3]float32 `json:"std"`    // x in [0, 1]; gray images replicated to RGB
	Classes      int        `json:"classes"`
	TrainImages  int        `json:"train_images"`
	Epochs       int        `json:"epochs"`
	Seed         uint64     `json:"seed"`
	TestAccuracy float64    `json:"test_accuracy"` // classification accuracy on the t10k images
	WallSeconds  float64    `json:"wall_seconds"`  // how long the pretraining took
	Command      string     `json:"command"`       // the command that reproduces it
}

// Eval returns the evaluation preprocessing of the backbone: the image resized (shorter side)
// and center-cropped to the model's input size, then normalised with Mean and Std.
func (i Info) Eval() vision.Preprocess {
	return vision.Preprocess{Resize: i.ImageSize(), Crop: i.ImageSize(), Interp: vision.Bicubic, Mean: i.Mean, Std: i.Std}
}

// ImageSize is the side of the model's square input.
func (i Info) ImageSize() int { return i.Config.ImageSize }

// FashionMNIST returns a new ViT holding the embedded Fashion-MNIST backbone (every call
// decodes a fresh copy, which the caller may train or freeze), and its record. Its embedding
// is the final-norm class token, [B, 96] (ViT.Embed) for images [B, 3, 28, 28] normalised with
// Info.Mean and Info.Std.
func FashionMNIST() (*nn.ViT, Info, error) {
	return load(FashionMNISTPath, fashionMNISTTensors, fashionMNISTMeta)
}

// load decodes a checkpoint pair written by cmd/pretrain; name stands for the tensor file in
// errors.
func load(name string, tensors, meta []byte) (*nn.ViT, Info, error) {
	var info Info
	ck, err := weights.LoadBytes(name, tensors, meta, &info)
	if err != nil {
		return nil, Info{}, err
	}
	if c, ok := nn.Configs[info.Arch]; ok && c != info.Config {
		return nil, Info{}, fmt.Errorf("%s: configuration %+v differs from %s's %+v", weights.MetaPath(name), info.Config, info.Arch, c)
	}
	vit, err := nn.NewViTFromCheckpoint(ck, info.Config)
	if err != nil {
		return nil, Info{}, err
	}
	return vit, info, nil
}
