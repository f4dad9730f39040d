package weights

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/tensor"
)

// vitShapes returns the tensor names and shapes of a timm VisionTransformer without a head.
func vitShapes(dim, depth, patch, tokens int) map[string][]int {
	s := map[string][]int{
		"cls_token":               {1, 1, dim},
		"pos_embed":               {1, tokens, dim},
		"patch_embed.proj.weight": {dim, 3, patch, patch},
		"patch_embed.proj.bias":   {dim},
		"norm.weight":             {dim},
		"norm.bias":               {dim},
	}
	for l := range depth {
		b := fmt.Sprintf("blocks.%d.", l)
		for k, v := range map[string][]int{
			"norm1.weight": {dim}, "norm1.bias": {dim},
			"attn.qkv.weight": {3 * dim, dim}, "attn.qkv.bias": {3 * dim},
			"attn.proj.weight": {dim, dim}, "attn.proj.bias": {dim},
			"norm2.weight": {dim}, "norm2.bias": {dim},
			"mlp.fc1.weight": {4 * dim, dim}, "mlp.fc1.bias": {4 * dim},
			"mlp.fc2.weight": {dim, 4 * dim}, "mlp.fc2.bias": {dim},
		} {
			s[b+k] = v
		}
	}
	return s
}

// TestTimmNamesDINO strips DINO's prefixes and drops its projection head.
func TestTimmNamesDINO(t *testing.T) {
	c := mustRead(t, "testdata/dino.pth")
	cls := c.Tensors["backbone.cls_token"]
	if err := c.TimmNames(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"cls_token", "pos_embed", "blocks.0.norm1.weight"}; !slices.Equal(c.Names, want) {
		t.Errorf("names %v, want %v", c.Names, want)
	}
	if want := []string{"head.last_layer.weight_g", "head.mlp.0.weight"}; !slices.Equal(c.Ignored, want) {
		t.Errorf("ignored %v, want %v", c.Ignored, want)
	}
	if c.Tensors["cls_token"] != cls || len(c.Tensors) != 3 || len(c.DTypes) != 3 || c.DTypes["cls_token"] != F32 {
		t.Errorf("tensors %v, dtypes %v", c.Tensors, c.DTypes)
	}
	if !strings.Contains(c.String(), "2 head tensors ignored") {
		t.Errorf("String() = %q", c.String())
	}

	s, err := ReadKey("testdata/dino.pth", "student")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.TimmNames(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"cls_token", "pos_embed", "blocks.0.norm1.weight"}; !slices.Equal(s.Names, want) || len(s.Ignored) != 1 {
		t.Errorf("student: names %v ignored %v", s.Names, s.Ignored)
	}
}

// TestTimmNamesCollision refuses a checkpoint in which two names become one.
func TestTimmNamesCollision(t *testing.T) {
	c := &Checkpoint{Path: "x.pth", Names: []string{"pos_embed", "module.pos_embed", "backbone.module.head"},
		Tensors: map[string]*tensor.Tensor{"pos_embed": tensor.New(1), "module.pos_embed": tensor.New(1), "backbone.module.head": tensor.New(1)}}
	err := c.TimmNames()
	wantError(t, err, "x.pth", "module.pos_embed", `becomes "pos_embed" once prefixes are stripped, as "pos_embed" does`)
	if len(c.Names) != 3 || len(c.Ignored) != 0 {
		t.Errorf("a failed TimmNames changed the checkpoint: %v %v", c.Names, c.Ignored)
	}
	if got := stripWrappers("backbone.module.backbone.x.module.y"); got != "x.module.y" {
		t.Errorf("stripWrappers = %q", got)
	}
}

// TestCheckReportsEverything checks that Check lists every missing, unexpected and
// wrongly shaped tensor, sorted, in one error.
func TestCheckReportsEverything(t *testing.T) {
	expected := map[string][]int{"a": {2}, "b": {3, 4}, "c": {1}, "d": {5}, "z": {2, 2}}
	got := map[string]*tensor.Tensor{
		"a": tensor.New(2), "b": tensor.New(4, 3), "z": tensor.New(4),
		"y": tensor.New(1), "x": tensor.New(1),
	}
	err := Check(expected, got)
	var m *MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("error %v is not a *MismatchError", err)
	}
	if !slices.Equal(m.Missing, []string{"c", "d"}) || !slices.Equal(m.Unexpected, []string{"x", "y"}) {
		t.Errorf("missing %v unexpected %v", m.Missing, m.Unexpected)
	}
	if len(m.WrongShape) != 2 || m.WrongShape[0].Name != "b" || m.WrongShape[1].Name != "z" ||
		!slices.Equal(m.WrongShape[0].Found, []int{4, 3}) || !slices.Equal(m.WrongShape[0].Want, []int{3, 4}) {
		t.Errorf("wrong shapes %+v", m.WrongShape)
	}
	msg := err.Error()
	for _, part := range []string{"2 missing, 2 unexpected, 2 wrongly shaped", "refusing to load",
		"missing:     c", "missing:     d", "unexpected:  x", "unexpected:  y",
		"wrong shape: b is [4 3] in the file, the model wants [3 4]", "wrong shape: z is [4] in the file"} {
		if !strings.Contains(msg, part) {
			t.Errorf("message lacks %q:\n%s", part, msg)
		}
	}
	if strings.Index(msg, "missing:     c") > strings.Index(msg, "missing:     d") {
		t.Error("missing names not sorted")
	}
	if err := Check(map[string][]int{"a": {2}}, map[string]*tensor.Tensor{"a": tensor.New(2)}); err != nil {
		t.Errorf("matching tensors: %v", err)
	}
	if err := Check(map[string][]int{"s": {}}, map[string]*tensor.Tensor{"s": tensor.New()}); err != nil {
		t.Errorf("scalar: %v", err)
	}
}

// TestReadTimmTorchref loads the fixture ViT from both files against the timm shapes of
// its configuration, and refuses it for a model of another depth or width.
func TestReadTimmTorchref(t *testing.T) {
	shapes := vitShapes(64, 3, 16, 5)
	for _, f := range []string{"vit.safetensors", "vit.pth"} {
		p := torchrefDir + "/" + f
		c, err := ReadTimm(p, shapes)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(c.Names) != len(shapes) || len(c.Ignored) != 0 {
			t.Errorf("%s: %d names, %d ignored", f, len(c.Names), len(c.Ignored))
		}
	}
	p := torchrefDir + "/vit.pth"
	_, err := ReadTimm(p, vitShapes(64, 4, 16, 5))
	var m *MismatchError
	if !errors.As(err, &m) || m.Path != p || len(m.Missing) != 12 || m.Missing[0] != "blocks.3.attn.proj.bias" ||
		len(m.Unexpected) != 0 || len(m.WrongShape) != 0 || !strings.Contains(err.Error(), p) {
		t.Errorf("depth 4: %v", err)
	}
	_, err = ReadTimm(p, vitShapes(32, 3, 16, 5))
	if !errors.As(err, &m) || len(m.WrongShape) != len(vitShapes(32, 3, 16, 5)) {
		t.Errorf("width 32: %v", err)
	}
	_, err = ReadTimm("testdata/legacy.pth", shapes)
	wantError(t, err, "testdata/legacy.pth", "", "legacy")
}
