package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestSafetensorsDTypesAgainstPyTorch reads F16, BF16, F64 and integer tensors of chosen
// bit patterns (subnormals, extremes, Inf, NaNs, rounding ties) and compares each with
// PyTorch's own float32 conversion stored beside it, bit for bit.
func TestSafetensorsDTypesAgainstPyTorch(t *testing.T) {
	c := mustRead(t, "testdata/dtypes.safetensors")
	if c.Format != Safetensors {
		t.Fatalf("Format = %v", c.Format)
	}
	wantTypes := map[string]DType{"f16": F16, "bf16": BF16, "f64": F64, "f32": F32, "i64": I64, "i32": I32, "u8": U8, "bool": BOOL}
	for name, d := range wantTypes {
		got, want := c.Tensors[name], c.Tensors[name+".expected"]
		if got == nil || want == nil {
			t.Fatalf("%s or its expected values missing; names %v", name, c.Names)
		}
		if c.DTypes[name] != d || c.DTypes[name+".expected"] != F32 {
			t.Errorf("%s: DType %v, want %v", name, c.DTypes[name], d)
		}
		if !sameBits(got, want) {
			t.Errorf("%s: got %v, PyTorch %v", name, got.Data(), want.Data())
		}
	}
	if c.Names[0] != "f16" || c.Names[1] != "f16.expected" {
		t.Errorf("names not in header order: %v", c.Names)
	}
}

// TestSafetensorsAcceptsEdgeCases reads files the format allows: no tensors, a scalar, an
// empty tensor, metadata, padding spaces and unordered offsets.
func TestSafetensorsAcceptsEdgeCases(t *testing.T) {
	one := binary.LittleEndian.AppendUint32(nil, math.Float32bits(2.5))
	two := binary.LittleEndian.AppendUint32(one, math.Float32bits(-1))
	cases := []struct {
		name, header string
		data         []byte
		names        []string
	}{
		{"empty", `{}`, nil, nil},
		{"metadata only", `{"__metadata__":{"a":"b"}}  `, nil, nil},
		{"scalar", `{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, one, []string{"s"}},
		{"empty tensor", `{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},"s":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, one, []string{"e", "s"}},
		{"offsets out of header order", `{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, two, []string{"b", "a"}},
		{"extra field", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"note":1}}`, one, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "x.safetensors", stFile(tc.header, tc.data))
			c := mustRead(t, p)
			if !slices.Equal(c.Names, tc.names) || len(c.Tensors) != len(tc.names) {
				t.Fatalf("names %v, want %v", c.Names, tc.names)
			}
			if tc.name == "metadata only" && c.Metadata["a"] != "b" {
				t.Errorf("metadata %v", c.Metadata)
			}
			if tc.name == "offsets out of header order" && (c.Tensors["a"].Data()[0] != 2.5 || c.Tensors["b"].Data()[0] != -1) {
				t.Errorf("a=%v b=%v", c.Tensors["a"], c.Tensors["b"])
			}
		})
	}
}

// TestSafetensorsErrors covers every way a safetensors file can be malformed: each gives an
// *Error naming the file and, where one is at fault, the tensor.
func TestSafetensorsErrors(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	long := binary.LittleEndian.AppendUint64(nil, 200<<20)
	long = append(long, "{}"...)
	cases := []struct {
		name   string
		file   []byte
		tensor string
		parts  []string
	}{
		{"header length past end", append(binary.LittleEndian.AppendUint64(nil, 100), `{"a"`...), "", []string{"header length 100 runs past the end"}},
		{"header over limit", long, "", []string{"exceeds the limit"}},
		{"not JSON", stFile(`{nope}`, nil), "", []string{"invalid JSON"}},
		{"not an object", stFile(`{}`[:1]+`"`, nil), "", []string{"header"}},
		{"array header", stFile(`[1,2]  `, nil), "", []string{"not a JSON object"}},
		{"trailing data", stFile(`{}{}`, nil), "", []string{"unexpected data after the JSON object"}},
		{"truncated JSON", stFile(`{"a":{"dtype":"F32"`, nil), "a", []string{"not {dtype, shape, data_offsets}"}},
		{"bad metadata", stFile(`{"__metadata__":{"a":1}}`, nil), "", []string{"__metadata__ must map strings to strings"}},
		{"duplicate name", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2)), "a", []string{"names this tensor twice"}},
		{"entry not object", stFile(`{"a":3}`, nil), "a", []string{"not {dtype, shape, data_offsets}"}},
		{"missing dtype", stFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, f32(1)), "a", []string{`missing "dtype"`}},
		{"missing shape", stFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, f32(1)), "a", []string{`missing "shape"`}},
		{"missing offsets", stFile(`{"a":{"dtype":"F32","shape":[1]}}`, f32(1)), "a", []string{`missing "data_offsets"`}},
		{"unknown dtype", stFile(`{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}`, f32(1)), "a", []string{`unknown dtype "F7"`}},
		{"negative dim", stFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32(1)), "a", []string{"dimension 0 (-1) is not a non-negative integer"}},
		{"fractional dim", stFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, f32(1)), "a", []string{"dimension 0 (1.5)"}},
		{"three offsets", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, f32(1)), "a", []string{"want [begin, end]"}},
		{"negative offset", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}}`, f32(1)), "a", []string{"-4 is not a non-negative integer"}},
		{"begin after end", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, f32(1)), "a", []string{"begin after end"}},
		{"offsets out of range", stFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, f32(2)), "a", []string{"run past the end of the 8-byte data section"}},
		{"wrong size for shape", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, f32(2)), "a", []string{"hold 8 bytes but shape [3] of F32 needs 12"}},
		{"wrong size for dtype", stFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, f32(2)), "a", []string{"shape [2] of F16 needs 4"}},
		{"too many dimensions", stFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,4]}}`, f32(1)), "a", []string{"more than 64 numbers"}},
		{"shape overflows", stFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, f32(2)), "a", []string{"needs more than the file holds"}},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32(3)), "b", []string{`overlap those of tensor "a" [0, 8]`}},
		{"gap", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, f32(3)), "b", []string{"leave bytes [4, 8) of the data section unused"}},
		{"trailing bytes", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32(2)), "", []string{"cover 4 bytes but the data section has 8"}},
		{"unconvertible dtype", stFile(`{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}`, f32(1)), "a", []string{"dtype U16 cannot be converted to float32"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "bad.safetensors", tc.file)
			_, err := Read(p)
			wantError(t, err, p, tc.tensor, tc.parts...)
		})
	}
}

// TestSafetensorsTruncated cuts the fixture ViT short at many points: every cut is an error
// naming the file, never a panic or a partial checkpoint.
func TestSafetensorsTruncated(t *testing.T) {
	full, err := os.ReadFile(torchrefDir + "/vit.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(full)
	for _, cut := range []int{0, 3, 8, 9, int(n) + 7, int(n) + 8, int(n) + 100, len(full) / 2, len(full) - 1} {
		p := writeTemp(t, "cut.safetensors", full[:cut])
		c, err := Read(p)
		if err == nil {
			t.Fatalf("cut at %d: read %d tensors, want an error", cut, len(c.Names))
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("cut at %d: error %q does not name the file", cut, err)
		}
	}
	// Cut inside the data: the last tensor runs past the end and is named.
	p := writeTemp(t, "cut.safetensors", full[:len(full)-1])
	_, err = Read(p)
	if !strings.Contains(err.Error(), "truncated file?") || !strings.Contains(err.Error(), "tensor ") {
		t.Errorf("error %q does not name the tensor past the end", err)
	}
}

// TestSafetensorsShortRead checks that a file shrinking under the reader (the header
// promises more data than ReadAt then delivers) is reported for the tensor being read.
func TestSafetensorsShortRead(t *testing.T) {
	file := stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	r := &shrinkingReader{data: file, after: len(file) - 4}
	_, err := readFrom(r, int64(len(file)), "x.safetensors", "", true)
	wantError(t, err, "x.safetensors", "a", "reading data", "unexpected EOF")
}

// shrinkingReader serves data but pretends the file ends at after.
type shrinkingReader struct {
	data  []byte
	after int
}

func (r *shrinkingReader) ReadAt(b []byte, off int64) (int, error) {
	return bytes.NewReader(r.data[:r.after]).ReadAt(b, off)
}
