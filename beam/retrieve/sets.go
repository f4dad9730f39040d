package retrieve

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/dml/metrics"
	"github.com/semprox/semprox/tensor"
)

// Part is a run of consecutive rows of one embeddings file: rows Lo to Lo+Rows-1 of the
// float32 .npy file Emb (Cols wide), which are the rows Offset to Offset+Rows-1 of their set;
// their labels are the lines (or elements) LabelLo to LabelLo+Rows-1 of the labels file Labels.
// Parts are what the launcher hands the workers: names and numbers, never embeddings.
type Part struct {
	Emb     string
	Lo      int
	Rows    int
	Cols    int
	Offset  int
	Labels  string
	LabelLo int
}

// set is an embeddings set as the launcher reads it: its parts in order, and all its labels.
type set struct {
	parts  []Part // every part, empty ones included
	labels []int64
	rows   int
	cols   int    // 0 when the set has no rows
	dimsOf string // the file that cols comes from, for messages
}

// maxHeader bounds a .npy header the programs read (NumPy writes a few hundred bytes).
const maxHeader = 1 << 16

// npyInfo is what the header of an embeddings file states, checked against the file's size.
type npyInfo struct {
	rows, cols int
	dataAt     int64 // bytes before the first element
}

// statNPY reads and checks the header of the float32 embeddings file path, [N, D], against the
// file's size, so that a header that claims more rows than the file holds is refused before
// anything is allocated for them. A file of no rows may be [0, 0].
func statNPY(ctx context.Context, path string) (npyInfo, error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	defer fs.Close()
	size, err := fs.Size(ctx, path)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	return readHeader(bufio.NewReaderSize(r, 4096), path, size)
}

// readHeader reads the .npy header of the file path, of size bytes, from r and checks it.
func readHeader(r io.Reader, path string, size int64) (npyInfo, error) {
	h, err := tensor.ReadNPYHeader(r, maxHeader)
	if err != nil {
		return npyInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	if h.Descr != "<f4" {
		return npyInfo{}, fmt.Errorf("%s: elements of type %q, want little-endian float32 (<f4)", path, h.Descr)
	}
	if len(h.Shape) != 2 || (h.Shape[1] == 0 && h.Shape[0] != 0) {
		return npyInfo{}, fmt.Errorf("%s: shape %v, want embeddings [N, D] with D >= 1", path, h.Shape)
	}
	info := npyInfo{rows: h.Shape[0], cols: h.Shape[1], dataAt: h.Len}
	avail := size - h.Len
	if info.rows > math.MaxInt32 || (info.rows > 0 && int64(info.cols) > avail/4/int64(info.rows)) {
		return npyInfo{}, fmt.Errorf("%s: header states shape %v of float32, more than the %d bytes of the file hold", path, h.Shape, size)
	}
	return info, nil
}

// isFile reports whether a set's path names a single .npy file rather than a shard prefix.
func isFile(path string) bool {
	return strings.HasSuffix(strings.ToLower(path), ".npy")
}

// readSet reads the headers and labels of a set: a single .npy file (with labelPath, split into
// at most split parts of consecutive rows) or the shards under a prefix (one part each, labelled
// by their .labels.txt files unless labelPath gives the labels of all their rows in order).
func readSet(ctx context.Context, path, labelPath, labelFlag string, split int) (*set, error) {
	st := &set{}
	if isFile(path) {
		if labelPath == "" {
			return nil, fmt.Errorf("%s is a single .npy file: give its labels with %s", path, labelFlag)
		}
		info, err := statNPY(ctx, path)
		if err != nil {
			return nil, err
		}
		if st.labels, err = shards.ReadLabels(ctx, labelPath); err != nil {
			return nil, err
		}
		if len(st.labels) != info.rows {
			return nil, fmt.Errorf("%s has %d labels but %s has %d embeddings", labelPath, len(st.labels), path, info.rows)
		}
		st.rows, st.cols, st.dimsOf = info.rows, info.cols, path
		n := max(1, min(split, info.rows))
		for s := range n {
			lo, hi := s*info.rows/n, (s+1)*info.rows/n
			st.parts = append(st.parts, Part{Emb: path, Lo: lo, Rows: hi - lo, Cols: info.cols, Offset: lo, Labels: labelPath, LabelLo: lo})
		}
		return st, nil
	}
	bases, err := shards.List(ctx, path)
	if err != nil {
		return nil, err
	}
	var all []int64
	if labelPath != "" {
		if all, err = shards.ReadLabels(ctx, labelPath); err != nil {
			return nil, err
		}
	}
	for _, base := range bases {
		emb := base + ".npy"
		info, err := statNPY(ctx, emb)
		if err != nil {
			return nil, err
		}
		if info.rows > 0 {
			if st.cols == 0 {
				st.cols, st.dimsOf = info.cols, emb
			} else if info.cols != st.cols {
				return nil, fmt.Errorf("%s has %d dimensions, %s %d", st.dimsOf, st.cols, emb, info.cols)
			}
		}
		p := Part{Emb: emb, Rows: info.rows, Cols: info.cols, Offset: st.rows, Labels: labelPath, LabelLo: st.rows}
		if labelPath == "" {
			p.Labels, p.LabelLo = base+".labels.txt", 0
			labels, err := shards.ReadLabels(ctx, p.Labels)
			if err != nil {
				return nil, fmt.Errorf("labels of %s: %w", emb, err)
			}
			if len(labels) != info.rows {
				return nil, fmt.Errorf("%s has %d labels but %s has %d embeddings", p.Labels, len(labels), emb, info.rows)
			}
			st.labels = append(st.labels, labels...)
		}
		st.parts = append(st.parts, p)
		st.rows += info.rows
		if st.rows > math.MaxInt32 {
			return nil, fmt.Errorf("%s: over %d rows", path, math.MaxInt32)
		}
	}
	if labelPath != "" {
		if len(all) != st.rows {
			return nil, fmt.Errorf("%s has %d labels but the shards of %s have %d embeddings", labelPath, len(all), path, st.rows)
		}
		st.labels = all
	}
	return st, nil
}

// rowReader reads consecutive rows of a part's file, block by block.
type rowReader struct {
	path string
	cols int
	next int // the file's row the next read starts at
	end  int // the file's row after the part
	fs   filesystem.Interface
	rc   io.ReadCloser
	r    *bufio.Reader
	buf  []byte
}

// openRows opens the file of part p at its first row, checking that the file is still what the
// launcher saw: float32 of p.Cols columns, with at least the part's rows.
func openRows(ctx context.Context, p Part) (*rowReader, error) {
	fs, err := filesystem.New(ctx, p.Emb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Emb, err)
	}
	rr := &rowReader{path: p.Emb, cols: p.Cols, next: p.Lo, end: p.Lo + p.Rows, fs: fs}
	if err := rr.open(ctx, p); err != nil {
		rr.Close()
		return nil, err
	}
	return rr, nil
}

func (rr *rowReader) open(ctx context.Context, p Part) error {
	size, err := rr.fs.Size(ctx, p.Emb)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Emb, err)
	}
	if rr.rc, err = rr.fs.OpenRead(ctx, p.Emb); err != nil {
		return fmt.Errorf("%s: %w", p.Emb, err)
	}
	rr.r = bufio.NewReaderSize(rr.rc, 1<<16)
	info, err := readHeader(rr.r, p.Emb, size)
	if err != nil {
		return err
	}
	if info.rows < rr.end || (info.cols != p.Cols && p.Rows > 0) {
		return fmt.Errorf("%s: shape [%d, %d], want %d columns and at least %d rows: has the file changed?", p.Emb, info.rows, info.cols, p.Cols, rr.end)
	}
	return rr.skip(info.dataAt, info.dataAt+int64(rr.next)*int64(p.Cols)*4)
}

// skip moves the reader from byte from of the file, where rr.r stands after the header, to byte
// to: by seeking where the filesystem's reader allows it, else by reading up to it.
func (rr *rowReader) skip(from, to int64) error {
	if to == from {
		return nil
	}
	if s, ok := rr.rc.(io.Seeker); ok {
		if _, err := s.Seek(to, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", rr.path, err)
		}
		rr.r.Reset(rr.rc)
		return nil
	}
	if _, err := io.CopyN(io.Discard, rr.r, to-from); err != nil {
		return fmt.Errorf("%s: %w", rr.path, noEOF(err))
	}
	return nil
}

// check checks that the n rows of m, from the file's row lo, are finite (metrics.Matrix.Check):
// NaN or Inf is an error naming the file and the row in the file.
func (rr *rowReader) check(m metrics.Matrix, lo int) error {
	err := m.Check(rr.path)
	if err == nil || lo == 0 {
		return err
	}
	for i, v := range m.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%s: row %d column %d is %v", rr.path, lo+i/m.Cols, i%m.Cols, v)
		}
	}
	return err
}

// read reads the next n rows of the part (fewer at its end) as a matrix, and checks that they
// are finite: NaN or Inf is an error naming the file, the row and the column.
func (rr *rowReader) read(n int) (metrics.Matrix, error) {
	n = min(n, rr.end-rr.next)
	m := metrics.Matrix{Data: make([]float32, n*rr.cols), Rows: n, Cols: rr.cols}
	if rr.buf == nil {
		rr.buf = make([]byte, 1<<16)
	}
	for done := 0; done < len(m.Data); {
		b := rr.buf[:min(len(rr.buf), 4*(len(m.Data)-done))]
		if _, err := io.ReadFull(rr.r, b); err != nil {
			return m, fmt.Errorf("%s: rows %d to %d: %w", rr.path, rr.next, rr.next+n-1, noEOF(err))
		}
		for i := range len(b) / 4 {
			m.Data[done+i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		done += len(b) / 4
	}
	first := rr.next
	rr.next += n
	if n == 0 {
		return m, nil
	}
	return m, rr.check(m, first)
}

// Close closes the file and its filesystem.
func (rr *rowReader) Close() error {
	if rr.rc != nil {
		rr.rc.Close()
	}
	return rr.fs.Close()
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// labelCache keeps the labels file a worker read last, as parts of one file follow one another.
type labelCache struct {
	path   string
	labels []int64
}

// get returns the labels of rows lo to lo+n-1 of the labels file path.
func (c *labelCache) get(ctx context.Context, path string, lo, n int) ([]int64, error) {
	if c.path != path || c.labels == nil {
		labels, err := shards.ReadLabels(ctx, path)
		if err != nil {
			return nil, err
		}
		c.path, c.labels = path, labels
	}
	if lo < 0 || lo+n > len(c.labels) {
		return nil, fmt.Errorf("%s: %d labels, want at least %d: has the file changed?", path, len(c.labels), lo+n)
	}
	return c.labels[lo : lo+n], nil
}
