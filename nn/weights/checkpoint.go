package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/semprox/semprox/tensor"
)

// Format is the kind of file a checkpoint was read from.
type Format int

const (
	Safetensors Format = iota + 1 // a .safetensors file
	PyTorch                       // a torch.save zip archive (.pth, .pt, pytorch_model.bin)
	NPZ                           // a NumPy .npz archive (np.savez), such as Google's AugReg ViT checkpoints
)

func (f Format) String() string {
	switch f {
	case Safetensors:
		return "safetensors"
	case PyTorch:
		return "PyTorch zip"
	case NPZ:
		return "numpy .npz"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Checkpoint is a set of named float32 tensors read from a weight file.
type Checkpoint struct {
	Path   string
	Format Format
	// Names lists every tensor name in file order (header order for safetensors, state
	// dict order for PyTorch, archive order for .npz), one entry per key of Tensors.
	Names []string
	// Tensors holds each tensor converted to float32, contiguous and row-major, in
	// storage of its own (no two tensors share memory).
	Tensors map[string]*tensor.Tensor
	// DTypes records the element type each tensor had in the file.
	DTypes map[string]DType
	// Metadata is the safetensors "__metadata__" map (nil when absent, and for PyTorch).
	Metadata map[string]string
	// StateDictKey says where in a PyTorch checkpoint the state dict was found: a
	// "/"-separated path of dictionary keys such as "teacher" or "model/state_dict", or ""
	// when the saved object was the state dict itself.
	StateDictKey string
	// Ignored lists, sorted, the original names of the tensors that [Checkpoint.TimmNames]
	// dropped (classifier heads). Empty until it is called.
	Ignored []string
	// Heads is the number of attention heads when the file records it, which only an AugReg
	// .npz does (its attention kernels are [D, heads, D/heads]): set by
	// [Checkpoint.TimmNames]; 0 otherwise.
	Heads int
}

// Read reads every tensor of a weight file, detecting its format from its content, not its
// name:
//
//   - safetensors: dtypes F32, F16, BF16 and F64 (and integer and BOOL tensors) are
//     converted to float32 (F16 and BF16 exactly, F64 rounded to nearest). The header is
//     validated in full before any data is read.
//   - PyTorch zip (torch.save since 1.6: .pth, .pt, pytorch_model.bin): the pickle is read
//     without running anything, like torch.load(weights_only=True); tensors may be views
//     with offsets and strides into shared storages, of FloatStorage, HalfStorage,
//     BFloat16Storage, DoubleStorage or integer types. When the saved object is not itself
//     a state dict (a dict of name -> tensor), Read looks for one under the first present
//     key of "state_dict", "model", "teacher", "module", "model_state", "model_state_dict",
//     "net", "network", "params", "state_dict_ema", "model_ema", "student" (so a full DINO
//     checkpoint yields its teacher, as DINO's own evaluation does), else under the only
//     key that holds one, descending through up to four levels of wrapping dicts; the path
//     taken is recorded in StateDictKey. Use [ReadKey] to choose another.
//   - NumPy .npz (np.savez or np.savez_compressed: a zip of .npy arrays, stored or
//     deflated), such as Google's AugReg ViT checkpoints: float32, float16 and float64
//     arrays, named as the archive names them less the ".npy" suffix
//     ("Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel"), in the file's layout
//     (Flax's [in, out] kernels); [Checkpoint.TimmNames] converts them to timm's names and
//     layout. Arrays of any other element type are refused.
//   - The legacy PyTorch format (before 1.6) and TorchScript archives are refused with a
//     message saying what to do.
//
// Names are kept as the file has them; see [Checkpoint.TimmNames] and [Check]. Every error
// for a bad file is an *[Error] naming the file and, where there is one, the tensor. No
// tensor is silently skipped: one that cannot be converted is an error.
func Read(path string) (*Checkpoint, error) { return read(path, "", true) }

// ReadKey is [Read] with an explicit choice of the state dict inside a PyTorch checkpoint:
// key is a "/"-separated path of dictionary keys ("teacher", "model/state_dict"), and ""
// means the saved object itself. Every entry of the chosen dict must be a tensor. A key is
// an error for a safetensors or .npz file, which holds one flat set of tensors.
func ReadKey(path, key string) (*Checkpoint, error) { return read(path, key, false) }

// ReadBytes is [Read] for a weight file held in memory (an embedded file, say); name stands
// for the file in messages and in Checkpoint.Path. The tensors are copies: b may be reused.
func ReadBytes(name string, b []byte) (*Checkpoint, error) {
	return readFrom(bytes.NewReader(b), int64(len(b)), name, "", true)
}

func read(path, key string, auto bool) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, fileErr(path, "not a regular file")
	}
	return readFrom(f, st.Size(), path, key, auto)
}

// readFrom reads a checkpoint of size bytes from r; path is used in messages.
func readFrom(r io.ReaderAt, size int64, path, key string, auto bool) (*Checkpoint, error) {
	var head [16]byte
	n, _ := r.ReadAt(head[:], 0)
	kind := sniff(head[:n], r, size)
	if kind == sniffUnknown && strings.HasSuffix(strings.ToLower(path), ".safetensors") {
		kind = sniffSafetensors // damaged beyond recognition: let the parser say what is wrong
	}
	switch kind {
	case sniffSafetensors:
		if !auto && key != "" {
			return nil, fileErr(path, "a safetensors file holds one flat set of tensors; state dict key %q does not apply", key)
		}
		return readSafetensors(r, size, path)
	case sniffZip:
		zr, err := zip.NewReader(r, size)
		if err != nil {
			return nil, fileErr(path, "reading the zip archive: %v", err)
		}
		if isNPZ(zr) {
			if !auto && key != "" {
				return nil, fileErr(path, "a NumPy .npz archive holds one flat set of arrays; state dict key %q does not apply", key)
			}
			return readNPZ(zr, size, path)
		}
		if !hasTorchPickle(zr) {
			return nil, fileErr(path, "a zip archive without <name>/data.pkl whose entries are not all .npy arrays (%s): "+
				"neither a PyTorch checkpoint nor a NumPy .npz archive", zipNames(zr))
		}
		return readTorchZip(zr, size, path, key, auto)
	case sniffTorchLegacy:
		return nil, fileErr(path, "a PyTorch checkpoint in the legacy format (torch.save before 1.6), which this package does not read; "+
			"convert it with PyTorch >= 1.6: torch.save(torch.load(old), new), or save it as safetensors")
	}
	return nil, fileErr(path, "unrecognised weight file (%d bytes): neither safetensors nor a zip archive (PyTorch or NumPy .npz)", size)
}

// hasTorchPickle reports whether zr has an entry <name>/data.pkl, as a torch.save archive does.
func hasTorchPickle(zr *zip.Reader) bool {
	for _, f := range zr.File {
		if dir, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && !strings.Contains(dir, "/") {
			return true
		}
	}
	return false
}

// zipNames lists the first few entries of zr for a message.
func zipNames(zr *zip.Reader) string {
	if len(zr.File) == 0 {
		return "no entries"
	}
	var names []string
	for _, f := range zr.File[:min(len(zr.File), 3)] {
		names = append(names, fmt.Sprintf("%.80q", f.Name))
	}
	if len(zr.File) > 3 {
		names = append(names, fmt.Sprintf("and %d more", len(zr.File)-3))
	}
	return strings.Join(names, ", ")
}

type sniffResult int

const (
	sniffUnknown sniffResult = iota
	sniffSafetensors
	sniffZip
	sniffTorchLegacy
)

// legacyMagic is how a legacy torch.save file starts: pickle PROTO 2, then the magic
// number 0x1950a86a20f9469cfc6c as a LONG1.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// sniff classifies a file from its first bytes (and, for tar, its header block). A
// safetensors file is recognised by the JSON object that starts at byte 8.
func sniff(head []byte, r io.ReaderAt, size int64) sniffResult {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return sniffZip
	case bytes.HasPrefix(head, legacyMagic):
		return sniffTorchLegacy
	case len(head) >= 9 && head[8] == '{':
		return sniffSafetensors
	}
	var ustar [5]byte // the oldest torch.save wrote a tar archive
	if size >= 512 && readFullAt(r, ustar[:], 257) == nil && string(ustar[:]) == "ustar" {
		return sniffTorchLegacy
	}
	return sniffUnknown
}

// readTorchZip reads a PyTorch zip checkpoint, the zip archive zr of a file of size bytes.
func readTorchZip(zr *zip.Reader, size int64, path, key string, auto bool) (*Checkpoint, error) {
	a, err := openTorchZip(zr, size, path)
	if err != nil {
		return nil, err
	}
	root, err := a.load()
	if err != nil {
		return nil, err
	}
	var d *pyDict
	if auto {
		d, key, err = findStateDict(root)
	} else {
		d, err = stateDictAt(root, key)
	}
	if err == nil {
		err = checkStateDict(d, key)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Path = path
			return nil, e
		}
		return nil, &Error{Path: path, Err: err}
	}
	c := &Checkpoint{Path: path, Format: PyTorch, StateDictKey: key,
		Tensors: make(map[string]*tensor.Tensor, len(d.items)), DTypes: make(map[string]DType, len(d.items))}
	if err := a.materialize(d, c); err != nil {
		return nil, err
	}
	return c, nil
}

// String describes the checkpoint briefly: file, format, tensor count and, for PyTorch,
// where the state dict was found.
func (c *Checkpoint) String() string {
	s := fmt.Sprintf("%s (%s, %d tensors", c.Path, c.Format, len(c.Names))
	if c.Format == PyTorch {
		key := c.StateDictKey
		if key == "" {
			key = "top level"
		}
		s += ", state dict: " + key
	}
	if len(c.Ignored) > 0 {
		s += fmt.Sprintf(", %d head tensors ignored", len(c.Ignored))
	}
	return s + ")"
}
