package weights

import (
	"fmt"
	"slices"
	"strings"

	"github.com/semprox/semprox/tensor"
)

// wrapperPrefixes are the prefixes that training wrappers put before timm's names:
// DistributedDataParallel adds "module.", DINO's MultiCropWrapper adds "backbone.".
var wrapperPrefixes = []string{"module.", "backbone."}

// TimmNames renames c's tensors to the names timm's VisionTransformer uses: every leading
// "module." and "backbone." is stripped (in any order and number, so DINO's
// "module.backbone.blocks.0.norm1.weight" becomes "blocks.0.norm1.weight"), and the
// classifier or projection head ("head" and "head.*" after stripping) is dropped, its
// original names recorded, sorted, in c.Ignored. Names and order are otherwise kept.
//
// It fails, changing nothing, if two tensors end up with the same name.
func (c *Checkpoint) TimmNames() error {
	renamed := make(map[string]string, len(c.Names)) // new -> original
	var names, ignored []string
	for _, orig := range c.Names {
		name := stripWrappers(orig)
		if name == "head" || strings.HasPrefix(name, "head.") {
			ignored = append(ignored, orig)
			continue
		}
		if prev, dup := renamed[name]; dup {
			return tensorErr(c.Path, orig, "becomes %q once prefixes are stripped, as %q does", name, prev)
		}
		renamed[name] = orig
		names = append(names, name)
	}
	tensors := make(map[string]*tensor.Tensor, len(names))
	dtypes := make(map[string]DType, len(names))
	for _, name := range names {
		tensors[name] = c.Tensors[renamed[name]]
		dtypes[name] = c.DTypes[renamed[name]]
	}
	slices.Sort(ignored)
	c.Names, c.Tensors, c.DTypes = names, tensors, dtypes
	c.Ignored = append(c.Ignored, ignored...)
	return nil
}

func stripWrappers(name string) string {
	for {
		stripped := false
		for _, p := range wrapperPrefixes {
			if rest, ok := strings.CutPrefix(name, p); ok {
				name, stripped = rest, true
			}
		}
		if !stripped {
			return name
		}
	}
}

// MismatchError lists every difference between the tensors a model expects and those a
// checkpoint holds. Each list is sorted by name.
type MismatchError struct {
	Path       string          // the checkpoint file, when known
	Missing    []string        // expected but absent
	Unexpected []string        // present but not expected
	WrongShape []ShapeMismatch // present with another shape
}

// ShapeMismatch is a tensor whose shape in the file differs from the model's.
type ShapeMismatch struct {
	Name        string
	Want, Found []int
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	b.WriteString("weights: ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	fmt.Fprintf(&b, "checkpoint does not fit the model (%d missing, %d unexpected, %d wrongly shaped); refusing to load",
		len(e.Missing), len(e.Unexpected), len(e.WrongShape))
	for _, n := range e.Missing {
		fmt.Fprintf(&b, "\n  missing:     %s", n)
	}
	for _, n := range e.Unexpected {
		fmt.Fprintf(&b, "\n  unexpected:  %s", n)
	}
	for _, m := range e.WrongShape {
		fmt.Fprintf(&b, "\n  wrong shape: %s is %v in the file, the model wants %v", m.Name, m.Found, m.Want)
	}
	return b.String()
}

// Check compares the tensors got with the shapes a model expects, by name. It returns nil
// when both hold the same names with the same shapes, and otherwise a *[MismatchError]
// listing every missing, unexpected and wrongly shaped tensor, sorted by name.
func Check(expected map[string][]int, got map[string]*tensor.Tensor) error {
	e := &MismatchError{}
	for name, want := range expected {
		t, ok := got[name]
		switch {
		case !ok:
			e.Missing = append(e.Missing, name)
		case !slices.Equal(t.Shape(), want):
			e.WrongShape = append(e.WrongShape, ShapeMismatch{Name: name, Want: slices.Clone(want), Found: t.Shape()})
		}
	}
	for name := range got {
		if _, ok := expected[name]; !ok {
			e.Unexpected = append(e.Unexpected, name)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.WrongShape) == 0 {
		return nil
	}
	slices.Sort(e.Missing)
	slices.Sort(e.Unexpected)
	slices.SortFunc(e.WrongShape, func(a, b ShapeMismatch) int { return strings.Compare(a.Name, b.Name) })
	return e
}

// ReadTimm reads a timm or DINO ViT checkpoint for a model that expects the given tensor
// names and shapes: [Read], then [Checkpoint.TimmNames], then [Check]. On a mismatch it
// returns no checkpoint and a *[MismatchError] naming the file and every offending tensor.
// c.Ignored tells how many head tensors were dropped, c.StateDictKey where a PyTorch
// checkpoint kept its state dict.
func ReadTimm(path string, expected map[string][]int) (*Checkpoint, error) {
	c, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := c.TimmNames(); err != nil {
		return nil, err
	}
	if err := Check(expected, c.Tensors); err != nil {
		err.(*MismatchError).Path = path
		return nil, err
	}
	return c, nil
}
