package weights

import (
	"fmt"
	"math"
	"slices"
	"strconv"
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
// A checkpoint in the layout of Google's AugReg ViTs (names such as "embedding/kernel",
// "cls" and "Transformer/encoderblock_0/...", optionally under "opt/target/"; the layout
// of their .npz files) is converted to timm's names and layout instead, as timm's own
// loader of those files does: the HWIO patch kernel becomes OIHW, each block's query, key
// and value kernels [D, heads, D/heads] and biases [heads, D/heads] become one
// qkv.weight [3D, D] and qkv.bias [3D], the output kernel [heads, D/heads, D] becomes
// proj.weight [D, D], and the MLP's [in, out] kernels become [out, in] weights. Elements
// are moved, never rounded. The tensors come out in timm's state dict order, followed by
// any the mapping does not use, under their own names (so that [Check] reports them);
// "head/*" and "pre_logits/*" are dropped into c.Ignored, and c.Heads records the
// number of heads. Every array the ViT needs must be present with a shape that fits the
// others: otherwise the error names the array, the shape found and the shape wanted. A
// .npz archive in any other layout is refused as not a ViT.
//
// It fails, changing nothing, if two tensors end up with the same name.
func (c *Checkpoint) TimmNames() error {
	if prefix, ok := augregLayout(c.Names); ok {
		return c.augregNames(prefix)
	}
	if c.Format == NPZ && c.Heads == 0 { // (not converted by an earlier call)
		return fileErr(c.Path, "a NumPy .npz archive without the arrays embedding/kernel, cls or Transformer/*: "+
			"not a Vision Transformer in Google's AugReg layout (its arrays: %s)", someNames(c.Names))
	}
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

// augregPrefixes are the prefixes an AugReg checkpoint's names may carry: none, or the
// "opt/target/" of a checkpoint saved with its Flax optimizer.
var augregPrefixes = []string{"opt/target/", ""}

// augregLayout reports whether names are those of an AugReg ViT checkpoint, and under
// which prefix.
func augregLayout(names []string) (string, bool) {
	for _, p := range augregPrefixes {
		for _, n := range names {
			rest, ok := strings.CutPrefix(n, p)
			if ok && (rest == "embedding/kernel" || rest == "cls" || strings.HasPrefix(rest, "Transformer/")) {
				return p, true
			}
		}
	}
	return "", false
}

// someNames lists the first few of names for a message.
func someNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var out []string
	for _, n := range names[:min(len(names), 5)] {
		out = append(out, fmt.Sprintf("%.80q", n))
	}
	if len(names) > 5 {
		out = append(out, fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(out, ", ")
}

// augregBlock is the prefix of block i's arrays, after the checkpoint's own prefix.
func augregBlock(i int) string { return fmt.Sprintf("Transformer/encoderblock_%d/", i) }

// augregDepth returns one more than the highest block number among names (under prefix):
// the depth of the ViT, if no block is missing. A block number written otherwise than
// strconv.Itoa would write it does not count.
func augregDepth(names []string, prefix string) int {
	depth := 0
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, prefix+"Transformer/encoderblock_")
		if !ok {
			continue
		}
		num, _, ok := strings.Cut(rest, "/")
		if i, err := strconv.Atoi(num); ok && err == nil && i >= 0 && strconv.Itoa(i) == num && i < math.MaxInt {
			depth = max(depth, i+1)
		}
	}
	return depth
}

// augregConverter builds the timm tensors of an AugReg checkpoint.
type augregConverter struct {
	c       *Checkpoint
	prefix  string
	used    map[string]bool // original names consumed
	names   []string        // timm names, in order
	tensors map[string]*tensor.Tensor
	dtypes  map[string]DType
}

// array returns the array name (under the prefix) after checking that it exists and, when
// want is not nil, that it has shape want; what describes the shape wanted when want is
// nil or incomplete. It marks the array as used.
func (a *augregConverter) array(name string, want []int, what string) (*tensor.Tensor, DType, error) {
	full := a.prefix + name
	t, ok := a.c.Tensors[full]
	if !ok {
		if want != nil {
			return nil, 0, tensorErr(a.c.Path, full, "missing: an AugReg ViT checkpoint of this geometry holds it with shape %v", want)
		}
		return nil, 0, tensorErr(a.c.Path, full, "missing: an AugReg ViT checkpoint holds it with shape %s", what)
	}
	if want != nil && !slices.Equal(t.Shape(), want) {
		return nil, 0, tensorErr(a.c.Path, full, "has shape %v in the file, want %v", t.Shape(), want)
	}
	a.used[full] = true
	return t, a.c.DTypes[full], nil
}

// put adds the timm tensor name.
func (a *augregConverter) put(name string, t *tensor.Tensor, d DType) {
	a.names = append(a.names, name)
	a.tensors[name] = t
	a.dtypes[name] = d
}

// same puts array src, of shape want, as the timm tensor name, which has the same shape
// and layout.
func (a *augregConverter) same(name, src string, want ...int) error {
	t, d, err := a.array(src, want, "")
	if err != nil {
		return err
	}
	a.put(name, t, d)
	return nil
}

// transposed puts array src, of shape want (whose leading dimensions flatten to rows and
// the rest to columns, at split), as the timm tensor name: its transpose, [cols, rows].
func (a *augregConverter) transposed(name, src string, want []int, split int) error {
	t, d, err := a.array(src, want, "")
	if err != nil {
		return err
	}
	a.put(name, transpose2(t.Data(), prod(want[:split]), prod(want[split:])), d)
	return nil
}

func prod(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// transpose2 returns the [cols, rows] transpose of the row-major [rows, cols] matrix src.
func transpose2(src []float32, rows, cols int) *tensor.Tensor {
	out := tensor.New(cols, rows)
	dst := out.Data()
	for r := range rows {
		row := src[r*cols : (r+1)*cols]
		for c, v := range row {
			dst[c*rows+r] = v
		}
	}
	return out
}

// augregNames converts c, in the AugReg layout under prefix, to timm's names and layout
// (see TimmNames). It changes nothing when it fails.
func (c *Checkpoint) augregNames(prefix string) error {
	a := &augregConverter{c: c, prefix: prefix, used: make(map[string]bool),
		tensors: make(map[string]*tensor.Tensor), dtypes: make(map[string]DType)}

	// The geometry: width and patch from the patch kernel, heads from the first block's
	// query kernel, the MLP's width from its first kernel, tokens from the position table.
	kernel, kd, err := a.array("embedding/kernel", nil, "[patch, patch, 3, D]")
	if err != nil {
		return err
	}
	ks := kernel.Shape()
	if len(ks) != 4 || slices.Contains(ks, 0) {
		return tensorErr(c.Path, prefix+"embedding/kernel", "has shape %v in the file, want [patch, patch, channels, width] (4 dimensions, none 0)", ks)
	}
	dim := ks[3]
	depth := augregDepth(c.Names, prefix)
	q0 := augregBlock(0) + "MultiHeadDotProductAttention_1/query/kernel"
	query, _, err := a.array(q0, nil, fmt.Sprintf("[%d, heads, %d/heads]", dim, dim))
	if err != nil {
		return err
	}
	qs := query.Shape()
	if len(qs) != 3 || qs[0] != dim || qs[1] < 1 || qs[1]*qs[2] != dim {
		return tensorErr(c.Path, prefix+q0, "has shape %v in the file, want [%d, heads, %d/heads]", qs, dim, dim)
	}
	heads, hd := qs[1], qs[2]
	fc10 := augregBlock(0) + "MlpBlock_3/Dense_0/kernel"
	fc1, _, err := a.array(fc10, nil, fmt.Sprintf("[%d, hidden]", dim))
	if err != nil {
		return err
	}
	fs := fc1.Shape()
	if len(fs) != 2 || fs[0] != dim || fs[1] < 1 {
		return tensorErr(c.Path, prefix+fc10, "has shape %v in the file, want [%d, hidden]", fs, dim)
	}
	hidden := fs[1]
	pe := "Transformer/posembed_input/pos_embedding"
	pos, pd, err := a.array(pe, nil, fmt.Sprintf("[1, tokens, %d]", dim))
	if err != nil {
		return err
	}
	ps := pos.Shape()
	if len(ps) != 3 || ps[0] != 1 || ps[1] < 1 || ps[2] != dim {
		return tensorErr(c.Path, prefix+pe, "has shape %v in the file, want [1, tokens, %d]", ps, dim)
	}

	// timm's state dict order.
	if err := a.same("cls_token", "cls", 1, 1, dim); err != nil {
		return err
	}
	a.put("pos_embed", pos, pd)
	a.put("patch_embed.proj.weight", hwioToOIHW(kernel), kd)
	if err := a.same("patch_embed.proj.bias", "embedding/bias", dim); err != nil {
		return err
	}
	for i := range depth {
		if err := a.augregBlock(i, dim, heads, hd, hidden); err != nil {
			return err
		}
	}
	if err := a.same("norm.weight", "Transformer/encoder_norm/scale", dim); err != nil {
		return err
	}
	if err := a.same("norm.bias", "Transformer/encoder_norm/bias", dim); err != nil {
		return err
	}

	// What the mapping did not use: heads dropped, anything else kept under its own name.
	var ignored []string
	for _, n := range c.Names {
		if a.used[n] {
			continue
		}
		rest, _ := strings.CutPrefix(n, prefix)
		if strings.HasPrefix(rest, "head/") || strings.HasPrefix(rest, "pre_logits/") || rest == "head" {
			ignored = append(ignored, n)
			continue
		}
		if _, dup := a.tensors[n]; dup {
			return tensorErr(c.Path, n, "is also the timm name of an array the AugReg layout maps to it")
		}
		a.put(n, c.Tensors[n], c.DTypes[n])
	}
	slices.Sort(ignored)
	c.Names, c.Tensors, c.DTypes, c.Heads = a.names, a.tensors, a.dtypes, heads
	c.Ignored = append(c.Ignored, ignored...)
	return nil
}

// augregBlock converts encoder block i.
func (a *augregConverter) augregBlock(i, dim, heads, hd, hidden int) error {
	src, dst := augregBlock(i), fmt.Sprintf("blocks.%d.", i)
	mha := src + "MultiHeadDotProductAttention_1/"
	mlp := src + "MlpBlock_3/"
	if err := a.same(dst+"norm1.weight", src+"LayerNorm_0/scale", dim); err != nil {
		return err
	}
	if err := a.same(dst+"norm1.bias", src+"LayerNorm_0/bias", dim); err != nil {
		return err
	}
	// qkv.weight rows are the output features of query, then key, then value; each kernel
	// is [in, heads*hd] once flattened, so row o of its part is column o of the kernel.
	qkv := tensor.New(3*dim, dim)
	qkvBias := tensor.New(3 * dim)
	var qd DType
	for j, part := range []string{"query", "key", "value"} {
		k, d, err := a.array(mha+part+"/kernel", []int{dim, heads, hd}, "")
		if err != nil {
			return err
		}
		if j == 0 {
			qd = d
		}
		w, kernel := qkv.Data()[j*dim*dim:(j+1)*dim*dim], k.Data()
		for in := range dim {
			for o, v := range kernel[in*dim : (in+1)*dim] {
				w[o*dim+in] = v
			}
		}
		b, _, err := a.array(mha+part+"/bias", []int{heads, hd}, "")
		if err != nil {
			return err
		}
		copy(qkvBias.Data()[j*dim:], b.Data())
	}
	a.put(dst+"attn.qkv.weight", qkv, qd)
	a.put(dst+"attn.qkv.bias", qkvBias, qd)
	if err := a.transposed(dst+"attn.proj.weight", mha+"out/kernel", []int{heads, hd, dim}, 2); err != nil {
		return err
	}
	if err := a.same(dst+"attn.proj.bias", mha+"out/bias", dim); err != nil {
		return err
	}
	if err := a.same(dst+"norm2.weight", src+"LayerNorm_2/scale", dim); err != nil {
		return err
	}
	if err := a.same(dst+"norm2.bias", src+"LayerNorm_2/bias", dim); err != nil {
		return err
	}
	if err := a.transposed(dst+"mlp.fc1.weight", mlp+"Dense_0/kernel", []int{dim, hidden}, 1); err != nil {
		return err
	}
	if err := a.same(dst+"mlp.fc1.bias", mlp+"Dense_0/bias", hidden); err != nil {
		return err
	}
	if err := a.transposed(dst+"mlp.fc2.weight", mlp+"Dense_1/kernel", []int{hidden, dim}, 1); err != nil {
		return err
	}
	return a.same(dst+"mlp.fc2.bias", mlp+"Dense_1/bias", dim)
}

// hwioToOIHW returns the [out, in, height, width] form of a convolution kernel stored as
// [height, width, in, out].
func hwioToOIHW(k *tensor.Tensor) *tensor.Tensor {
	s := k.Shape()
	h, w, in, out := s[0], s[1], s[2], s[3]
	t := tensor.New(out, in, h, w)
	src, dst := k.Data(), t.Data()
	for y := range h {
		for x := range w {
			for c := range in {
				row := src[((y*w+x)*in+c)*out:][:out]
				for o, v := range row {
					dst[((o*in+c)*h+y)*w+x] = v
				}
			}
		}
	}
	return t
}
