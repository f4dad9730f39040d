package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestPyTorchDTypes reads Half, BFloat16, Double and integer storages saved by torch.save
// and compares them with PyTorch's float32 conversion, bit for bit.
func TestPyTorchDTypes(t *testing.T) {
	c := mustRead(t, "testdata/dtypes.pth")
	ref := mustRead(t, "testdata/dtypes.safetensors")
	if c.Format != PyTorch || c.StateDictKey != "" {
		t.Errorf("Format %v, StateDictKey %q", c.Format, c.StateDictKey)
	}
	want := []string{"f16", "bf16", "f64", "f32", "i64", "i32", "u8", "bool"}
	if !slices.Equal(c.Names, want) {
		t.Fatalf("names %v, want %v", c.Names, want)
	}
	for _, name := range want {
		if !sameBits(c.Tensors[name], ref.Tensors[name+".expected"]) {
			t.Errorf("%s: got %v, PyTorch %v", name, c.Tensors[name].Data(), ref.Tensors[name+".expected"].Data())
		}
		if c.DTypes[name] != ref.DTypes[name] {
			t.Errorf("%s: DType %v, want %v", name, c.DTypes[name], ref.DTypes[name])
		}
	}
}

// TestPyTorchViews reads tensors that are views into shared storages (transpose, row
// slice with an offset, strided column, stride-0 expansion, scalar, empty, Parameter,
// transposed half) and compares them with PyTorch's contiguous copies.
func TestPyTorchViews(t *testing.T) {
	c := mustRead(t, "testdata/views.pth")
	ref := mustRead(t, "testdata/views_expected.safetensors")
	if !slices.Equal(c.Names, ref.Names) {
		t.Fatalf("names %v, want %v", c.Names, ref.Names)
	}
	for _, name := range c.Names {
		if !sameBits(c.Tensors[name], ref.Tensors[name]) {
			t.Errorf("%s: got %v %v, want %v %v", name, c.Tensors[name].Shape(), c.Tensors[name].Data(),
				ref.Tensors[name].Shape(), ref.Tensors[name].Data())
		}
	}
	// Views of one storage come out as tensors with storage of their own.
	c.Tensors["base"].Data()[0] = 99
	if c.Tensors["transposed"].Data()[0] == 99 || c.Tensors["column"].Data()[0] == 99 {
		t.Error("tensors read from one storage share memory")
	}
}

// TestPyTorchDINOCheckpoint reads a full-DINO-shaped checkpoint: Read picks the teacher;
// ReadKey picks others and rejects what is not a state dict.
func TestPyTorchDINOCheckpoint(t *testing.T) {
	const p = "testdata/dino.pth"
	c := mustRead(t, p)
	if c.StateDictKey != "teacher" {
		t.Errorf("StateDictKey %q, want teacher", c.StateDictKey)
	}
	wantNames := []string{"backbone.cls_token", "backbone.pos_embed", "backbone.blocks.0.norm1.weight",
		"head.mlp.0.weight", "head.last_layer.weight_g"}
	if !slices.Equal(c.Names, wantNames) {
		t.Errorf("names %v", c.Names)
	}
	if s := c.String(); !strings.Contains(s, "state dict: teacher") || !strings.Contains(s, "5 tensors") {
		t.Errorf("String() = %q", s)
	}
	student, err := ReadKey(p, "student")
	if err != nil {
		t.Fatal(err)
	}
	if student.StateDictKey != "student" || student.Names[0] != "module.backbone.cls_token" {
		t.Errorf("student: key %q names %v", student.StateDictKey, student.Names)
	}
	center, err := ReadKey(p, "dino_loss")
	if err != nil || !slices.Equal(center.Names, []string{"center"}) {
		t.Errorf("dino_loss: %v, %v", center, err)
	}
	for _, tc := range []struct{ key, tensor, want string }{
		{"", "student", "entry of the saved object is a dict of 4, not a tensor"},
		{"optimizer", "state", `entry of key "optimizer" is a dict of 1, not a tensor`},
		{"epoch", "", `key "epoch" is a int, not a dict of tensors`},
		{"nope", "", `the saved object has no key "nope"`},
		{"teacher/x", "", `key "teacher" has no key "x"`},
		{"epoch/x", "", `key "epoch" is a int, not a dict`},
		{"args", "", `key "args" is a argparse.Namespace object, not a dict of tensors`},
	} {
		_, err := ReadKey(p, tc.key)
		wantError(t, err, p, tc.tensor, tc.want)
	}
}

// TestPyTorchOtherFiles covers protocol 4 pickles and the files Read must refuse clearly.
func TestPyTorchOtherFiles(t *testing.T) {
	c := mustRead(t, "testdata/protocol4.pth")
	if !slices.Equal(c.Names, []string{"w", "b"}) || c.Tensors["w"].At(1, 0) != 3 || c.Tensors["b"].At(1) != -0.5 {
		t.Errorf("protocol 4: %v %v", c.Names, c.Tensors)
	}
	_, err := Read("testdata/legacy.pth")
	wantError(t, err, "testdata/legacy.pth", "", "legacy format", "torch.save(torch.load(old), new)")
	_, err = Read("testdata/module.pth")
	wantError(t, err, "testdata/module.pth", "", "the saved object is a torch.nn.modules.linear.Linear object, not a dict of tensors")
	_, err = ReadKey("testdata/dtypes.safetensors", "model")
	wantError(t, err, "testdata/dtypes.safetensors", "", `state dict key "model" does not apply`)
	p := writeTemp(t, "x.bin", []byte("hello, this is not a checkpoint"))
	_, err = Read(p)
	wantError(t, err, p, "", "unrecognised weight file")
	tar := make([]byte, 1024)
	copy(tar[257:], "ustar")
	p = writeTemp(t, "old.pth", tar)
	_, err = Read(p)
	wantError(t, err, p, "", "legacy format")
	dir := t.TempDir()
	_, err = Read(dir)
	wantError(t, err, dir, "", "not a regular file")
	_, err = Read("testdata/does-not-exist.pth")
	wantError(t, err, "testdata/does-not-exist.pth", "", "no such file")
}

// zipEntry is one file of a zip archive built by a test.
type zipEntry struct {
	name string
	data []byte
}

// readZip returns the entries of a zip file.
func readZip(t testing.TB, path string) []zipEntry {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []zipEntry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, zipEntry{f.Name, b})
	}
	return out
}

// makeZip writes entries as a zip archive (stored, or deflated when deflate is set).
func makeZip(t testing.TB, entries []zipEntry, deflate bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		method := zip.Store
		if deflate {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// torchPickle writes the data.pkl of a state dict in the way torch.save does (protocol 2),
// for tensors described by the test: name, storage type, key, numel, offset, size, stride.
type pklTensor struct {
	name, storage, key string
	numel, offset      int
	size, stride       []int
}

func torchPickle(tensors []pklTensor) []byte {
	b := []byte("\x80\x02ccollections\nOrderedDict\n)R(")
	for _, t := range tensors {
		b = append(b, pklStr(t.name)...)
		b = append(b, t.rebuild(pklTuple(t.size), pklTuple(t.stride))...)
	}
	return append(b, "u."...)
}

// rebuild returns the opcodes that push the tensor t, the result of
// torch._utils._rebuild_tensor_v2, with size and stride the opcodes that push those tuples.
func (t pklTensor) rebuild(size, stride []byte) []byte {
	b := []byte("ctorch._utils\n_rebuild_tensor_v2\n((") // the arguments, then the persistent id
	b = append(b, pklStr("storage")...)
	b = append(b, "ctorch\n"+t.storage+"\n"...)
	b = append(b, pklStr(t.key)...)
	b = append(b, pklStr("cpu")...)
	b = append(b, pklInt(t.numel)...)
	b = append(b, "tQ"...)
	b = append(b, pklInt(t.offset)...)
	b = append(b, size...)
	b = append(b, stride...)
	return append(b, "\x89ccollections\nOrderedDict\n)RtR"...)
}

// pklStr returns a BINUNICODE opcode pushing s.
func pklStr(s string) []byte {
	b := binary.LittleEndian.AppendUint32([]byte{'X'}, uint32(len(s)))
	return append(b, s...)
}

// pklInt returns an opcode pushing n: BININT, or LONG1 when n needs more than 32 bits.
func pklInt(n int) []byte {
	if n == int(int32(n)) {
		return binary.LittleEndian.AppendUint32([]byte{'J'}, uint32(n))
	}
	return binary.LittleEndian.AppendUint64([]byte{0x8a, 8}, uint64(n))
}

// pklTuple returns the opcodes that push a tuple of ints.
func pklTuple(ns []int) []byte {
	b := []byte{'('}
	for _, n := range ns {
		b = append(b, pklInt(n)...)
	}
	return append(b, 't')
}

// f32Bytes returns the little-endian bytes of vals.
func f32Bytes(vals ...float32) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// TestTorchPickleHelper checks the hand-built pickle against the reader, so that the error
// tests below change one thing at a time.
func TestTorchPickleHelper(t *testing.T) {
	pkl := torchPickle([]pklTensor{{"w", "FloatStorage", "0", 6, 1, []int{2, 2}, []int{1, 2}}})
	file := makeZip(t, []zipEntry{{"a/data.pkl", pkl}, {"a/data/0", f32Bytes(0, 1, 2, 3, 4, 5)}}, true)
	p := writeTemp(t, "a.pth", file)
	c := mustRead(t, p)
	if got := c.Tensors["w"].Data(); !slices.Equal(got, []float32{1, 3, 2, 4}) {
		t.Errorf("w = %v, want [1 3 2 4]", got)
	}
	// Big-endian storages (PyTorch 2.1+ records the byte order).
	be := make([]byte, 24)
	for i := range 6 {
		binary.BigEndian.PutUint32(be[4*i:], math.Float32bits(float32(i)))
	}
	file = makeZip(t, []zipEntry{{"a/data.pkl", pkl}, {"a/byteorder", []byte("big")}, {"a/data/0", be}}, false)
	p = writeTemp(t, "be.pth", file)
	c = mustRead(t, p)
	if got := c.Tensors["w"].Data(); !slices.Equal(got, []float32{1, 3, 2, 4}) {
		t.Errorf("big-endian w = %v, want [1 3 2 4]", got)
	}
}

// TestPyTorchErrors covers damaged and hostile PyTorch archives: each gives an *Error
// naming the file and, where one is at fault, the tensor.
func TestPyTorchErrors(t *testing.T) {
	good := readZip(t, "testdata/protocol4.pth")
	replace := func(name string, data []byte) []zipEntry {
		var out []zipEntry
		for _, e := range good {
			if e.name == name {
				if data == nil {
					continue
				}
				e.data = data
			}
			out = append(out, e)
		}
		return out
	}
	w := pklTensor{"w", "FloatStorage", "0", 4, 0, []int{2, 2}, []int{2, 1}}
	one := func(mod func(*pklTensor)) []zipEntry {
		x := w
		mod(&x)
		return []zipEntry{{"a/data.pkl", torchPickle([]pklTensor{x})}, {"a/data/0", f32Bytes(1, 2, 3, 4)}}
	}
	cases := []struct {
		name    string
		entries []zipEntry
		tensor  string
		parts   []string
	}{
		{"no data.pkl", []zipEntry{{"a/x", nil}}, "", []string{"without <name>/data.pkl"}},
		{"npz", []zipEntry{{"embedding/kernel.npy", nil}}, "", []string{"NumPy .npz archive"}},
		{"two pickles", []zipEntry{{"a/data.pkl", nil}, {"b/data.pkl", nil}}, "", []string{"2 data.pkl entries"}},
		{"torchscript", append(replace("", nil), zipEntry{"protocol4/constants.pkl", nil}), "", []string{"TorchScript archive"}},
		{"bad byteorder", append(replace("", nil), zipEntry{"protocol4/byteorder", []byte("middle")}), "", []string{`unknown byte order "middle"`}},
		{"missing storage", replace("protocol4/data/0", nil), "w", []string{"zip entry protocol4/data/0 is missing"}},
		{"short storage", replace("protocol4/data/0", []byte{1, 2, 3}), "w", []string{"holds 3 bytes but the pickle says 4 elements of F32"}},
		{"truncated pickle", replace("protocol4/data.pkl", good[0].data[:40]), "", []string{"protocol4/data.pkl: pickle:"}},
		{"offset past storage", one(func(x *pklTensor) { x.offset = 1 }), "", []string{"reads past the end of storage 0 (4 elements)"}},
		{"stride past storage", one(func(x *pklTensor) { x.stride = []int{3, 1} }), "", []string{"reads past the end of storage 0"}},
		{"negative size", one(func(x *pklTensor) { x.size = []int{-2, 2} }), "", []string{"tensor dimension 0: size -2"}},
		{"negative stride", one(func(x *pklTensor) { x.stride = []int{-2, 1} }), "", []string{"tensor dimension 0"}},
		{"rank mismatch", one(func(x *pklTensor) { x.stride = []int{1} }), "", []string{"size has 2 dimensions but stride has 1"}},
		{"huge expansion", one(func(x *pklTensor) { x.size = []int{1 << 30, 1 << 20}; x.stride = []int{0, 0} }), "w",
			[]string{"would need more than", "implausible"}},
		{"unknown storage type", one(func(x *pklTensor) { x.storage = "ComplexFloatStorage" }), "w",
			[]string{"storage type ComplexFloatStorage cannot be converted"}},
		{"storage numel mismatch", []zipEntry{{"a/data.pkl", torchPickle([]pklTensor{w, {"v", "FloatStorage", "0", 5, 0, []int{1}, []int{1}}})},
			{"a/data/0", f32Bytes(1, 2, 3, 4)}}, "", []string{"storage 0 appears as FloatStorage of 4 and as FloatStorage of 5"}},
		{"duplicate name", []zipEntry{{"a/data.pkl", torchPickle([]pklTensor{w, w})}, {"a/data/0", f32Bytes(1, 2, 3, 4)}},
			"w", []string{"names this tensor twice"}},
		{"empty state dict", []zipEntry{{"a/data.pkl", torchPickle(nil)}}, "", []string{"no state dict", "holds ;"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "bad.pth", makeZip(t, tc.entries, false))
			_, err := Read(p)
			wantError(t, err, p, tc.tensor, tc.parts...)
		})
	}
}

// TestPyTorchCorruptData flips a byte inside a storage: the CRC-32 catches it.
func TestPyTorchCorruptData(t *testing.T) {
	file, err := os.ReadFile("testdata/protocol4.pth")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(file, f32Bytes(1, 2, 3, 4))
	if i < 0 {
		t.Fatal("storage bytes not found")
	}
	file[i+1] ^= 0x40
	p := writeTemp(t, "crc.pth", file)
	_, err = Read(p)
	wantError(t, err, p, "", "protocol4/data/", "checksum error")
}

// TestPyTorchTruncated cuts a real checkpoint at many points: every cut is an error naming
// the file, never a panic.
func TestPyTorchTruncated(t *testing.T) {
	full, err := os.ReadFile("testdata/dino.pth")
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(full); cut += 97 {
		p := writeTemp(t, "cut.pth", full[:cut])
		if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("cut at %d: error %v", cut, err)
		}
	}
}

// TestPyTorchDeflatedEntrySizes checks the bound on what a deflated entry may claim.
func TestPyTorchDeflatedEntrySizes(t *testing.T) {
	a := &torchArchive{path: "x.pth", size: 1000}
	f := &zip.File{FileHeader: zip.FileHeader{Name: "a/data/0", Method: zip.Deflate, CompressedSize64: 10, UncompressedSize64: 1 << 40}}
	_, err := a.entrySize(f)
	wantError(t, err, "x.pth", "", "claims 1099511627776 bytes, more than its 10 compressed bytes can hold")
	f.CompressedSize64 = 5000
	_, err = a.entrySize(f)
	wantError(t, err, "x.pth", "", "claims 5000 compressed bytes in a 1000-byte file")
	f = &zip.File{FileHeader: zip.FileHeader{Name: "a/data/0", Method: zip.Store, CompressedSize64: 10, UncompressedSize64: 11}}
	_, err = a.entrySize(f)
	wantError(t, err, "x.pth", "", fmt.Sprintf("claims %d bytes", 11))
}
