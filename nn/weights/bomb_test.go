package weights

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
)

// Hostile files: small files that ask the reader for far more memory or time than their
// size justifies. TestReadBombs reads each in a child process under a 4 GB address-space
// limit; the fuzz targets are seeded with small versions of the pickles.

// pklRun is count copies of b: part of a long pickle, described compactly.
type pklRun struct {
	b     []byte
	count int
}

// once is the concatenation of parts, once.
func once(parts ...[]byte) pklRun { return pklRun{bytes.Join(parts, nil), 1} }

// pklBytes returns the bytes that runs describe.
func pklBytes(runs []pklRun) []byte {
	var b []byte
	for _, r := range runs {
		b = append(b, bytes.Repeat(r.b, r.count)...)
	}
	return b
}

// writeRuns writes the bytes that runs describe to w, a chunk at a time.
func writeRuns(t testing.TB, w interface{ Write([]byte) (int, error) }, runs []pklRun) {
	t.Helper()
	for _, r := range runs {
		per := max(1, min(r.count, (64<<10)/max(1, len(r.b))))
		chunk := bytes.Repeat(r.b, per)
		for left := r.count; left > 0; left -= per {
			if _, err := w.Write(chunk[:min(left, per)*len(r.b)]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// bombZip writes a PyTorch-style zip archive whose x/data.pkl is the pickle that runs
// describe, deflated as it is written (a pickle of 10^8 bytes never exists in memory), and
// then the stored entries extra.
func bombZip(t testing.TB, runs []pklRun, extra ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "x/data.pkl", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	writeRuns(t, w, runs)
	for _, e := range extra {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
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

// rawEntry is a zip entry given as deflated bytes and the header that describes them, so
// that a test can write an entry of gigabytes, or one whose header lies.
type rawEntry struct {
	name         string
	deflated     []byte
	size         uint64
	crc          uint32
	storeEntries []zipEntry // written, stored, before it
}

// zipRaw writes e's stored entries and then e itself.
func zipRaw(t testing.TB, e rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, s := range e.storeEntries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: s.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(s.data)
	}
	w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Deflate, CRC32: e.crc,
		CompressedSize64: uint64(len(e.deflated)), UncompressedSize64: e.size})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(e.deflated)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// deflateRuns deflates the bytes that runs describe, ending with a sync flush (so that the
// result may be repeated) unless final is set.
func deflateRuns(t testing.TB, runs []pklRun, final bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	writeRuns(t, fw, runs)
	if final {
		err = fw.Close()
	} else {
		err = fw.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zerosEntry returns a deflated entry of n×10^8 zero bytes, made by repeating the deflated
// form of 10^8 zeros n times.
func zerosEntry(t testing.TB, name string, n int) rawEntry {
	block := deflateRuns(t, []pklRun{{[]byte{0}, 1e8}}, false)
	end := deflateRuns(t, nil, true)
	crc, zeros := uint32(0), make([]byte, 1e6)
	for range 100 * n {
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	return rawEntry{name: name, deflated: append(bytes.Repeat(block, n), end...), size: uint64(n) * 1e8, crc: crc}
}

// The pickle bombs, as functions of their size.

// dupPickle pushes None and DUPs it n times.
func dupPickle(n int) []pklRun {
	return []pklRun{once([]byte("\x80\x02N")), {[]byte("2"), n}, once([]byte("."))}
}

// memoPickle stores None under n distinct memo keys near 2^32, under the largest int64 key
// and under n MEMOIZE keys, then gets a key never stored.
func memoPickle(n int) []pklRun {
	b := []byte("\x80\x02N")
	for i := range n {
		b = binary.LittleEndian.AppendUint32(append(b, 'r'), uint32(1<<32-1-i))
	}
	b = append(b, "p9223372036854775807\n"...)
	get := binary.LittleEndian.AppendUint32([]byte{'j'}, uint32(1<<32-1-n))
	return []pklRun{once(b), {[]byte{0x94}, n}, once(get, []byte("."))}
}

// deepListsPickle nests n lists, each in the next.
func deepListsPickle(n int) []pklRun {
	return []pklRun{once([]byte("\x80\x02")), {[]byte("("), n}, {[]byte("l"), n}, once([]byte("."))}
}

// deepDictsPickle nests n dicts, each under the key "model" of the next.
func deepDictsPickle(n int) []pklRun {
	return []pklRun{once([]byte("\x80\x02"), pklStr("model"), []byte("\x940")), {[]byte("(h\x00"), n},
		once([]byte("}")), {[]byte("d"), n}, once([]byte("."))}
}

// selfRefPickle is a dict d with d["model"] = d and d["l"] = L, a list holding itself twice.
func selfRefPickle() []pklRun {
	return []pklRun{once([]byte("\x80\x02}\x94"), pklStr("model"), []byte("h\x00s"),
		pklStr("l"), []byte("]\x94(h\x01h\x01es."))}
}

// sharedTuplePickle makes t0 = (1,) and t(i+1) = (ti, ti) up to t(levels), which has
// 2^levels leaves, and gives it as the first dimension of a tensor's size.
func sharedTuplePickle(levels int) []pklRun {
	b := []byte("\x80\x02K\x01\x85\x940")
	for i := 1; i <= levels; i++ {
		b = append(b, 'h', byte(i-1), 'h', byte(i-1), 0x86, 0x94, '0')
	}
	b = append(b, "ccollections\nOrderedDict\n)R("...)
	b = append(b, pklStr("w")...)
	b = append(b, pklTensor{storage: "FloatStorage", key: "0", numel: 1}.rebuild([]byte{'h', byte(levels), 0x85}, pklTuple([]int{1}))...)
	return []pklRun{once(b, []byte("u."))}
}

// sharedDictsPickle is a dict of n references to one dict S of n references to one tensor,
// and None: each S is almost a state dict, and a walk that looked at S once per reference
// would take n² steps.
func sharedDictsPickle(n int) []pklRun {
	w := pklTensor{storage: "FloatStorage", key: "0", numel: 1}
	return []pklRun{
		once([]byte("\x80\x02"), pklStr("key"), []byte("\x940"), w.rebuild(pklTuple([]int{1}), pklTuple([]int{1})), []byte("\x940}\x94(")),
		{[]byte("h\x00h\x01"), n},
		once(pklStr("x"), []byte("Nu0}(")),
		{[]byte("h\x00h\x02"), n},
		once([]byte("u.")),
	}
}

// setCopyPickle makes a list of n Nones and then set(list) k times.
func setCopyPickle(n, k int) []pklRun {
	return []pklRun{once([]byte("\x80\x02cbuiltins\nset\n\x940]\x94(")), {[]byte("N"), n}, once([]byte("e0")),
		{[]byte("h\x00h\x01\x85R0"), k}, once([]byte("N."))}
}

// codecsPickle makes a string of n bytes and then _codecs.encode(string, "latin1") k times.
func codecsPickle(n, k int) []pklRun {
	return []pklRun{once([]byte("\x80\x02c_codecs\nencode\n\x940X"), binary.LittleEndian.AppendUint32(nil, uint32(n))),
		{[]byte("a"), n}, once([]byte("\x940"), pklStr("latin1"), []byte("\x940")),
		{[]byte("h\x00h\x01h\x02\x86R0"), k}, once([]byte("N."))}
}

// sharedSizePickle makes k tensors whose size and stride are one tuple of dims ones.
func sharedSizePickle(dims, k int) []pklRun {
	b := []byte("\x80\x02(")
	b = append(b, bytes.Repeat([]byte("K\x01"), dims)...)
	b = append(b, "t\x940ccollections\nOrderedDict\n)R("...)
	for i := range k {
		w := pklTensor{storage: "FloatStorage", key: "0", numel: 1}
		b = append(b, pklStr(fmt.Sprintf("t%d", i))...)
		b = append(b, w.rebuild([]byte("h\x00"), []byte("h\x00"))...)
	}
	return []pklRun{once(b, []byte("u."))}
}

// longKeyPickle is a dict of n items whose keys are one memoized string of keyLen bytes.
func longKeyPickle(keyLen, n int) []pklRun {
	return []pklRun{once([]byte("\x80\x02X"), binary.LittleEndian.AppendUint32(nil, uint32(keyLen))), {[]byte("k"), keyLen},
		once([]byte("\x940}(")), {[]byte("h\x00N"), n}, once([]byte("u."))}
}

// longGlobalPickle calls a global whose module name has nameLen bytes k times.
func longGlobalPickle(nameLen, k int) []pklRun {
	return []pklRun{once([]byte("\x80\x02c")), {[]byte("m"), nameLen}, once([]byte("\nf\n\x940)\x940")),
		{[]byte("h\x00h\x01R0"), k}, once([]byte("N."))}
}

// longStorageKeyPickle loads k times a persistent id whose storage key has keyLen bytes,
// after ten storages with short keys (a map of more than eight hashes its keys).
func longStorageKeyPickle(keyLen, k int) []pklRun {
	pid := func(key []byte) []byte {
		return bytes.Join([][]byte{[]byte("("), pklStr("storage"), []byte("ctorch\nFloatStorage\n"), key, pklStr("cpu"), []byte("K\x01t")}, nil)
	}
	b := []byte("\x80\x02")
	for i := range 10 {
		b = append(append(b, pid(pklStr(fmt.Sprint(i)))...), "Q0"...)
	}
	long := append(binary.LittleEndian.AppendUint32([]byte("X"), uint32(keyLen)), bytes.Repeat([]byte("k"), keyLen)...)
	return []pklRun{once(b, pid(long), []byte("\x940")), {[]byte("h\x00Q0"), k}, once([]byte("N."))}
}

// storageZip is a stored archive of one tensor w and a storage entry x/data/0.
func storageZip(t testing.TB, w pklTensor, data []byte) []byte {
	return makeZip(t, []zipEntry{{"x/data.pkl", torchPickle([]pklTensor{w})}, {"x/data/0", data}}, false)
}

// smallBombPickles returns small versions of the pickle bombs, for the fuzz targets.
func smallBombPickles() [][]byte {
	var out [][]byte
	for _, runs := range [][]pklRun{dupPickle(1000), memoPickle(100), deepListsPickle(1000), deepDictsPickle(100),
		selfRefPickle(), sharedTuplePickle(64), sharedDictsPickle(100), setCopyPickle(1000, 100),
		codecsPickle(1000, 100), sharedSizePickle(100, 10), longKeyPickle(200, 100), longGlobalPickle(200, 100),
		longStorageKeyPickle(200, 100)} {
		out = append(out, pklBytes(runs))
	}
	return out
}

// bomb is a hostile file and what Read must say about it.
type bomb struct {
	name  string
	build func(t testing.TB) []byte
	// tensor is the tensor the error names: "" for none, "*" for any.
	tensor string
	parts  []string // what the error says
}

var bombs = []bomb{
	{"dup_1e8.pth", func(t testing.TB) []byte { return bombZip(t, dupPickle(1e8)) },
		"", []string{"zip entry x/data.pkl is 100000004 bytes, more than the"}},
	{"dup_in_limit.pth", func(t testing.TB) []byte { return bombZip(t, dupPickle(1<<20)) },
		"", []string{"the saved object is a None"}},
	{"memo_keys.pth", func(t testing.TB) []byte { return bombZip(t, memoPickle(150_000)) },
		"", []string{"x/data.pkl: pickle: opcode 'j'", "memo key 4294817295 was never stored"}},
	{"binunicode_4g.pth", func(t testing.TB) []byte {
		return bombZip(t, []pklRun{once([]byte("\x80\x02X\xff\xff\xff\xff")), {[]byte("a"), 1000}})
	}, "", []string{"x/data.pkl: pickle: opcode 'X' at byte 2", "truncated"}},
	{"deep_lists.pth", func(t testing.TB) []byte { return bombZip(t, deepListsPickle(500_000)) },
		"", []string{"the saved object is a list of 1"}},
	{"deep_dicts.pth", func(t testing.TB) []byte { return bombZip(t, deepDictsPickle(200_000)) },
		"", []string{"no state dict within 4 levels", "model/model/model/model/model"}},
	{"self_reference.pth", func(t testing.TB) []byte { return bombZip(t, selfRefPickle()) },
		"", []string{"no state dict within 4 levels"}},
	{"shared_tuples.pth", func(t testing.TB) []byte { return bombZip(t, sharedTuplePickle(64)) },
		"", []string{"tensor dimension 0: size tuple of 2, stride 1 are not valid"}},
	{"shared_dicts.pth", func(t testing.TB) []byte { return bombZip(t, sharedDictsPickle(120_000)) },
		"", []string{"no state dict", "key (dict of 120001)", "and 119980 more"}},
	{"set_copies.pth", func(t testing.TB) []byte { return bombZip(t, setCopyPickle(500_000, 70_000)) },
		"", []string{"x/data.pkl: pickle: opcode 'R'", "its objects would take more than"}},
	{"codecs_copies.pth", func(t testing.TB) []byte { return bombZip(t, codecsPickle(500_000, 50_000)) },
		"", []string{"x/data.pkl: pickle: opcode 'R'", "its objects would take more than"}},
	{"long_key.pth", func(t testing.TB) []byte { return bombZip(t, longKeyPickle(500_000, 150_000)) },
		"", []string{"no state dict", "the saved object holds " + strings.Repeat("k", 100) + "... (None), ", "and 149980 more"}},
	{"long_global.pth", func(t testing.TB) []byte { return bombZip(t, longGlobalPickle(500_000, 80_000)) },
		"", []string{"the saved object is a None"}},
	{"long_storage_key.pth", func(t testing.TB) []byte { return bombZip(t, longStorageKeyPickle(500_000, 100_000)) },
		"", []string{"x/data.pkl: pickle: opcode 'Q'", "its objects would take more than"}},
	{"shared_size.pth", func(t testing.TB) []byte {
		return bombZip(t, sharedSizePickle(100_000, 5000), zipEntry{"x/data/0", f32Bytes(0)})
	}, "", []string{"tensor has 100000 dimensions, more than 64"}},
	{"pickle_4e9_zeros.pth", func(t testing.TB) []byte { return zipRaw(t, zerosEntry(t, "x/data.pkl", 40)) },
		"", []string{"zip entry x/data.pkl is 4000000000 bytes, more than the"}},
	{"pickle_lies.pth", func(t testing.TB) []byte {
		e := rawEntry{name: "x/data.pkl", deflated: deflateRuns(t, dupPickle(1e8), true), size: 1000}
		return zipRaw(t, e)
	}, "", []string{"zip entry x/data.pkl:"}},
	{"storage_4e9_zeros.pth", func(t testing.TB) []byte {
		e := zerosEntry(t, "x/data/0", 40)
		e.storeEntries = []zipEntry{{"x/data.pkl", torchPickle([]pklTensor{{"w", "FloatStorage", "0", 1e9, 0, []int{1}, []int{1}}})}}
		return zipRaw(t, e)
	}, "w", []string{"storage 0: its 4000000000 bytes", "implausible"}},
	{"storage_past_file.pth", func(t testing.TB) []byte {
		return storageZip(t, pklTensor{"w", "FloatStorage", "0", 1 << 40, 0, []int{4}, []int{1}}, f32Bytes(1, 2, 3, 4))
	}, "w", []string{"holds 16 bytes but the pickle says 1099511627776 elements of F32"}},
	{"storage_overflow.pth", func(t testing.TB) []byte {
		return storageZip(t, pklTensor{"w", "DoubleStorage", "0", 1 << 62, 0, []int{1}, []int{1}}, make([]byte, 8))
	}, "w", []string{"holds 8 bytes but the pickle says 4611686018427387904 elements of F64"}},
	{"tensor_past_storage.pth", func(t testing.TB) []byte {
		return storageZip(t, pklTensor{"w", "FloatStorage", "0", 4, 0, []int{1 << 40, 1 << 20}, []int{1 << 22, 1}}, f32Bytes(1, 2, 3, 4))
	}, "", []string{"reads past the end of storage 0"}},
	{"empty_huge_shape.pth", func(t testing.TB) []byte {
		return storageZip(t, pklTensor{"w", "FloatStorage", "0", 0, 0, []int{1 << 40, 1 << 40, 0}, []int{0, 0, 0}}, nil)
	}, "", []string{"tensor size [1099511627776 1099511627776 0] overflows"}},
	{"shared_storage.pth", func(t testing.TB) []byte {
		ts := make([]pklTensor, 4000)
		for i := range ts {
			ts[i] = pklTensor{fmt.Sprintf("t%d", i), "FloatStorage", "0", 1 << 16, 0, []int{1 << 16}, []int{1}}
		}
		return makeZip(t, []zipEntry{{"x/data.pkl", torchPickle(ts)}, {"x/data/0", make([]byte, 4<<16)}}, false)
	}, "*", []string{"the state dict's tensors would need more than"}},
	{"header_2e62.safetensors", func(t testing.TB) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, 1<<62), "{}"...)
	}, "", []string{"header length 4611686018427387904 exceeds the limit"}},
	{"huge_tensor.safetensors", func(t testing.TB) []byte {
		return stFile(`{"a":{"dtype":"F32","shape":[1073741824,1073741824],"data_offsets":[0,4611686018427387904]}}`, nil)
	}, "a", []string{"run past the end of the 0-byte data section"}},
	{"long_shape.safetensors", func(t testing.TB) []byte {
		return stFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 25_000_000)+`0],"data_offsets":[0,0]}}`, nil)
	}, "a", []string{"an array of more than 64 numbers"}},
	{"empty_huge_shape.safetensors", func(t testing.TB) []byte {
		return stFile(`{"a":{"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}}`, nil)
	}, "a", []string{"needs more than the file holds"}},
}

// TestReadBombs reads each hostile file in a child process under a 4 GB address-space
// limit: each must end, within 5 s, with an error naming the file (and the tensor at
// fault, if any) and saying what is wrong.
func TestReadBombs(t *testing.T) {
	for _, b := range bombs {
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
						t.Errorf("error %q names no tensor", err)
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

// errLine returns err's message, shortened to a line.
func errLine(err error) string {
	if err == nil {
		return "no error"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strings.ReplaceAll(s, "\n", " ")
}
