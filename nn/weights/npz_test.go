package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
	"github.com/semprox/semprox/tensor"
)

// npyFile returns a .npy file (version 1.0, laid out as np.save lays it out) with the given
// element type, shape and raw data.
func npyFile(descr string, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	s := strings.Join(dims, ", ")
	if len(shape) == 1 {
		s += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, s)
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), binary.LittleEndian.AppendUint16(nil, uint16(len(h)))...)
	return append(append(b, h...), data...)
}

// npyF32 is t as a little-endian float32 .npy file.
func npyF32(t *tensor.Tensor) []byte {
	return npyFile("<f4", t.Shape(), f32Bytes(t.Data()...))
}

// npzArchive is a .npz archive of arrays (name -> .npy file), in name order.
type npzArchive map[string][]byte

// zip writes a as np.savez (stored) or np.savez_compressed (deflate) would.
func (a npzArchive) zip(t testing.TB, deflate bool) []byte {
	t.Helper()
	var entries []zipEntry
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
	}) {
		entries = append(entries, zipEntry{name + ".npy", a[name]})
	}
	return makeZip(t, entries, deflate)
}

// augregGeometry is a small ViT in the AugReg layout: width 4, 2 heads, MLP 16, patch 2,
// 5 tokens, depth 2 (unless changed).
type augregGeometry struct{ dim, heads, hidden, patch, tokens, depth int }

var smallAugreg = augregGeometry{dim: 4, heads: 2, hidden: 16, patch: 2, tokens: 5, depth: 2}

// augregTensors returns the arrays of an AugReg ViT of geometry g under prefix, each
// element distinct (array k holds k*1000 + its index), with a classifier head and
// pre-logits layer.
func augregTensors(prefix string, g augregGeometry) map[string]*tensor.Tensor {
	d, h, hd := g.dim, g.heads, g.dim/g.heads
	shapes := map[string][]int{
		"embedding/kernel": {g.patch, g.patch, 3, d}, "embedding/bias": {d}, "cls": {1, 1, d},
		"Transformer/posembed_input/pos_embedding": {1, g.tokens, d},
		"Transformer/encoder_norm/scale":           {d}, "Transformer/encoder_norm/bias": {d},
		"head/kernel": {d, 3}, "head/bias": {3}, "pre_logits/kernel": {d, d}, "pre_logits/bias": {d},
	}
	for i := range g.depth {
		b := fmt.Sprintf("Transformer/encoderblock_%d/", i)
		mha := b + "MultiHeadDotProductAttention_1/"
		for _, part := range []string{"query", "key", "value"} {
			shapes[mha+part+"/kernel"] = []int{d, h, hd}
			shapes[mha+part+"/bias"] = []int{h, hd}
		}
		shapes[mha+"out/kernel"] = []int{h, hd, d}
		shapes[mha+"out/bias"] = []int{d}
		for _, ln := range []string{"LayerNorm_0", "LayerNorm_2"} {
			shapes[b+ln+"/scale"] = []int{d}
			shapes[b+ln+"/bias"] = []int{d}
		}
		shapes[b+"MlpBlock_3/Dense_0/kernel"] = []int{d, g.hidden}
		shapes[b+"MlpBlock_3/Dense_0/bias"] = []int{g.hidden}
		shapes[b+"MlpBlock_3/Dense_1/kernel"] = []int{g.hidden, d}
		shapes[b+"MlpBlock_3/Dense_1/bias"] = []int{d}
	}
	out := make(map[string]*tensor.Tensor, len(shapes))
	for k, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range shapes {
			if !yield(n) {
				return
			}
		}
	}) {
		x := tensor.New(shapes[name]...)
		for i := range x.Data() {
			x.Data()[i] = float32(k*1000 + i)
		}
		out[prefix+name] = x
	}
	return out
}

// augregNPZ is the archive of ts, every array float32.
func augregNPZ(ts map[string]*tensor.Tensor) npzArchive {
	a := npzArchive{}
	for name, x := range ts {
		a[name] = npyF32(x)
	}
	return a
}

// readTimmNPZ reads file (written to a temporary .npz) and converts it to timm's names.
func readTimmNPZ(t *testing.T, file []byte) *Checkpoint {
	t.Helper()
	c := mustRead(t, writeTemp(t, "vit.npz", file))
	if c.Format != NPZ {
		t.Fatalf("format %v, want NPZ", c.Format)
	}
	if err := c.TimmNames(); err != nil {
		t.Fatal(err)
	}
	return c
}

// timmOrder is the state dict order of a timm ViT of the given depth.
func timmOrder(depth int) []string {
	names := []string{"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
	for i := range depth {
		for _, s := range []string{"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
			"attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"} {
			names = append(names, fmt.Sprintf("blocks.%d.%s", i, s))
		}
	}
	return append(names, "norm.weight", "norm.bias")
}

// checkAugregMapping checks every timm tensor of c against the AugReg arrays src (under
// prefix), element by element, with the index arithmetic of the mapping written out.
func checkAugregMapping(t *testing.T, c *Checkpoint, src map[string]*tensor.Tensor, prefix string, g augregGeometry) {
	t.Helper()
	d, hd := g.dim, g.dim/g.heads
	if !slices.Equal(c.Names, timmOrder(g.depth)) {
		t.Fatalf("names %v,\nwant %v", c.Names, timmOrder(g.depth))
	}
	if err := Check(vitShapes(d, g.depth, g.patch, g.tokens), c.Tensors); err != nil {
		t.Fatal(err)
	}
	if c.Heads != g.heads {
		t.Errorf("Heads = %d, want %d", c.Heads, g.heads)
	}
	want := []string{prefix + "head/bias", prefix + "head/kernel", prefix + "pre_logits/bias", prefix + "pre_logits/kernel"}
	if !slices.Equal(c.Ignored, want) {
		t.Errorf("Ignored = %v, want %v", c.Ignored, want)
	}
	at := func(name string) *tensor.Tensor { return src[prefix+name] }
	mismatch := 0
	expect := func(name string, got, want float32) {
		if math.Float32bits(got) != math.Float32bits(want) {
			if mismatch++; mismatch < 10 {
				t.Errorf("%s: %v, want %v", name, got, want)
			}
		}
	}
	same := func(timm, augreg string) {
		if !sameBits(c.Tensors[timm].Reshape(at(augreg).Shape()...), at(augreg)) {
			t.Errorf("%s differs from %s", timm, augreg)
		}
	}
	same("cls_token", "cls")
	same("pos_embed", "Transformer/posembed_input/pos_embedding")
	same("patch_embed.proj.bias", "embedding/bias")
	same("norm.weight", "Transformer/encoder_norm/scale")
	same("norm.bias", "Transformer/encoder_norm/bias")
	w, k := c.Tensors["patch_embed.proj.weight"], at("embedding/kernel")
	for o := range d {
		for ch := range 3 {
			for y := range g.patch {
				for x := range g.patch {
					expect("patch_embed.proj.weight", w.At(o, ch, y, x), k.At(y, x, ch, o))
				}
			}
		}
	}
	for i := range g.depth {
		b, blk := fmt.Sprintf("Transformer/encoderblock_%d/", i), fmt.Sprintf("blocks.%d.", i)
		mha := b + "MultiHeadDotProductAttention_1/"
		same(blk+"norm1.weight", b+"LayerNorm_0/scale")
		same(blk+"norm1.bias", b+"LayerNorm_0/bias")
		same(blk+"norm2.weight", b+"LayerNorm_2/scale")
		same(blk+"norm2.bias", b+"LayerNorm_2/bias")
		same(blk+"attn.proj.bias", mha+"out/bias")
		same(blk+"mlp.fc1.bias", b+"MlpBlock_3/Dense_0/bias")
		same(blk+"mlp.fc2.bias", b+"MlpBlock_3/Dense_1/bias")
		qkv, qkvBias := c.Tensors[blk+"attn.qkv.weight"], c.Tensors[blk+"attn.qkv.bias"]
		for j, part := range []string{"query", "key", "value"} {
			k, bias := at(mha+part+"/kernel"), at(mha+part+"/bias")
			for o := range d {
				expect(blk+"attn.qkv.bias", qkvBias.At(j*d+o), bias.At(o/hd, o%hd))
				for in := range d {
					expect(blk+"attn.qkv.weight", qkv.At(j*d+o, in), k.At(in, o/hd, o%hd))
				}
			}
		}
		proj, out := c.Tensors[blk+"attn.proj.weight"], at(mha+"out/kernel")
		for o := range d {
			for in := range d {
				expect(blk+"attn.proj.weight", proj.At(o, in), out.At(in/hd, in%hd, o))
			}
		}
		fc1, k0 := c.Tensors[blk+"mlp.fc1.weight"], at(b+"MlpBlock_3/Dense_0/kernel")
		fc2, k1 := c.Tensors[blk+"mlp.fc2.weight"], at(b+"MlpBlock_3/Dense_1/kernel")
		for m := range g.hidden {
			for e := range d {
				expect(blk+"mlp.fc1.weight", fc1.At(m, e), k0.At(e, m))
				expect(blk+"mlp.fc2.weight", fc2.At(e, m), k1.At(m, e))
			}
		}
	}
	for _, name := range c.Names {
		if c.DTypes[name] != F32 {
			t.Errorf("%s: dtype %v", name, c.DTypes[name])
		}
	}
}

// TestNPZAugregMapping reads small hand-made AugReg archives (stored, deflated, and under
// the "opt/target/" prefix) and checks every element of every timm tensor against the
// array and position it must come from.
func TestNPZAugregMapping(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		deflate      bool
	}{{"stored", "", false}, {"deflated", "", true}, {"opt_target", "opt/target/", false}} {
		t.Run(tc.name, func(t *testing.T) {
			src := augregTensors(tc.prefix, smallAugreg)
			raw := mustRead(t, writeTemp(t, "raw.npz", augregNPZ(src).zip(t, tc.deflate)))
			if len(raw.Names) != len(src) || !slices.IsSorted(raw.Names) {
				t.Errorf("Read names %v: want the archive's %d names, in its (sorted) order", raw.Names, len(src))
			}
			for name, x := range src {
				if !sameBits(raw.Tensors[name], x) || raw.DTypes[name] != F32 {
					t.Errorf("Read %s: %v %v, want %v", name, raw.Tensors[name], raw.DTypes[name], x)
				}
			}
			if s := raw.String(); !strings.Contains(s, "numpy .npz") {
				t.Errorf("String() = %q", s)
			}
			c := readTimmNPZ(t, augregNPZ(src).zip(t, tc.deflate))
			checkAugregMapping(t, c, src, tc.prefix, smallAugreg)
			if s := c.String(); !strings.Contains(s, "4 head tensors ignored") {
				t.Errorf("String() = %q", s)
			}
			// A second call finds timm's names and leaves them.
			if err := c.TimmNames(); err != nil || !slices.Equal(c.Names, timmOrder(smallAugreg.depth)) {
				t.Errorf("second TimmNames: %v, names %v", err, c.Names)
			}
		})
	}
}

// TestNPZOtherGeometry maps a ViT with another width, head count, MLP width and depth.
func TestNPZOtherGeometry(t *testing.T) {
	g := augregGeometry{dim: 6, heads: 3, hidden: 24, patch: 3, tokens: 2, depth: 3}
	src := augregTensors("", g)
	c := readTimmNPZ(t, augregNPZ(src).zip(t, false))
	checkAugregMapping(t, c, src, "", g)
}

// TestNPZDTypes reads float16, float64 and big-endian arrays, converted exactly (float64
// rounded to nearest), and records their types.
func TestNPZDTypes(t *testing.T) {
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c} // 1, -2, 2^-24, +Inf
	f64 := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(-3))
	be := binary.BigEndian.AppendUint32(nil, math.Float32bits(1.5))
	a := npzArchive{
		"h": npyFile("<f2", []int{2, 2}, f16),
		"d": npyFile("<f8", []int{2}, f64),
		"b": npyFile(">f4", []int{1}, be),
		"s": npyFile("<f4", nil, f32Bytes(7)),
		"e": npyFile("<f4", []int{0, 3}, nil),
	}
	c := mustRead(t, writeTemp(t, "dtypes.npz", a.zip(t, true)))
	for _, w := range []struct {
		name  string
		dtype DType
		shape []int
		data  []float32
	}{
		{"h", F16, []int{2, 2}, []float32{1, -2, 0x1p-24, float32(math.Inf(1))}},
		{"d", F64, []int{2}, []float32{0.1, -3}},
		{"b", F32, []int{1}, []float32{1.5}},
		{"s", F32, []int{}, []float32{7}},
		{"e", F32, []int{0, 3}, []float32{}},
	} {
		got := c.Tensors[w.name]
		if got == nil || c.DTypes[w.name] != w.dtype || !slices.Equal(got.Shape(), w.shape) || !slices.Equal(got.Data(), w.data) {
			t.Errorf("%s: %v (%v), want %v %v (%v)", w.name, got, c.DTypes[w.name], w.shape, w.data, w.dtype)
		}
	}
	if !slices.Equal(c.Names, []string{"b", "d", "e", "h", "s"}) {
		t.Errorf("names %v", c.Names)
	}
}

// TestNPZTorchref reads the shared fixture ViT in the AugReg layout (testdata/torchref/vit.npz,
// written by generate.py): its timm tensors are those of vit.safetensors, bit for bit, in
// the state dict order of vit.pth, and its 5-class head is ignored.
func TestNPZTorchref(t *testing.T) {
	c := mustRead(t, torchrefDir+"/vit.npz")
	if err := c.TimmNames(); err != nil {
		t.Fatal(err)
	}
	st := mustRead(t, torchrefDir+"/vit.safetensors")
	pt := mustRead(t, torchrefDir+"/vit.pth")
	if !slices.Equal(c.Names, pt.Names) {
		t.Errorf("names %v,\nwant vit.pth's %v", c.Names, pt.Names)
	}
	for _, name := range st.Names {
		if x := c.Tensors[name]; x == nil || !sameBits(x, st.Tensors[name]) {
			t.Errorf("%s differs from vit.safetensors", name)
		}
	}
	if !slices.Equal(c.Ignored, []string{"head/bias", "head/kernel"}) || c.Heads != 2 {
		t.Errorf("ignored %v, heads %d", c.Ignored, c.Heads)
	}
	if err := Check(vitShapes(64, 3, 16, 5), c.Tensors); err != nil {
		t.Error(err)
	}
}

// TestReadTimmNPZ reads an AugReg archive with ReadTimm, and refuses it for a model of
// another width.
func TestReadTimmNPZ(t *testing.T) {
	p := writeTemp(t, "vit.npz", augregNPZ(augregTensors("", smallAugreg)).zip(t, false))
	if _, err := ReadTimm(p, vitShapes(4, 2, 2, 5)); err != nil {
		t.Fatal(err)
	}
	_, err := ReadTimm(p, vitShapes(8, 2, 2, 5))
	var me *MismatchError
	if !errors.As(err, &me) || me.Path != p || len(me.WrongShape) == 0 {
		t.Errorf("error %v, want a MismatchError for %s", err, p)
	}
}

// TestNPZMappingErrors checks that a missing or misshapen array is named with the shape
// found and the shape wanted, and that nothing changes.
func TestNPZMappingErrors(t *testing.T) {
	blk1 := "Transformer/encoderblock_1/"
	q1 := blk1 + "MultiHeadDotProductAttention_1/query/kernel"
	cases := []struct {
		name   string
		modify func(m map[string]*tensor.Tensor)
		tensor string
		parts  []string
	}{
		{"missing key kernel", func(m map[string]*tensor.Tensor) {
			delete(m, blk1+"MultiHeadDotProductAttention_1/key/kernel")
		}, blk1 + "MultiHeadDotProductAttention_1/key/kernel", []string{"missing", "[4 2 2]"}},
		{"missing embedding", func(m map[string]*tensor.Tensor) { delete(m, "embedding/kernel") },
			"embedding/kernel", []string{"missing", "[patch, patch, 3, D]"}},
		{"missing norm", func(m map[string]*tensor.Tensor) { delete(m, "Transformer/encoder_norm/bias") },
			"Transformer/encoder_norm/bias", []string{"missing", "[4]"}},
		{"missing block 0", func(m map[string]*tensor.Tensor) {
			delete(m, "Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel")
		}, "Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel", []string{"missing", "[4, heads, 4/heads]"}},
		{"misshapen query", func(m map[string]*tensor.Tensor) { m[q1] = tensor.New(4, 4) },
			q1, []string{"has shape [4 4] in the file, want [4 2 2]"}},
		{"heads do not divide", func(m map[string]*tensor.Tensor) {
			m["Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel"] = tensor.New(4, 3, 1)
		}, "Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel", []string{"has shape [4 3 1] in the file, want [4, heads, 4/heads]"}},
		{"embedding rank", func(m map[string]*tensor.Tensor) { m["embedding/kernel"] = tensor.New(2, 2, 12) },
			"embedding/kernel", []string{"has shape [2 2 12] in the file, want [patch, patch, channels, width]"}},
		{"pos embedding width", func(m map[string]*tensor.Tensor) {
			m["Transformer/posembed_input/pos_embedding"] = tensor.New(1, 5, 3)
		}, "Transformer/posembed_input/pos_embedding", []string{"has shape [1 5 3] in the file, want [1, tokens, 4]"}},
		{"mlp width", func(m map[string]*tensor.Tensor) { m[blk1+"MlpBlock_3/Dense_1/kernel"] = tensor.New(8, 4) },
			blk1 + "MlpBlock_3/Dense_1/kernel", []string{"has shape [8 4] in the file, want [16 4]"}},
		{"out kernel", func(m map[string]*tensor.Tensor) {
			m[blk1+"MultiHeadDotProductAttention_1/out/kernel"] = tensor.New(4, 4)
		}, blk1 + "MultiHeadDotProductAttention_1/out/kernel", []string{"has shape [4 4] in the file, want [2 2 4]"}},
		{"cls", func(m map[string]*tensor.Tensor) { m["cls"] = tensor.New(4) }, "cls", []string{"has shape [4] in the file, want [1 1 4]"}},
		{"block gap", func(m map[string]*tensor.Tensor) {
			m["Transformer/encoderblock_3/LayerNorm_0/scale"] = tensor.New(4)
		}, "Transformer/encoderblock_2/LayerNorm_0/scale", []string{"missing", "[4]"}},
		{"timm name in the file", func(m map[string]*tensor.Tensor) { m["cls_token"] = tensor.New(1, 1, 4) },
			"cls_token", []string{"also the timm name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := augregTensors("", smallAugreg)
			tc.modify(m)
			p := writeTemp(t, "bad.npz", augregNPZ(m).zip(t, false))
			c := mustRead(t, p)
			names := slices.Clone(c.Names)
			err := c.TimmNames()
			wantError(t, err, p, tc.tensor, tc.parts...)
			if !slices.Equal(c.Names, names) || len(c.Ignored) != 0 || c.Heads != 0 {
				t.Errorf("the failed TimmNames changed the checkpoint: %v, ignored %v", c.Names, c.Ignored)
			}
		})
	}
	// An array the mapping does not know stays, under its own name, for Check to report.
	m := augregTensors("", smallAugreg)
	m[blk1+"extra"] = tensor.New(2)
	c := readTimmNPZ(t, augregNPZ(m).zip(t, false))
	err := Check(vitShapes(4, 2, 2, 5), c.Tensors)
	var me *MismatchError
	if !errors.As(err, &me) || !slices.Equal(me.Unexpected, []string{blk1 + "extra"}) {
		t.Errorf("Check: %v", err)
	}
}

// TestNPZErrors checks the refusal of damaged and foreign archives: each error names the
// file, and the array when the fault is in one.
func TestNPZErrors(t *testing.T) {
	good := npyF32(tensor.New(2, 2))
	hugeHeader := append([]byte("\x93NUMPY\x02\x00"), binary.LittleEndian.AppendUint32(nil, 1<<31)...)
	cases := []struct {
		name    string
		entries []zipEntry
		tensor  string
		parts   []string
	}{
		{"int array", []zipEntry{{"a.npy", npyFile("<i4", []int{2}, make([]byte, 8))}}, "a", []string{`NumPy type "<i4"`, "<f2, <f4, <f8"}},
		{"bfloat16 as void", []zipEntry{{"a.npy", npyFile("<V2", []int{2}, make([]byte, 4))}}, "a", []string{`NumPy type "<V2"`}},
		{"huge shape", []zipEntry{{"w.npy", npyFile("<f4", []int{1 << 40, 1 << 40}, f32Bytes(1, 2))}}, "w",
			[]string{"array of shape [1099511627776 1099511627776] and type <f4", "holds 8 bytes of data, not the more than 2^62 bytes it needs"}},
		{"shape past data", []zipEntry{{"w.npy", npyFile("<f4", []int{1000}, f32Bytes(1, 2))}}, "w",
			[]string{"holds 8 bytes of data, not the 4000 bytes it needs"}},
		{"data past shape", []zipEntry{{"w.npy", npyFile("<f8", []int{1}, make([]byte, 16))}}, "w",
			[]string{"holds 16 bytes of data, not the 8 bytes it needs"}},
		{"too many dimensions", []zipEntry{{"w.npy", npyFile("<f4", slices.Repeat([]int{1}, 65), f32Bytes(1))}}, "w",
			[]string{"65 dimensions, more than 64"}},
		{"fortran order", []zipEntry{{"w.npy", bytes.Replace(good, []byte("False"), []byte("True "), 1)}}, "",
			[]string{"zip entry w.npy: Fortran-ordered"}},
		{"not npy", []zipEntry{{"w.npy", []byte("PK\x03\x04 something else")}}, "", []string{"NumPy .npz archive: zip entry w.npy: not a .npy file"}},
		{"empty entry", []zipEntry{{"w.npy", nil}}, "", []string{"NumPy .npz archive: zip entry w.npy: not a .npy file"}},
		{"header too long", []zipEntry{{"w.npy", append(hugeHeader, "{}"...)}}, "", []string{"zip entry w.npy: header of 2147483648 bytes is too long"}},
		{"malformed header", []zipEntry{{"w.npy", npyFile("<f4", nil, nil)[:20]}}, "", []string{"zip entry w.npy: truncated header"}},
		{"duplicate", []zipEntry{{"w.npy", good}, {"w.npy", good}}, "w", []string{"zip entry w.npy twice"}},
		{"neither torch nor npz", []zipEntry{{"a.txt", nil}}, "", []string{"without <name>/data.pkl", "neither a PyTorch checkpoint nor a NumPy .npz archive", `"a.txt"`}},
		{"npy and more", []zipEntry{{"w.npy", good}, {"notes.txt", nil}}, "", []string{"neither a PyTorch checkpoint nor a NumPy .npz archive"}},
		{"empty zip", nil, "", []string{"no entries", "neither"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, deflate := range []bool{false, true} {
				p := writeTemp(t, "bad.npz", makeZip(t, tc.entries, deflate))
				_, err := Read(p)
				wantError(t, err, p, tc.tensor, tc.parts...)
			}
		})
	}

	// A key means nothing for a .npz archive.
	p := writeTemp(t, "a.npz", npzArchive{"w": good}.zip(t, false))
	_, err := ReadKey(p, "model")
	wantError(t, err, p, "", `state dict key "model" does not apply`)
	if _, err := ReadKey(p, ""); err != nil {
		t.Error(err)
	}

	// An archive of arrays that are not a ViT's reads, but TimmNames refuses it.
	c := mustRead(t, p)
	wantError(t, c.TimmNames(), p, "", "not a Vision Transformer in Google's AugReg layout", `"w"`)
}

// TestNPZCorruptData flips a byte inside an array: the CRC-32 catches it.
func TestNPZCorruptData(t *testing.T) {
	file := npzArchive{"w": npyFile("<f4", []int{4}, f32Bytes(1, 2, 3, 4))}.zip(t, false)
	i := bytes.Index(file, f32Bytes(1, 2, 3, 4))
	if i < 0 {
		t.Fatal("array bytes not found")
	}
	file[i+1] ^= 0x40
	p := writeTemp(t, "crc.npz", file)
	_, err := Read(p)
	wantError(t, err, p, "", "zip entry w.npy", "checksum error")
}

// TestNPZTruncated cuts an archive, stored and deflated, at many points: every cut is an
// error naming the file, never a panic.
func TestNPZTruncated(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		full := augregNPZ(augregTensors("", smallAugreg)).zip(t, deflate)
		for cut := 0; cut < len(full); cut += 37 {
			p := writeTemp(t, "cut.npz", full[:cut])
			if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("deflate %v, cut at %d of %d: error %v", deflate, cut, len(full), err)
			}
		}
	}
}

// npyZerosEntry returns a deflated .npz entry name.npy: the .npy header of a float32 array
// of shape [elems], then n×10^8 zero bytes, made by repeating the deflated form of 10^8
// zeros n times.
func npyZerosEntry(t testing.TB, name string, n, elems int) rawEntry {
	header := npyFile("<f4", []int{elems}, nil)
	block := deflateRuns(t, []pklRun{{[]byte{0}, 1e8}}, false)
	deflated := deflateRuns(t, []pklRun{once(header)}, false)
	deflated = append(append(deflated, bytes.Repeat(block, n)...), deflateRuns(t, nil, true)...)
	crc, zeros := crc32.Update(0, crc32.IEEETable, header), make([]byte, 1e6)
	for range 100 * n {
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	return rawEntry{name: name, deflated: deflated, size: uint64(len(header)) + uint64(n)*1e8, crc: crc}
}

// npzBombs are hostile .npz archives and what Read must say about each.
var npzBombs = []bomb{
	{"array_4e9_zeros.npz", func(t testing.TB) []byte { return zipRaw(t, npyZerosEntry(t, "w.npy", 40, 1e9)) },
		"w", []string{"the arrays would need more than", "implausible"}},
	{"many_arrays.npz", func(t testing.TB) []byte {
		// 70 deflated arrays of 10^8 zero bytes each: one alone fits the limit (16 times the
		// 6.8 MB file) but the first two do not.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		e := npyZerosEntry(t, "x", 1, 25e6)
		for i := range 70 {
			w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("a%03d.npy", i), Method: zip.Deflate, CRC32: e.crc,
				CompressedSize64: uint64(len(e.deflated)), UncompressedSize64: e.size})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(e.deflated)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}, "*", []string{"the arrays would need more than", "implausible"}},
	{"shape_2e62.npz", func(t testing.TB) []byte {
		return makeZip(t, []zipEntry{{"w.npy", npyFile("<f8", []int{1 << 31, 1 << 31}, nil)}}, false)
	}, "w", []string{"holds 0 bytes of data, not the more than 2^62 bytes it needs"}},
	{"header_4g.npz", func(t testing.TB) []byte {
		h := append([]byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"), bytes.Repeat([]byte(" "), 1000)...)
		return makeZip(t, []zipEntry{{"w.npy", h}}, true)
	}, "", []string{"header of 4294967295 bytes is too long"}},
	{"array_lies.npz", func(t testing.TB) []byte {
		// The header and the entry's declared size agree on 100 elements; the data inflate
		// to 10^8 bytes.
		e := npyZerosEntry(t, "w.npy", 1, 100)
		e.size = uint64(len(npyFile("<f4", []int{100}, nil))) + 400
		return zipRaw(t, e)
	}, "", []string{"zip entry w.npy: zip: not a valid zip file"}},
}

// TestReadNPZBombs reads each hostile .npz in a child process under a 4 GB address-space
// limit: each must end, within 5 s, with an error naming the file (and the array at fault,
// if any) and saying what is wrong.
func TestReadNPZBombs(t *testing.T) {
	for _, b := range npzBombs {
		t.Run(b.name, func(t *testing.T) {
			if childtest.Child(t) {
				p := writeTemp(t, b.name, b.build(t))
				start := time.Now()
				_, err := Read(p)
				t.Logf("Read took %v: %v", time.Since(start).Round(time.Millisecond), errLine(err))
				tensorName := b.tensor
				var e *Error
				if tensorName == "*" && errors.As(err, &e) {
					if e.Tensor == "" {
						t.Errorf("error %q names no array", err)
					}
					tensorName = e.Tensor
				}
				wantError(t, err, p, tensorName, b.parts...)
				return
			}
			childtest.RunLimited(t, 4<<30, 5*time.Second)
		})
	}
}

// FuzzNPZ reads arbitrary bytes as a weight file and converts what reads to timm's names:
// hostile archives give errors, never panics, and allocate within a fixed multiple of
// their size.
//
//	go test ./nn/weights -run '^$' -fuzz FuzzNPZ -fuzztime 1m
func FuzzNPZ(f *testing.F) {
	small := augregGeometry{dim: 2, heads: 1, hidden: 2, patch: 1, tokens: 2, depth: 1}
	f.Add(augregNPZ(augregTensors("", small)).zip(f, false))
	f.Add(augregNPZ(augregTensors("", small)).zip(f, true))
	f.Add(augregNPZ(augregTensors("opt/target/", small)).zip(f, false))
	f.Add(npzArchive{"h": npyFile("<f2", []int{2}, []byte{0, 0x3c, 0, 0xc0}), "d": npyFile(">f8", nil, make([]byte, 8))}.zip(f, true))
	f.Add(makeZip(f, []zipEntry{{"w.npy", npyFile("<f4", []int{1 << 40, 1 << 40}, f32Bytes(1, 2))}}, false))
	f.Add(makeZip(f, []zipEntry{{"w.npy", npyFile("<f4", []int{1 << 20}, nil)}}, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocatedBytes()
		c, err := readFrom(bytes.NewReader(data), int64(len(data)), "fuzz.npz", "", true)
		checkAllocs(t, before, 4<<20+4096*uint64(len(data)), len(data))
		checkReadResult(t, c, err)
		if err != nil {
			return
		}
		err = c.TimmNames()
		// The mapping allocates its tensors anew: at most about twice what Read made.
		checkAllocs(t, before, 8<<20+8192*uint64(len(data)), len(data))
		checkReadResult(t, c, err)
	})
}
