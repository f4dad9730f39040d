package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/semprox/semprox/tensor"
)

// Our own checkpoints are a pair of files: the tensors as an F32 safetensors file, readable
// by any safetensors reader, and the caller's metadata (configuration, epoch, metrics) as
// indented JSON beside it, readable by a person. The safetensors "__metadata__" names the
// JSON file and holds its SHA-256, so Load notices a pair that was not written together.

// Keys of the safetensors "__metadata__" written by Save.
const (
	metaFormatKey = "format"              // "semprox"
	metaFileKey   = "semprox.meta"        // base name of the JSON file
	metaHashKey   = "semprox.meta_sha256" // hex SHA-256 of the JSON file's bytes
)

// MetaPath returns the JSON metadata file that goes with the tensor file path: path with
// a trailing ".safetensors" replaced by ".json" (or ".json" appended when path has no such
// suffix).
func MetaPath(path string) string {
	return strings.TrimSuffix(path, ".safetensors") + ".json"
}

// Save writes tensors to path as an F32 safetensors file (names sorted) and meta, encoded
// with encoding/json, to [MetaPath](path). Each file is written atomically: to a
// temporary file in the same directory, synced, then renamed over the target, so a
// failure or crash leaves either the old file or the new one, never a partial one; no
// temporary file is left behind on failure. The JSON file is written first. meta may be
// nil (written as null).
//
// Save refuses, before writing anything, a nil tensor, an empty name or the reserved name
// "__metadata__", a meta that encoding/json cannot encode, and a path that is itself its
// metadata path (one ending in ".json").
func Save(path string, tensors map[string]*tensor.Tensor, meta any) error {
	metaPath := MetaPath(path)
	if filepath.Clean(metaPath) == filepath.Clean(path) || strings.HasSuffix(path, ".json") {
		return fileErr(path, "a checkpoint's tensor file cannot end in .json (its metadata goes to %s)", metaPath)
	}
	for name, t := range tensors {
		switch {
		case name == "" || name == metadataKey:
			return tensorErr(path, name, "reserved or empty tensor name")
		case t == nil:
			return tensorErr(path, name, "nil tensor")
		}
	}
	js, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fileErr(path, "encoding the metadata as JSON: %v", err)
	}
	js = append(js, '\n')
	sum := sha256.Sum256(js)
	header := map[string]string{
		metaFormatKey: "semprox",
		metaFileKey:   filepath.Base(metaPath),
		metaHashKey:   hex.EncodeToString(sum[:]),
	}
	if err := tensor.WriteAtomic(metaPath, func(w io.Writer) error {
		_, err := w.Write(js)
		return err
	}); err != nil {
		return &Error{Path: metaPath, Err: err}
	}
	if err := tensor.WriteAtomic(path, func(w io.Writer) error {
		return writeSafetensors(w, tensors, header)
	}); err != nil {
		return &Error{Path: path, Err: err}
	}
	return nil
}

// Load reads a checkpoint written by [Save]: the tensors from path and the metadata from
// [MetaPath](path), decoded into meta with encoding/json unless meta is nil. It fails if
// the tensor file was not written by Save, if the JSON file is missing, or if the JSON
// file is not the one written with the tensors (its SHA-256 differs from the one recorded
// in the tensor file). The tensors come back bit for bit as they were saved.
func Load(path string, meta any) (*Checkpoint, error) {
	c, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := checkSaved(c); err != nil {
		return nil, err
	}
	js, err := os.ReadFile(MetaPath(path))
	if err != nil {
		return nil, fileErr(path, "reading its metadata file: %v", err)
	}
	return c, decodeMeta(c, js, meta)
}

// LoadBytes is [Load] for a checkpoint pair held in memory (embedded files, say): tensors is
// the content of the safetensors file called name, metaJSON that of its JSON file. It makes
// the same checks, the JSON's SHA-256 included.
func LoadBytes(name string, tensors, metaJSON []byte, meta any) (*Checkpoint, error) {
	c, err := ReadBytes(name, tensors)
	if err != nil {
		return nil, err
	}
	if err := checkSaved(c); err != nil {
		return nil, err
	}
	return c, decodeMeta(c, metaJSON, meta)
}

// checkSaved fails unless c was written by Save.
func checkSaved(c *Checkpoint) error {
	if _, ok := c.Metadata[metaHashKey]; c.Format != Safetensors || !ok {
		return fileErr(c.Path, "not a checkpoint written by Save (no %s in its metadata); use Read for other weight files", metaHashKey)
	}
	return nil
}

// decodeMeta checks that js is the metadata file saved with c (by its SHA-256) and decodes
// it into meta unless meta is nil.
func decodeMeta(c *Checkpoint, js []byte, meta any) error {
	metaPath, want := MetaPath(c.Path), c.Metadata[metaHashKey]
	sum := sha256.Sum256(js)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fileErr(metaPath, "SHA-256 %s differs from the %s recorded in %s: the two files were not saved together", got, want, c.Path)
	}
	if meta != nil {
		if err := json.Unmarshal(js, meta); err != nil {
			return fileErr(metaPath, "decoding the metadata: %v", err)
		}
	}
	return nil
}

// writeSafetensors writes tensors as an F32 safetensors file, in name order, with the
// given "__metadata__" (none if empty).
func writeSafetensors(w io.Writer, tensors map[string]*tensor.Tensor, metadata map[string]string) error {
	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	header := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		header[metadataKey] = metadata
	}
	off := int64(0)
	for _, name := range names {
		t := tensors[name]
		n := 4 * int64(t.Len())
		header[name] = entry{DType: F32.String(), Shape: t.Shape(), DataOffsets: [2]int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so that the data starts 8-byte aligned, as the reference
	// implementation does.
	js = append(js, bytes.Repeat([]byte{' '}, (8-len(js)%8)%8)...)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
	w.Write(n[:]) // w is buffered (tensor.WriteAtomic) and keeps its first error; Flush reports it
	w.Write(js)
	var buf [4096]byte
	for _, name := range names {
		data := tensors[name].Data()
		for len(data) > 0 {
			k := min(len(data), len(buf)/4)
			for i, v := range data[:k] {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			if _, err := w.Write(buf[:4*k]); err != nil {
				return err
			}
			data = data[k:]
		}
	}
	return nil
}
