package weights

import (
	"bytes"
	"errors"
	"os"
	"runtime/metrics"
	"strings"
	"testing"
)

// Fuzz targets for the parsers of untrusted files. Each checks that hostile input gives an
// error rather than a panic, and that what it allocates stays within a fixed multiple of
// the input's size: sizes claimed by headers, pickles and zip entries are never trusted.
//
//	go test ./nn/weights -run '^$' -fuzz FuzzSafetensors -fuzztime 1m
//	go test ./nn/weights -run '^$' -fuzz FuzzPickle -fuzztime 1m
//	go test ./nn/weights -run '^$' -fuzz FuzzTorchZip -fuzztime 1m

// allocatedBytes returns the bytes allocated on the heap so far by the process. It reads
// runtime/metrics rather than runtime.ReadMemStats, which stops the world and stalls the
// fuzzing workers. Small allocations are counted a span at a time, so the figure can lag by
// some hundreds of kilobytes; the limits below leave room for that.
func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// checkAllocs fails the test if more than limit bytes were allocated since before.
func checkAllocs(t *testing.T, before, limit uint64, input int) {
	t.Helper()
	if used := allocatedBytes() - before; used > limit {
		t.Fatalf("allocated %d bytes for a %d-byte input (limit %d)", used, input, limit)
	}
}

// checkReadResult checks the invariants of a Read result or error.
func checkReadResult(t *testing.T, c *Checkpoint, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Path == "" {
			t.Fatalf("error %q (%T) is not a *weights.Error naming the file", err, err)
		}
		return
	}
	if len(c.Names) != len(c.Tensors) || len(c.DTypes) != len(c.Tensors) {
		t.Fatalf("%d names, %d tensors, %d dtypes", len(c.Names), len(c.Tensors), len(c.DTypes))
	}
	for _, name := range c.Names {
		if c.Tensors[name] == nil {
			t.Fatalf("name %q has no tensor", name)
		}
	}
}

func addFileSeeds(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzSafetensors(f *testing.F) {
	addFileSeeds(f, "testdata/dtypes.safetensors", "testdata/views_expected.safetensors")
	f.Add(stFile(`{"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},"__metadata__":{"k":"v"}}`, []byte{1, 2, 3, 4}))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, []byte{0, 0, 128, 63}))
	f.Add(stFile(`{}`, nil))
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocatedBytes()
		c, err := readSafetensors(bytes.NewReader(data), int64(len(data)), "fuzz.safetensors")
		checkAllocs(t, before, 2<<20+128*uint64(len(data)), len(data))
		checkReadResult(t, c, err)
	})
}

func FuzzPickle(f *testing.F) {
	for _, p := range []string{"testdata/dino.pth", "testdata/views.pth", "testdata/protocol4.pth", "testdata/module.pth"} {
		for _, e := range readZip(f, p) {
			if strings.HasSuffix(e.name, "/data.pkl") {
				f.Add(e.data)
			}
		}
	}
	f.Add(torchPickle([]pklTensor{{"w", "HalfStorage", "0", 6, 1, []int{2, 2}, []int{1, 2}}}))
	f.Add([]byte("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x01m\x8c\x01n\x93)\x81}b\x94h\x00\x86."))
	for _, b := range smallBombPickles() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocatedBytes()
		a := &torchArchive{path: "fuzz.pth", size: int64(len(data)), storages: make(map[string]*torchStorage)}
		v, err := unpickle(data, pickleHooks{call: a.call, persistentLoad: a.persistentLoad})
		if err == nil {
			if d, _, err := findStateDict(v); err == nil {
				checkStateDict(d, "")
			}
			stateDictAt(v, "a/b")
			describe(v)
		}
		checkAllocs(t, before, 1<<20+256*uint64(len(data)), len(data))
	})
}

func FuzzTorchZip(f *testing.F) {
	addFileSeeds(f, "testdata/protocol4.pth", "testdata/views.pth", "testdata/dtypes.pth")
	for _, b := range smallBombPickles() {
		f.Add(bombZip(f, []pklRun{{b, 1}}, zipEntry{"x/data/0", f32Bytes(1, 2, 3, 4)}))
	}
	f.Add(storageZip(f, pklTensor{"w", "FloatStorage", "0", 1 << 40, 0, []int{4}, []int{1}}, f32Bytes(1, 2, 3, 4)))
	f.Add(storageZip(f, pklTensor{"w", "FloatStorage", "0", 0, 0, []int{1 << 40, 1 << 40, 0}, []int{0, 0, 0}}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := allocatedBytes()
		c, err := readFrom(bytes.NewReader(data), int64(len(data)), "fuzz.pth", "", true)
		// Deflate expands at most about 1032:1, so stored data may legitimately grow that much.
		checkAllocs(t, before, 4<<20+4096*uint64(len(data)), len(data))
		checkReadResult(t, c, err)
	})
}

// TestAllocatedBytesSeesLargeAllocations makes sure the fuzz targets' allocation guard is
// not vacuous.
func TestAllocatedBytesSeesLargeAllocations(t *testing.T) {
	before := allocatedBytes()
	sink = make([]byte, 8<<20)
	if used := allocatedBytes() - before; used < 8<<20 {
		t.Errorf("an 8 MiB allocation counted as %d bytes", used)
	}
}

var sink []byte
