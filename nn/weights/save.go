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

	"github.com/semprox/semprox/internal/atomicfile"
	"github.com/semprox/semprox/tensor"
)

// Our own checkpoints are one F32 safetensors file, readable by any safetensors reader, that
// also carries the caller's metadata (configuration, epoch, metrics) as JSON in its
// "__metadata__", and the SHA-256 of its tensor data. The file is switched into place by one
// rename, so it is always either the old checkpoint or the new one, and Load notices a file
// whose data was damaged afterwards. The same JSON, indented, is written beside it for people
// to read; Load does not need it.
//
// Files written before the metadata was embedded hold only the SHA-256 of the JSON file
// beside them; Load still reads them, from the pair.

// Keys of the safetensors "__metadata__" written by Save.
const (
	metaFormatKey = "format"              // "semprox"
	metaFileKey   = "semprox.meta"        // base name of the JSON file beside it
	metaHashKey   = "semprox.meta_sha256" // hex SHA-256 of the JSON
	metaJSONKey   = "semprox.meta_json"   // the JSON itself
	dataHashKey   = "semprox.data_sha256" // hex SHA-256 of the tensor data, as it lies in the file
)

// MetaPath returns the JSON metadata file that goes with the tensor file path: path with
// a trailing ".safetensors" replaced by ".json" (or ".json" appended when path has no such
// suffix).
func MetaPath(path string) string {
	return strings.TrimSuffix(path, ".safetensors") + ".json"
}

// PreviousPath returns where [SaveKeeping] keeps the checkpoint that path held before:
// "name.prev.safetensors" for "name.safetensors".
func PreviousPath(path string) string {
	return strings.TrimSuffix(path, ".safetensors") + ".prev.safetensors"
}

// Save writes tensors to path as an F32 safetensors file (names sorted) with meta, encoded
// with encoding/json, and the SHA-256 of the tensor data in its metadata; then the same JSON
// to [MetaPath](path), for people to read. The tensor file is written atomically: to a
// temporary file in the same directory, synced, then renamed over the target, so a failure or
// crash at any point leaves either the old checkpoint or the new one, complete, never a
// partial one; no temporary file is left behind on failure. meta may be nil (written as null).
//
// Save refuses, before writing anything, a nil tensor, an empty name or the reserved name
// "__metadata__", a meta that encoding/json cannot encode, and a path that is itself its
// metadata path (one ending in ".json").
func Save(path string, tensors map[string]*tensor.Tensor, meta any) error {
	return save(path, "", tensors, meta)
}

// SaveKeeping is [Save] that keeps the checkpoint it replaces as [PreviousPath](path), so
// that [LoadRecent] has one to fall back on if the new one is ever damaged. At every moment
// path or, for the instant between two renames, the previous path holds a complete
// checkpoint.
func SaveKeeping(path string, tensors map[string]*tensor.Tensor, meta any) error {
	return save(path, PreviousPath(path), tensors, meta)
}

func save(path, previous string, tensors map[string]*tensor.Tensor, meta any) error {
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
	names := sortedNames(tensors)
	header := map[string]string{
		metaFormatKey: "semprox",
		metaFileKey:   filepath.Base(metaPath),
		metaHashKey:   sha256Hex(js),
		metaJSONKey:   string(js),
		dataHashKey:   dataSHA256(tensors, names),
	}
	if err := atomicfile.WriteKeeping(path, previous, func(w io.Writer) error {
		return writeSafetensors(w, tensors, names, header)
	}); err != nil {
		return &Error{Path: path, Err: err}
	}
	if err := atomicfile.WriteFile(metaPath, js); err != nil {
		return &Error{Path: metaPath, Err: err}
	}
	return nil
}

// Load reads a checkpoint written by [Save]: the tensors from path and the metadata embedded
// in it, decoded into meta with encoding/json unless meta is nil. It fails, naming the file,
// if the file was not written by Save or if its tensor data differs from what was saved (the
// SHA-256 recorded with it). The tensors come back bit for bit as they were saved.
//
// For a file written before the metadata was embedded, the metadata comes from
// [MetaPath](path), which must be the JSON saved with the tensors.
func Load(path string, meta any) (*Checkpoint, error) {
	c, err := Read(path)
	if err != nil {
		return nil, err
	}
	if err := checkSaved(c); err != nil {
		return nil, err
	}
	js, embedded := c.Metadata[metaJSONKey]
	if !embedded {
		b, err := os.ReadFile(MetaPath(path))
		if err != nil {
			return nil, fileErr(path, "reading its metadata file: %v", err)
		}
		js = string(b)
	}
	return c, decodeMeta(c, []byte(js), meta)
}

// LoadRecent loads the checkpoint at path as [Load] does or, when path is missing or cannot be
// loaded, the one [SaveKeeping] kept at [PreviousPath](path). check, unless nil, is called once
// meta is decoded, and its error counts as damage (a checkpoint of the wrong run, say). damaged
// is the error that made it fall back (nil when path itself was loaded); c.Path says which file
// was read. err is path's own error when neither can be loaded.
func LoadRecent(path string, meta any, check func() error) (c *Checkpoint, damaged, err error) {
	load := func(p string) (*Checkpoint, error) {
		c, err := Load(p, meta)
		if err == nil && check != nil {
			if err = check(); err != nil {
				err = fileErr(p, "%v", err)
			}
		}
		return c, err
	}
	if c, err = load(path); err == nil {
		return c, nil, nil
	}
	prev, perr := load(PreviousPath(path))
	if perr != nil {
		return nil, nil, err
	}
	return prev, err, nil
}

// LoadBytes is [Load] for a checkpoint held in memory (embedded files, say): tensors is the
// content of the safetensors file called name, metaJSON that of its JSON file, which is only
// read for a file written before the metadata was embedded. It makes the same checks.
func LoadBytes(name string, tensors, metaJSON []byte, meta any) (*Checkpoint, error) {
	c, err := ReadBytes(name, tensors)
	if err != nil {
		return nil, err
	}
	if err := checkSaved(c); err != nil {
		return nil, err
	}
	if js, ok := c.Metadata[metaJSONKey]; ok {
		metaJSON = []byte(js)
	}
	return c, decodeMeta(c, metaJSON, meta)
}

// checkSaved fails unless c was written by Save and its tensor data is what was saved.
func checkSaved(c *Checkpoint) error {
	if _, ok := c.Metadata[metaHashKey]; c.Format != Safetensors || !ok {
		return fileErr(c.Path, "not a checkpoint written by Save (no %s in its metadata); use Read for other weight files", metaHashKey)
	}
	want, ok := c.Metadata[dataHashKey]
	if !ok {
		return nil // written before the data hash was recorded
	}
	if got := dataSHA256(c.Tensors, c.Names); got != want {
		return fileErr(c.Path, "damaged: the SHA-256 of its tensor data is %s, not the %s saved with it", got, want)
	}
	return nil
}

// decodeMeta checks that js is the metadata saved with c (by its SHA-256) and decodes it into
// meta unless meta is nil.
func decodeMeta(c *Checkpoint, js []byte, meta any) error {
	where, want := c.Path, c.Metadata[metaHashKey]
	if _, embedded := c.Metadata[metaJSONKey]; !embedded {
		where = MetaPath(c.Path)
	}
	if got := sha256Hex(js); got != want {
		return fileErr(where, "SHA-256 %s of the metadata differs from the %s recorded in %s: the two were not saved together", got, want, c.Path)
	}
	if meta != nil {
		if err := json.Unmarshal(js, meta); err != nil {
			return fileErr(where, "decoding the metadata: %v", err)
		}
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sortedNames returns the names of tensors in sorted order, the order of their data in a file
// that Save writes.
func sortedNames(tensors map[string]*tensor.Tensor) []string {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// dataSHA256 is the hex SHA-256 of the tensors' data as an F32 file holds it: each tensor of
// names in turn, little-endian.
func dataSHA256(tensors map[string]*tensor.Tensor, names []string) string {
	h := sha256.New()
	for _, name := range names {
		writeF32(h, tensors[name].Data())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeSafetensors writes tensors as an F32 safetensors file, in the order of names, with the
// given "__metadata__" (none if empty).
func writeSafetensors(w io.Writer, tensors map[string]*tensor.Tensor, names []string, metadata map[string]string) error {
	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
	}
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
	w.Write(n[:]) // w is buffered (atomicfile.Write) and keeps its first error; Flush reports it
	w.Write(js)
	for _, name := range names {
		if err := writeF32(w, tensors[name].Data()); err != nil {
			return err
		}
	}
	return nil
}

// writeF32 writes data to w as little-endian float32s.
func writeF32(w io.Writer, data []float32) error {
	var buf [4096]byte
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
	return nil
}
