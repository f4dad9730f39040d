package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/semprox/semprox/internal/atomicfile"
	"github.com/semprox/semprox/tensor"
)

type testMeta struct {
	Arch   string    `json:"arch"`
	Epoch  int       `json:"epoch"`
	Recall []float64 `json:"recall"`
}

// specialTensors returns tensors of awkward values and shapes: NaN payloads, signed
// zeros, subnormals, infinities, a scalar and an empty tensor.
func specialTensors() map[string]*tensor.Tensor {
	bits := []uint32{0x7fc00001, 0xffbfffff, 0x7f800001, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0xff800000, 0x3f800000, 0x7f7fffff}
	vals := make([]float32, len(bits))
	for i, b := range bits {
		vals[i] = math.Float32frombits(b)
	}
	big := tensor.New(3, 5, 7)
	for i := range big.Data() {
		big.Data()[i] = float32(i)*0.37 - 11
	}
	return map[string]*tensor.Tensor{
		"special":        tensor.FromSlice(vals, 2, 5),
		"scalar":         tensor.FromSlice([]float32{-3.25}, []int{}...),
		"empty":          tensor.New(0, 4),
		"blocks.0.w":     big,
		"prompts.bank.0": tensor.FromSlice([]float32{1, 2, 3}, 3),
	}
}

// TestSaveLoadRoundTrip saves and loads a checkpoint: tensors come back bit for bit,
// metadata intact, and the files are a readable safetensors file plus its JSON.
func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ckpt.safetensors")
	in := specialTensors()
	meta := testMeta{Arch: "vit_small_patch16_224", Epoch: 7, Recall: []float64{0.5, 0.75}}
	if err := Save(p, in, meta); err != nil {
		t.Fatal(err)
	}
	var got testMeta
	c, err := Load(p, &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.Arch != meta.Arch || got.Epoch != meta.Epoch || !slices.Equal(got.Recall, meta.Recall) {
		t.Errorf("meta %+v, want %+v", got, meta)
	}
	if len(c.Tensors) != len(in) || !slices.IsSorted(c.Names) {
		t.Errorf("names %v", c.Names)
	}
	for name, want := range in {
		if !sameBits(c.Tensors[name], want) {
			t.Errorf("%s: got %v, want %v", name, c.Tensors[name], want)
		}
	}
	if c.Metadata[metaFormatKey] != "semprox" || c.Metadata[metaFileKey] != "ckpt.json" {
		t.Errorf("safetensors metadata %v", c.Metadata)
	}
	for _, f := range []string{p, filepath.Join(dir, "ckpt.json")} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v, mode %v", f, err, st.Mode())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want 2", len(entries))
	}
	// Overwriting works, and nil meta is null.
	if err := Save(p, map[string]*tensor.Tensor{"x": tensor.New(1)}, nil); err != nil {
		t.Fatal(err)
	}
	c, err = Load(p, nil)
	if err != nil || !slices.Equal(c.Names, []string{"x"}) {
		t.Fatalf("after overwrite: %v, %v", c, err)
	}
	if js, _ := os.ReadFile(MetaPath(p)); string(js) != "null\n" {
		t.Errorf("nil meta written as %q", js)
	}
}

func TestMetaPath(t *testing.T) {
	for in, want := range map[string]string{
		"a/ckpt.safetensors": "a/ckpt.json",
		"ckpt":               "ckpt.json",
		"x.bin":              "x.bin.json",
	} {
		if got := MetaPath(in); got != want {
			t.Errorf("MetaPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// saveUnembedded writes a checkpoint as Save did before the metadata and the data hash were
// embedded: the tensor file records only the SHA-256 of the JSON file beside it.
func saveUnembedded(t *testing.T, path string, tensors map[string]*tensor.Tensor, meta any) {
	t.Helper()
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	js = append(js, '\n')
	header := map[string]string{metaFormatKey: "semprox", metaFileKey: filepath.Base(MetaPath(path)), metaHashKey: sha256Hex(js)}
	if err := os.WriteFile(MetaPath(path), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return writeSafetensors(w, tensors, sortedNames(tensors), header) }); err != nil {
		t.Fatal(err)
	}
}

// TestLoadIgnoresTheReadableCopy reads the metadata embedded in the tensor file: the JSON beside
// it may be stale (a crash between the two writes), edited or gone.
func TestLoadIgnoresTheReadableCopy(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	ten := map[string]*tensor.Tensor{"w": tensor.New(2)}
	if err := Save(a, ten, testMeta{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	if err := Save(b, ten, testMeta{Epoch: 2}); err != nil {
		t.Fatal(err)
	}
	js, _ := os.ReadFile(MetaPath(b))
	os.WriteFile(MetaPath(a), js, 0o644)
	var meta testMeta
	if _, err := Load(a, &meta); err != nil || meta.Epoch != 1 {
		t.Errorf("with b's JSON beside a: epoch %d, %v", meta.Epoch, err)
	}
	os.Remove(MetaPath(a))
	if _, err := Load(a, &meta); err != nil || meta.Epoch != 1 {
		t.Errorf("without its JSON: epoch %d, %v", meta.Epoch, err)
	}
}

// TestLoadRefusesMismatchedPair reads a checkpoint written before the metadata was embedded
// from its pair of files, and notices a JSON file that was not saved with the tensors, a
// missing JSON file, and a safetensors file that Save did not write.
func TestLoadRefusesMismatchedPair(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	ten := map[string]*tensor.Tensor{"w": tensor.New(2)}
	saveUnembedded(t, a, ten, testMeta{Epoch: 1})
	saveUnembedded(t, b, ten, testMeta{Epoch: 2})
	var meta testMeta
	if _, err := Load(a, &meta); err != nil || meta.Epoch != 1 {
		t.Fatalf("unembedded pair: epoch %d, %v", meta.Epoch, err)
	}
	js, _ := os.ReadFile(MetaPath(b))
	os.WriteFile(MetaPath(a), js, 0o644)
	_, err := Load(a, &testMeta{})
	wantError(t, err, MetaPath(a), "", "the two were not saved together")

	os.Remove(MetaPath(a))
	_, err = Load(a, nil)
	wantError(t, err, a, "", "reading its metadata file", "no such file")

	_, err = Load(torchrefDir+"/vit.safetensors", nil)
	wantError(t, err, torchrefDir+"/vit.safetensors", "", "not a checkpoint written by Save")

	if err := Save(b, ten, map[string]any{"epoch": "seven"}); err != nil {
		t.Fatal(err)
	}
	_, err = Load(b, &testMeta{})
	wantError(t, err, b, "", "decoding the metadata")
}

// dataOffset returns where the tensor data of a safetensors file starts.
func dataOffset(b []byte) int { return 8 + int(binary.LittleEndian.Uint64(b)) }

// TestLoadDetectsDamage notices any changed bit of the tensor data or of the header.
func TestLoadDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.safetensors")
	if err := Save(p, specialTensors(), testMeta{Epoch: 4}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	start := dataOffset(good)
	for _, at := range []int{start, start + 1, (start + len(good)) / 2, len(good) - 1} {
		for _, bit := range []byte{0x01, 0x80} {
			bad := slices.Clone(good)
			bad[at] ^= bit
			os.WriteFile(p, bad, 0o644)
			_, err := Load(p, nil)
			wantError(t, err, p, "", "damaged", "SHA-256 of its tensor data")
		}
	}
	bad := slices.Clone(good)
	i := bytes.Index(bad, []byte(`\"epoch\": 4`))
	bad[i+len(`\"epoch\": `)] = '5' // the embedded metadata, edited
	os.WriteFile(p, bad, 0o644)
	_, err := Load(p, nil)
	wantError(t, err, p, "", "not saved together")
}

// TestLoadRecent falls back on the checkpoint SaveKeeping kept when the newest is damaged or
// missing, and says why.
func TestLoadRecent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "last.safetensors")
	gen := func(g int) map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{"w": tensor.FromSlice([]float32{float32(g), -float32(g)}, 2)}
	}
	var meta testMeta
	if _, _, err := LoadRecent(p, &meta, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no checkpoint yet: %v", err)
	}
	for g := 1; g <= 3; g++ {
		if err := SaveKeeping(p, gen(g), testMeta{Epoch: g}); err != nil {
			t.Fatal(err)
		}
	}
	c, damaged, err := LoadRecent(p, &meta, nil)
	if err != nil || damaged != nil || meta.Epoch != 3 || c.Path != p {
		t.Fatalf("intact: epoch %d from %s, %v, %v", meta.Epoch, c.Path, damaged, err)
	}
	if _, err := Load(PreviousPath(p), &meta); err != nil || meta.Epoch != 2 {
		t.Errorf("the previous checkpoint: epoch %d, %v", meta.Epoch, err)
	}
	refuse3 := func() error {
		if meta.Epoch == 3 {
			return errors.New("generation 3 refused")
		}
		return nil
	}
	if c, damaged, err := LoadRecent(p, &meta, refuse3); err != nil || meta.Epoch != 2 || c.Path != PreviousPath(p) {
		t.Errorf("newest refused by check: epoch %d, %v", meta.Epoch, err)
	} else {
		wantError(t, damaged, p, "", "generation 3 refused")
	}
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 4
	os.WriteFile(p, b, 0o644)
	c, damaged, err = LoadRecent(p, &meta, nil)
	if err != nil || meta.Epoch != 2 || c.Path != PreviousPath(p) || c.Tensors["w"].Data()[0] != 2 {
		t.Fatalf("damaged newest: epoch %d from %v, %v", meta.Epoch, c, err)
	}
	wantError(t, damaged, p, "", "damaged")
	os.Remove(p)
	if _, damaged, err = LoadRecent(p, &meta, nil); err != nil || meta.Epoch != 2 || !errors.Is(damaged, os.ErrNotExist) {
		t.Errorf("missing newest: epoch %d, %v, %v", meta.Epoch, damaged, err)
	}
	os.WriteFile(PreviousPath(p), b, 0o644)
	if _, _, err = LoadRecent(p, &meta, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("newest missing, previous damaged: %v, want the newest's error", err)
	}
}

// TestSaveRefusesBadInput refuses bad input before writing anything.
func TestSaveRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.safetensors")
	ok := map[string]*tensor.Tensor{"w": tensor.New(1)}
	cases := []struct {
		name    string
		path    string
		tensors map[string]*tensor.Tensor
		meta    any
		tensor  string
		want    string
	}{
		{"nil tensor", p, map[string]*tensor.Tensor{"w": nil}, nil, "w", "nil tensor"},
		{"empty name", p, map[string]*tensor.Tensor{"": tensor.New(1)}, nil, "", "reserved or empty tensor name"},
		{"reserved name", p, map[string]*tensor.Tensor{"__metadata__": tensor.New(1)}, nil, "__metadata__", "reserved"},
		{"unencodable meta", p, ok, map[string]any{"f": func() {}}, "", "encoding the metadata as JSON"},
		{"json path", filepath.Join(dir, "c.json"), ok, nil, "", "cannot end in .json"},
	}
	for _, tc := range cases {
		err := Save(tc.path, tc.tensors, tc.meta)
		wantError(t, err, tc.path, tc.tensor, tc.want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed saves left %d files", len(entries))
	}
	err := Save(filepath.Join(dir, "missing", "c.safetensors"), ok, nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("save into a missing directory: %v", err)
	}
}

// TestLoadBytes reads a saved pair from memory as Load reads it from disk, and refuses a
// JSON that was not saved with the tensors and a file Save did not write.
func TestLoadBytes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.safetensors")
	in := specialTensors()
	if err := Save(p, in, testMeta{Arch: "x", Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	ten, _ := os.ReadFile(p)
	js, _ := os.ReadFile(MetaPath(p))
	const name = "embedded/c.safetensors"
	var meta testMeta
	c, err := LoadBytes(name, ten, js, &meta)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != name || meta.Arch != "x" || meta.Epoch != 3 || len(c.Tensors) != len(in) {
		t.Fatalf("LoadBytes: path %q, meta %+v, %d tensors", c.Path, meta, len(c.Tensors))
	}
	for n, want := range in {
		got := c.Tensors[n].Data()
		for i, v := range want.Data() {
			if math.Float32bits(got[i]) != math.Float32bits(v) {
				t.Fatalf("%s[%d] = %v, want %v", n, i, got[i], v)
			}
		}
	}
	other := append([]byte(nil), js...)
	other[len(other)-2] = ' '
	if _, err = LoadBytes(name, ten, other, &meta); err != nil || meta.Epoch != 3 {
		t.Errorf("LoadBytes with another JSON: epoch %d, %v; want the embedded metadata", meta.Epoch, err)
	}
	saveUnembedded(t, p, in, testMeta{Arch: "x", Epoch: 3})
	ten, _ = os.ReadFile(p)
	if _, err = LoadBytes(name, ten, js, &meta); err != nil || meta.Epoch != 3 {
		t.Errorf("LoadBytes of an unembedded pair: epoch %d, %v", meta.Epoch, err)
	}
	_, err = LoadBytes(name, ten, other, nil)
	wantError(t, err, MetaPath(name), "", "the two were not saved together")

	foreign, err := os.ReadFile(torchrefDir + "/vit.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBytes("vit.safetensors", foreign); err != nil {
		t.Errorf("ReadBytes: %v", err)
	}
	_, err = LoadBytes("vit.safetensors", foreign, js, nil)
	wantError(t, err, "vit.safetensors", "", "not a checkpoint written by Save")
}
