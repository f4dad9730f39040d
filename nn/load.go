package nn

import (
	"errors"
	"fmt"

	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// Shapes returns the timm name and shape of every parameter, as weights.Check expects them.
func Shapes(params []Named) map[string][]int {
	shapes := make(map[string][]int, len(params))
	for _, p := range params {
		shapes[p.Name] = p.Var.Shape()
	}
	return shapes
}

// Load copies tensors into params by name. Every parameter must be present with its shape and
// nothing else may be: otherwise nothing is copied and the error (a *weights.MismatchError)
// names every offending tensor.
func Load(params []Named, tensors map[string]*tensor.Tensor) error {
	if err := weights.Check(Shapes(params), tensors); err != nil {
		return err
	}
	for _, p := range params {
		p.Var.Value.CopyFrom(tensors[p.Name])
	}
	return nil
}

// LoadOptions choose the geometry of the ViT that LoadViT builds.
type LoadOptions struct {
	Config *Config // the checkpoint must fit it; nil: inferred from the tensors' shapes (see InferConfig)
	Heads  int     // with Config nil, the attention heads (0: InferConfig's width/64)
}

// ErrHeads is wrapped by LoadViT's error when LoadOptions.Heads does not divide the width.
var ErrHeads = errors.New("nn: attention heads do not divide the width")

// LoadViT reads a timm or DINO ViT checkpoint (.safetensors, PyTorch .pth/.bin, or Google's
// AugReg .npz) and returns the model with its weights, in the geometry o gives. The checkpoint
// is returned too, for its metadata (which tensors were ignored, where the state dict was found).
func LoadViT(path string, o LoadOptions) (*ViT, *weights.Checkpoint, error) {
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	var c Config
	if o.Config != nil {
		c = *o.Config
	} else if c, err = CheckpointConfig(ck); err != nil {
		return nil, nil, err
	}
	if o.Config == nil && o.Heads > 0 {
		if c.Dim%o.Heads != 0 {
			return nil, nil, fmt.Errorf("%w: %d heads, width %d of %s", ErrHeads, o.Heads, c.Dim, path)
		}
		c.Heads = o.Heads
	}
	m, err := NewViTFromCheckpoint(ck, c)
	if err != nil {
		return nil, nil, err
	}
	return m, ck, nil
}

// ReadCheckpoint reads a timm, DINO or AugReg ViT checkpoint and gives its tensors timm's names (see
// weights.Checkpoint.TimmNames).
func ReadCheckpoint(path string) (*weights.Checkpoint, error) {
	ck, err := weights.Read(path)
	if err != nil {
		return nil, err
	}
	if err := ck.TimmNames(); err != nil {
		return nil, err
	}
	return ck, nil
}

// CheckpointConfig infers the geometry of the ViT a checkpoint holds (see InferConfig), with the
// checkpoint's own head count where it records one.
func CheckpointConfig(ck *weights.Checkpoint) (Config, error) {
	shapes := make(map[string][]int, len(ck.Tensors))
	for name, t := range ck.Tensors {
		shapes[name] = t.Shape()
	}
	c, err := InferConfig(shapes)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", ck.Path, err)
	}
	if ck.Heads > 0 { // the file says (AugReg's per-head kernels)
		c.Heads = ck.Heads
	}
	return c, nil
}

// NewViTFromCheckpoint returns a ViT of configuration c holding the checkpoint's weights, which
// must fit it exactly (a *weights.MismatchError names every difference).
func NewViTFromCheckpoint(ck *weights.Checkpoint, c Config) (*ViT, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := NewViT(c)
	if err := Load(m.Parameters(), ck.Tensors); err != nil {
		if me, ok := err.(*weights.MismatchError); ok {
			me.Path = ck.Path
		}
		return nil, err
	}
	return m, nil
}
