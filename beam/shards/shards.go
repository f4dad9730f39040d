// Package shards is the format of the embedding pipeline's sharded outputs, read and written
// through Beam's filesystems (local paths, gs://, s3://: whichever the program registers).
//
// Shard s of n under a prefix is three files beside one another:
//
//	PREFIX-0000s-of-0000n.npy         float32 [rows, D], little-endian, NumPy's format
//	PREFIX-0000s-of-0000n.names.txt   the images' URIs, one a line in UTF-8
//	PREFIX-0000s-of-0000n.labels.txt  their integer labels, one a line (only with labels)
//
// Every shard is a file cmd/eval reads as it is (-emb and -labels), and the shards in order
// hold the images in input order: shard s holds the inputs from s*N/n up to (s+1)*N/n of N,
// less those rejected. Their concatenation (Gather) is what cmd/embed writes for the same
// images. .npy and text keep the engine and NumPy able to read every shard with no new
// dependency.
package shards

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

// Shard is the content of one shard: Emb's row i is the embedding of the image Names[i],
// of label Labels[i] when Labels is not nil.
type Shard struct {
	Emb    *tensor.Tensor // [len(Names), D]
	Names  []string
	Labels []int64
}

// Name is the base of shard s of n under prefix: the three files' names without their
// endings, PREFIX-00002-of-00008.
func Name(prefix string, s, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d", prefix, s, n)
}

// Files of a shard, by the base Name gives.
func embFile(base string) string    { return base + ".npy" }
func namesFile(base string) string  { return base + ".names.txt" }
func labelsFile(base string) string { return base + ".labels.txt" }

// Write writes the shard's files under base (see Name). Each file is written to a temporary
// name and then renamed, so a crash half way leaves no partial file under the shard's name.
func Write(ctx context.Context, base string, s Shard) error {
	if s.Emb.Dims() != 2 || s.Emb.Dim(0) != len(s.Names) || (s.Labels != nil && len(s.Labels) != len(s.Names)) {
		return fmt.Errorf("%s: %v embeddings for %d names and %d labels", base, s.Emb.Shape(), len(s.Names), len(s.Labels))
	}
	var emb bytes.Buffer
	if err := tensor.EncodeNPY(&emb, s.Emb); err != nil {
		return err
	}
	if err := WriteFile(ctx, embFile(base), emb.Bytes()); err != nil {
		return err
	}
	if err := WriteFile(ctx, namesFile(base), lines(s.Names, func(n string) string { return n })); err != nil {
		return err
	}
	if s.Labels == nil {
		return nil
	}
	return WriteFile(ctx, labelsFile(base), lines(s.Labels, func(l int64) string { return strconv.FormatInt(l, 10) }))
}

// lines joins the items as text, one a line, each line ending in a newline.
func lines[T any](items []T, format func(T) string) []byte {
	var b bytes.Buffer
	for _, it := range items {
		b.WriteString(format(it))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WriteFile writes data to path through its Beam filesystem: to a temporary name beside it,
// then renamed over it.
func WriteFile(ctx context.Context, path string, data []byte) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer fs.Close()
	tmp := fmt.Sprintf("%s.tmp-%016x", path, rand.Uint64())
	if err := filesystem.Write(ctx, fs, tmp, data); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	if err := filesystem.Rename(ctx, fs, tmp, path); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadFile reads the file at path through its Beam filesystem, refusing one of more than limit
// bytes before reading it.
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	size, err := fs.Size(ctx, path)
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("%s: %d bytes, over the limit of %d", path, size, limit)
	}
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over the limit of %d bytes", path, limit)
	}
	return b, nil
}

// MaxFileBytes bounds the files this package reads whole: a shard's names or labels, a
// label file, a manifest.
const MaxFileBytes = 4 << 30

// Read reads the shard under base (see Name). A shard of no rows may have no width: [0, 0].
func Read(ctx context.Context, base string) (Shard, error) {
	b, err := ReadFile(ctx, embFile(base), MaxFileBytes)
	if err != nil {
		return Shard{}, err
	}
	emb, err := tensor.DecodeNPY(bytes.NewReader(b), int64(len(b)), embFile(base))
	if err != nil {
		return Shard{}, err
	}
	if emb.Dims() != 2 {
		return Shard{}, fmt.Errorf("%s: shape %v, want embeddings [N, D]", embFile(base), emb.Shape())
	}
	names, err := ReadFile(ctx, namesFile(base), MaxFileBytes)
	if err != nil {
		return Shard{}, err
	}
	s := Shard{Emb: emb, Names: splitLines(names)}
	if len(s.Names) != emb.Dim(0) {
		return Shard{}, fmt.Errorf("%s: %d names for the %d embeddings of %s", namesFile(base), len(s.Names), emb.Dim(0), embFile(base))
	}
	if exists(ctx, labelsFile(base)) {
		if s.Labels, err = ReadLabels(ctx, labelsFile(base)); err != nil {
			return Shard{}, err
		}
		if len(s.Labels) != emb.Dim(0) {
			return Shard{}, fmt.Errorf("%s: %d labels for the %d embeddings of %s", labelsFile(base), len(s.Labels), emb.Dim(0), embFile(base))
		}
	}
	return s, nil
}

// splitLines splits text into its lines, each ended by a newline.
func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// exists reports whether path names a file its filesystem can size.
func exists(ctx context.Context, path string) bool {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return false
	}
	defer fs.Close()
	_, err = fs.Size(ctx, path)
	return err == nil
}

// ReadLabels reads integer class labels: a .npy file ([N] or [N, 1], integers or integral
// floats), or text of one integer a line (surrounding spaces and blank lines ignored), as
// cmd/eval reads them. Errors name the file and the line.
func ReadLabels(ctx context.Context, path string) ([]int64, error) {
	b, err := ReadFile(ctx, path, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(strings.ToLower(path), ".npy") {
		labels, shape, err := tensor.DecodeNPYInts(bytes.NewReader(b), int64(len(b)), path)
		if err != nil {
			return nil, err
		}
		if len(shape) != 1 && (len(shape) != 2 || shape[1] != 1) {
			return nil, fmt.Errorf("%s: shape %v, want labels [N] or [N, 1]", path, shape)
		}
		return labels, nil
	}
	labels, err := metrics.ParseLabels(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return labels, nil
}

// shardPattern matches the .npy file of a shard, capturing its number and the count.
var shardPattern = regexp.MustCompile(`-(\d{5})-of-(\d{5})\.npy$`)

// List returns the bases of the shards under prefix, in order, and checks that every shard of
// the count their names state is there, and no other.
func List(ctx context.Context, prefix string) ([]string, error) {
	fs, err := filesystem.New(ctx, prefix)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	files, err := fs.List(ctx, prefix+"-*-of-*.npy")
	if err != nil {
		return nil, err
	}
	var bases []string
	count := -1
	for _, f := range files {
		m := shardPattern.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		s, _ := strconv.Atoi(m[1])
		n, _ := strconv.Atoi(m[2])
		if count >= 0 && n != count {
			return nil, fmt.Errorf("%s: shards of %d and of %d: remove the outputs of the other run", prefix, count, n)
		}
		count = n
		bases = append(bases, Name(prefix, s, n))
	}
	if count < 0 {
		return nil, fmt.Errorf("%s: no shards (%s)", prefix, Name(prefix, 0, 1)+".npy and on")
	}
	slices.Sort(bases)
	for s := range count {
		if s >= len(bases) || bases[s] != Name(prefix, s, count) {
			return nil, fmt.Errorf("%s: shard %s.npy is missing", prefix, Name(prefix, s, count))
		}
	}
	if len(bases) != count {
		return nil, fmt.Errorf("%s: %d shard files for %d shards", prefix, len(bases), count)
	}
	return bases, nil
}

// Gather reads the shards under bases, in order, into one Shard. They must have one width, and
// labels on all or none.
func Gather(ctx context.Context, bases []string) (Shard, error) {
	var all Shard
	var data []float32
	width := -1
	for i, base := range bases {
		s, err := Read(ctx, base)
		if err != nil {
			return Shard{}, err
		}
		if width >= 0 && s.Emb.Dim(1) != width {
			return Shard{}, fmt.Errorf("%s: %d dimensions, the shards before it %d", embFile(base), s.Emb.Dim(1), width)
		}
		if i > 0 && (s.Labels == nil) != (all.Labels == nil) {
			return Shard{}, fmt.Errorf("%s: labels on some shards only", labelsFile(base))
		}
		width = s.Emb.Dim(1)
		data = append(data, s.Emb.Data()...)
		all.Names = append(all.Names, s.Names...)
		if s.Labels != nil && all.Labels == nil {
			all.Labels = []int64{}
		}
		all.Labels = append(all.Labels, s.Labels...)
	}
	all.Emb = tensor.FromSlice(data, len(all.Names), max(width, 0))
	return all, nil
}
