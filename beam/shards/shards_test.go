package shards

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/semprox/semprox/internal/childtest"
	"github.com/semprox/semprox/tensor"
)

var ctx = context.Background()

func sample(rows, offset int, labels bool) Shard {
	s := Shard{Emb: tensor.New(rows, 3)}
	if labels {
		s.Labels = []int64{}
	}
	for i := range rows {
		s.Names = append(s.Names, fmt.Sprintf("gs://b/img %d.png", offset+i))
		for j := range 3 {
			s.Emb.Row(i).Data()[j] = float32(offset+i) + float32(j)/4
		}
		if labels {
			s.Labels = append(s.Labels, int64(offset+i)%3)
		}
	}
	return s
}

// Shards written in order gather into their concatenation; List finds exactly them.
func TestWriteListGather(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "sub", "emb")
	sizes := []int{2, 0, 3}
	off := 0
	for i, n := range sizes {
		if err := Write(ctx, Name(prefix, i, len(sizes)), sample(n, off, true)); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	bases, err := List(ctx, prefix)
	if err != nil || len(bases) != 3 || bases[2] != prefix+"-00002-of-00003" {
		t.Fatalf("List: %v, %v", bases, err)
	}
	got, err := Gather(ctx, bases)
	if err != nil {
		t.Fatal(err)
	}
	want := sample(5, 0, true)
	if !slices.Equal(got.Names, want.Names) || !slices.Equal(got.Labels, want.Labels) || !slices.Equal(got.Emb.Data(), want.Emb.Data()) || got.Emb.Dim(1) != 3 {
		t.Errorf("gathered %+v, want %+v", got, want)
	}
	// the shard's .npy is what tensor.ReadNPY (and cmd/eval) read
	if emb, err := tensor.ReadNPY(prefix + "-00002-of-00003.npy"); err != nil || emb.Dim(0) != 3 {
		t.Errorf("ReadNPY of a shard: %v, %v", emb, err)
	}
	if matches, _ := filepath.Glob(prefix + "*.tmp-*"); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

// Every inconsistency of a shard set is an error naming the file at fault.
func TestReadErrors(t *testing.T) {
	write := func(t *testing.T, prefix string, n int) {
		for i := range n {
			if err := Write(ctx, Name(prefix, i, n), sample(2, 2*i, true)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := map[string]struct {
		damage func(prefix string)
		want   string
	}{
		"missing shard":  {func(p string) { os.Remove(Name(p, 1, 3) + ".npy") }, "-00001-of-00003.npy is missing"},
		"other count":    {func(p string) { Write(ctx, Name(p, 0, 2), sample(1, 0, true)) }, "shards of 2 and of 3"},
		"truncated npy":  {func(p string) { truncate(Name(p, 2, 3)+".npy", 10) }, "-00002-of-00003.npy"},
		"names too few":  {func(p string) { os.WriteFile(Name(p, 0, 3)+".names.txt", []byte("a\n"), 0o644) }, "-00000-of-00003.names.txt: 1 names for the 2"},
		"bad label":      {func(p string) { os.WriteFile(Name(p, 1, 3)+".labels.txt", []byte("1\nx\n"), 0o644) }, "-00001-of-00003.labels.txt: line 2"},
		"labels missing": {func(p string) { os.Remove(Name(p, 1, 3) + ".labels.txt") }, "labels on some shards only"},
		"not an npy":     {func(p string) { os.WriteFile(Name(p, 0, 3)+".npy", []byte("PK\x03\x04 a zip file"), 0o644) }, "-00000-of-00003.npy"},
		"no shards":      {func(p string) { removeAll(p) }, "no shards"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			prefix := filepath.Join(t.TempDir(), "emb")
			write(t, prefix, 3)
			c.damage(prefix)
			bases, err := List(ctx, prefix)
			if err == nil {
				_, err = Gather(ctx, bases)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func truncate(path string, n int64) { os.Truncate(path, n) }

func removeAll(prefix string) {
	m, _ := filepath.Glob(prefix + "-*")
	for _, f := range m {
		os.Remove(f)
	}
}

// A shard whose header claims 2^31 x 2^31 floats is refused before anything is allocated for
// them, within 1 GiB of address space.
func TestReadRefusesHugeHeader(t *testing.T) {
	if !childtest.Child(t) {
		childtest.RunLimited(t, 1<<30, 10*time.Second)
		return
	}
	prefix := filepath.Join(t.TempDir(), "emb")
	h := "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 2147483647), }"
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	os.WriteFile(Name(prefix, 0, 1)+".npy", b.Bytes(), 0o644)
	os.WriteFile(Name(prefix, 0, 1)+".names.txt", nil, 0o644)
	_, err := Read(ctx, Name(prefix, 0, 1))
	if err == nil || !strings.Contains(err.Error(), "-00000-of-00001.npy") {
		t.Fatalf("error %v, want one naming the file", err)
	}
}

// ReadLabels reads .npy labels ([N] or [N, 1], integral) and text, as cmd/eval does.
func TestReadLabels(t *testing.T) {
	dir := t.TempDir()
	tensor.WriteNPY(filepath.Join(dir, "l.npy"), tensor.FromSlice([]float32{3, 1, 2}, 3, 1))
	tensor.WriteNPY(filepath.Join(dir, "frac.npy"), tensor.FromSlice([]float32{3, 1.5}, 2))
	os.WriteFile(filepath.Join(dir, "l.txt"), []byte(" 3\n\n1\n2 \n"), 0o644)
	for _, name := range []string{"l.npy", "l.txt"} {
		if got, err := ReadLabels(ctx, filepath.Join(dir, name)); err != nil || !slices.Equal(got, []int64{3, 1, 2}) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
	if _, err := ReadLabels(ctx, filepath.Join(dir, "frac.npy")); err == nil || !strings.Contains(err.Error(), "frac.npy: element 1") {
		t.Errorf("fractional label: %v", err)
	}
}

// Integer labels beyond float32's 2^24 are read exactly, as cmd/eval reads them.
func TestReadLabelsLarge(t *testing.T) {
	var b bytes.Buffer
	h := "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n"
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	binary.Write(&b, binary.LittleEndian, []int64{1<<24 + 1, 1 << 24})
	path := filepath.Join(t.TempDir(), "big.npy")
	os.WriteFile(path, b.Bytes(), 0o644)
	if got, err := ReadLabels(ctx, path); err != nil || !slices.Equal(got, []int64{1<<24 + 1, 1 << 24}) {
		t.Errorf("%v, %v", got, err)
	}
}
