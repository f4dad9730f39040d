package weights

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/semprox/semprox/tensor"
)

// A NumPy .npz archive (np.savez, np.savez_compressed) is a zip of .npy files, one an
// array, each named after its array with ".npy" added; the entries are stored or deflated.
// Google's AugReg and big_vision ViT checkpoints are such archives of float32 arrays named
// by their Flax module paths ("Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel"); see
// [Checkpoint.TimmNames] for how those become timm's names.

// npzSuffix ends the name of every entry of a .npz archive.
const npzSuffix = ".npy"

// maxNPZHeader bounds the .npy header of an array in a .npz archive. np.save writes headers
// of a few dozen bytes padded to 64 (128 for a version 1.0 header of a long shape); the
// .npy format itself allows 4 GiB.
const maxNPZHeader = 64 << 10

// npzChunk is how many bytes of an array are decoded at a time.
const npzChunk = 64 << 10

// npzDTypes maps the NumPy element types that can be read to the DType each is recorded as
// and its byte order.
var npzDTypes = map[string]struct {
	dtype DType
	order binary.ByteOrder
}{
	"<f4": {F32, binary.LittleEndian},
	"<f2": {F16, binary.LittleEndian},
	"<f8": {F64, binary.LittleEndian},
	">f4": {F32, binary.BigEndian},
	">f2": {F16, binary.BigEndian},
	">f8": {F64, binary.BigEndian},
}

// isNPZ reports whether the zip archive zr looks like a .npz archive: at least one entry,
// and every entry's name ends in ".npy".
func isNPZ(zr *zip.Reader) bool {
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, npzSuffix) {
			return false
		}
	}
	return len(zr.File) > 0
}

// readNPZ reads every array of the .npz archive zr, a file of size bytes at path, in the
// archive's order. Each entry's size is checked against the file's before it is opened,
// each header against the entry's size, and what the arrays need, all together, against
// maxExpansion times the file's size before each is allocated; the data are decoded a
// chunk at a time, and every entry's CRC-32 is checked.
func readNPZ(zr *zip.Reader, size int64, path string) (*Checkpoint, error) {
	c := &Checkpoint{Path: path, Format: NPZ,
		Tensors: make(map[string]*tensor.Tensor, len(zr.File)), DTypes: make(map[string]DType, len(zr.File))}
	// The zip helpers of the PyTorch reader use nothing else of it than the path and size.
	za := &torchArchive{path: path, size: size}
	b := budget{limit: maxExpansion*size + 1<<20}
	br := bufio.NewReaderSize(nil, npzChunk)
	chunk := make([]byte, npzChunk)
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, npzSuffix)
		if _, dup := c.Tensors[name]; dup {
			return nil, tensorErr(path, name, "the archive holds zip entry %s twice", f.Name)
		}
		t, dtype, err := readNPZEntry(za, f, name, br, chunk, &b)
		if err != nil {
			return nil, err
		}
		c.Names = append(c.Names, name)
		c.Tensors[name] = t
		c.DTypes[name] = dtype
	}
	return c, nil
}

// readNPZEntry reads the array name from the .npz entry f, decoding it through br and
// chunk and spending what it allocates from b.
func readNPZEntry(za *torchArchive, f *zip.File, name string, br *bufio.Reader, chunk []byte, b *budget) (*tensor.Tensor, DType, error) {
	path := za.path
	have, err := za.entrySize(f)
	if err != nil {
		return nil, 0, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, 0, fileErr(path, "NumPy .npz archive: zip entry %s: %v", f.Name, err)
	}
	defer rc.Close()
	br.Reset(rc)
	h, err := tensor.ReadNPYHeader(br, maxNPZHeader)
	if err != nil {
		return nil, 0, fileErr(path, "NumPy .npz archive: zip entry %s: %v", f.Name, err)
	}
	kind, ok := npzDTypes[h.Descr]
	if !ok {
		return nil, 0, tensorErr(path, name, "array of NumPy type %q, which is not read: only float16, float32 and float64 arrays are (<f2, <f4, <f8)", h.Descr)
	}
	if len(h.Shape) > maxDims {
		return nil, 0, tensorErr(path, name, "array has %d dimensions, more than %d", len(h.Shape), maxDims)
	}
	n, ok := numElements(h.Shape)
	data := have - h.Len
	if !ok || n > data/kind.dtype.Size() || n*kind.dtype.Size() != data {
		return nil, 0, tensorErr(path, name, "array of shape %v and type %s: zip entry %s holds %d bytes of data, not the %s it needs",
			h.Shape, h.Descr, f.Name, data, needBytes(h.Shape, kind.dtype.Size()))
	}
	if !b.spend(n, 4) || !b.spend(1, tensorOverhead+16*int64(len(h.Shape))) {
		return nil, 0, tensorErr(path, name, "the arrays would need more than %d bytes, implausible for a %d-byte file", b.limit, za.size)
	}
	t := tensor.New(h.Shape...)
	dst := t.Data()
	per := len(chunk) / int(kind.dtype.Size())
	for at := 0; at < len(dst); at += per {
		k := min(per, len(dst)-at)
		raw := chunk[:k*int(kind.dtype.Size())]
		if _, err := io.ReadFull(br, raw); err != nil {
			return nil, 0, fileErr(path, "NumPy .npz archive: zip entry %s: %v", f.Name, noEOF(err))
		}
		decode(dst[at:at+k], raw, kind.dtype, kind.order, 0, 1)
	}
	// Reading on to the end makes archive/zip check the size and the CRC-32.
	if n, err := br.Read(chunk[:1]); n != 0 || (err != nil && err != io.EOF) {
		if err == nil {
			err = errors.New("longer than declared")
		}
		return nil, 0, fileErr(path, "NumPy .npz archive: zip entry %s: %v", f.Name, err)
	}
	return t, kind.dtype, nil
}

// needBytes describes the bytes an array of shape needs at size bytes an element.
func needBytes(shape []int, size int64) string {
	n, ok := numElements(shape)
	if !ok || n > (1<<62)/size {
		return "more than 2^62 bytes"
	}
	return fmt.Sprintf("%d bytes", n*size)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
