package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/semprox/semprox/tensor"
)

// The PyTorch zip format (torch.save since 1.6): a zip archive whose entries sit under one
// directory, <name>/data.pkl (a pickle of the saved object), <name>/data/<key> (the raw
// bytes of each storage, C-ordered), <name>/version and, since PyTorch 2.1,
// <name>/byteorder ("little" or "big"). In the pickle every tensor is
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks),
// and every storage is the persistent id ("storage", torch.<Type>Storage, key, location,
// numel).

// data.pkl may hold at most maxPickleRatio times the archive's size plus pickleLenFloor
// bytes, and never more than maxPickleLen. torch.save stores it uncompressed, so in a real
// checkpoint it is a small part of the archive: a few hundred bytes per tensor, under 1 MB
// for a ViT-g, a few MB for a training checkpoint with optimizer state. Only a deflated
// entry can be larger than the archive, and a deflated pickle much larger than its archive
// is a decompression bomb (10^8 DUP opcodes deflate to 97 KB).
const (
	maxPickleLen   = 256 << 20
	maxPickleRatio = 2
	pickleLenFloor = 1 << 20
)

// maxDeflateRatio bounds how much a deflated zip entry can expand (deflate's own limit is
// about 1032:1), so that an entry's declared size can be checked against the file's.
const maxDeflateRatio = 1100

// maxExpansion caps what reading a state dict's tensors allocates (their float32 copies,
// tensorOverhead bytes and 16 a dimension for each, and the raw bytes of the storages they
// read) at this multiple of the file's size, plus 1 MiB. A stored F32 checkpoint needs
// twice its size and half-precision data three times; only expanded (stride-0) tensors,
// many tensors sharing one storage and deflated storages can need more.
const maxExpansion = 16

// tensorOverhead is the estimated bytes of a tensor's bookkeeping in a Checkpoint: the
// tensor, the smallest aligned data block, its name and entries in the maps.
const tensorOverhead = 256

// torchStorage is a storage named by a persistent id; its bytes are read only if a tensor
// of the chosen state dict uses it.
type torchStorage struct {
	key      string
	typeName string // "FloatStorage", ...
	dtype    DType  // DTypeInvalid for a storage type that cannot be converted
	numel    int64
}

// torchTensor is a tensor as _rebuild_tensor_v2 describes it: a strided view of a storage.
type torchTensor struct {
	storage *torchStorage
	offset  int64
	shape   []int
	stride  []int64
}

// storageDTypes maps torch's storage class names to element types.
var storageDTypes = map[string]DType{
	"FloatStorage":    F32,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"DoubleStorage":   F64,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     BOOL,
}

// torchArchive is an open PyTorch zip checkpoint.
type torchArchive struct {
	path     string
	size     int64
	prefix   string // "<name>/"
	entries  map[string]*zip.File
	order    binary.ByteOrder
	storages map[string]*torchStorage
}

// openTorchZip checks that zr is a PyTorch checkpoint and finds its layout.
func openTorchZip(zr *zip.Reader, size int64, path string) (*torchArchive, error) {
	a := &torchArchive{path: path, size: size, entries: make(map[string]*zip.File, len(zr.File)),
		order: binary.LittleEndian, storages: make(map[string]*torchStorage)}
	var pickles []string
	npy := false
	for _, f := range zr.File {
		a.entries[f.Name] = f
		if dir, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && !strings.Contains(dir, "/") {
			pickles = append(pickles, f.Name)
		}
		npy = npy || strings.HasSuffix(f.Name, ".npy")
	}
	switch {
	case len(pickles) == 0 && npy:
		return nil, fileErr(path, "a NumPy .npz archive (e.g. Flax/AugReg weights), which this package does not read; convert it to safetensors")
	case len(pickles) == 0:
		return nil, fileErr(path, "a zip archive without <name>/data.pkl: not a PyTorch checkpoint")
	case len(pickles) > 1:
		return nil, fileErr(path, "a zip archive with %d data.pkl entries (%s): not a single PyTorch checkpoint", len(pickles), strings.Join(pickles, ", "))
	}
	a.prefix = strings.TrimSuffix(pickles[0], "data.pkl")
	if _, ok := a.entries[a.prefix+"constants.pkl"]; ok {
		return nil, fileErr(path, "a TorchScript archive (torch.jit.save); save the model's state_dict() with torch.save instead")
	}
	if f, ok := a.entries[a.prefix+"byteorder"]; ok {
		b, err := a.readEntry(f, 16)
		if err != nil {
			return nil, err
		}
		switch string(bytes.TrimSpace(b)) {
		case "little":
		case "big":
			a.order = binary.BigEndian
		default:
			return nil, fileErr(path, "%s: unknown byte order %q", f.Name, b)
		}
	}
	return a, nil
}

// readEntry reads the whole of entry f, refusing entries larger than limit bytes or whose
// declared size cannot come from a file of a.size bytes. A damaged entry fails its CRC.
func (a *torchArchive) readEntry(f *zip.File, limit int64) ([]byte, error) {
	n, err := a.entrySize(f)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fileErr(a.path, "zip entry %s is %d bytes, more than the %d allowed for it in a %d-byte file",
			f.Name, n, limit, a.size)
	}
	buf := make([]byte, n)
	if err := a.readEntryInto(f, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// entrySize returns the declared uncompressed size of f after checking that the file can
// hold it.
func (a *torchArchive) entrySize(f *zip.File) (int64, error) {
	if f.CompressedSize64 > uint64(a.size) {
		return 0, fileErr(a.path, "zip entry %s claims %d compressed bytes in a %d-byte file", f.Name, f.CompressedSize64, a.size)
	}
	bound := f.CompressedSize64
	if f.Method != zip.Store {
		bound = f.CompressedSize64*maxDeflateRatio + 1024
	}
	if f.UncompressedSize64 > bound {
		return 0, fileErr(a.path, "zip entry %s claims %d bytes, more than its %d compressed bytes can hold",
			f.Name, f.UncompressedSize64, f.CompressedSize64)
	}
	return int64(f.UncompressedSize64), nil
}

// readEntryInto reads entry f, which must hold exactly len(buf) bytes, into buf.
func (a *torchArchive) readEntryInto(f *zip.File, buf []byte) error {
	rc, err := f.Open()
	if err != nil {
		return fileErr(a.path, "zip entry %s: %v", f.Name, err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return fileErr(a.path, "zip entry %s: %v", f.Name, err)
	}
	// Reading on to the end makes archive/zip check the size and the CRC-32.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || (err != nil && err != io.EOF) {
		if err == nil {
			err = errors.New("longer than declared")
		}
		return fileErr(a.path, "zip entry %s: %v", f.Name, err)
	}
	return nil
}

// load unpickles data.pkl, resolving storages and tensors but reading no tensor data.
func (a *torchArchive) load() (any, error) {
	f := a.entries[a.prefix+"data.pkl"]
	data, err := a.readEntry(f, min(maxPickleRatio*a.size+pickleLenFloor, maxPickleLen))
	if err != nil {
		return nil, err
	}
	v, err := unpickle(data, pickleHooks{call: a.call, persistentLoad: a.persistentLoad})
	if err != nil {
		return nil, fileErr(a.path, "%s: %v", f.Name, err)
	}
	return v, nil
}

// persistentLoad resolves ("storage", torch.<Type>Storage, key, location, numel).
func (a *torchArchive) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id is a %s, want (\"storage\", type, key, location, numel)", describe(pid))
	}
	typ, ok1 := t[1].(pyGlobal)
	key, ok2 := t[2].(string)
	_, ok3 := t[3].(string)
	numel, ok4 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 || numel < 0 {
		return nil, fmt.Errorf("storage id (%s, %s, %s, %s) is not (type, key, location, numel)",
			describe(t[1]), describe(t[2]), describe(t[3]), describe(t[4]))
	}
	if typ.module != "torch" {
		return nil, fmt.Errorf("storage %s has type %s, not a torch storage", key, typ)
	}
	s := &torchStorage{key: key, typeName: typ.name, dtype: storageDTypes[typ.name], numel: numel}
	if prev, ok := a.storages[key]; ok {
		if prev.typeName != s.typeName || prev.numel != s.numel {
			return nil, fmt.Errorf("storage %s appears as %s of %d and as %s of %d", key, prev.typeName, prev.numel, s.typeName, s.numel)
		}
		return prev, nil
	}
	a.storages[key] = s
	return s, nil
}

// call gives meaning to the globals that torch.save writes; all others stay opaque.
func (a *torchArchive) call(fn any, args pyTuple) (any, bool, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, false, nil
	}
	switch g { // compared field by field: concatenating them would copy long names every call
	case pyGlobal{"collections", "OrderedDict"}:
		if len(args) == 0 {
			return &pyDict{}, true, nil
		}
		return nil, false, nil // OrderedDict(iterable): kept opaque
	case pyGlobal{"torch._utils", "_rebuild_tensor_v2"}: // storage, offset, size, stride, requires_grad, hooks[, metadata]
		if len(args) != 6 && len(args) != 7 {
			return nil, false, fmt.Errorf("%s takes 6 or 7 arguments, got %d", g, len(args))
		}
		t, err := rebuildTensor(args[:4])
		return t, true, err
	case pyGlobal{"torch._utils", "_rebuild_tensor"}: // storage, offset, size, stride
		if len(args) != 4 {
			return nil, false, fmt.Errorf("%s takes 4 arguments, got %d", g, len(args))
		}
		t, err := rebuildTensor(args)
		return t, true, err
	case pyGlobal{"torch._tensor", "_rebuild_from_type_v2"}: // func, type, args, state: tensors with Python attributes
		if len(args) == 4 {
			fn, ok1 := args[0].(pyGlobal)
			inner, ok2 := args[2].(pyTuple)
			if ok1 && ok2 && fn == (pyGlobal{"torch._utils", "_rebuild_tensor_v2"}) {
				return a.call(fn, inner)
			}
		}
	case pyGlobal{"torch._utils", "_rebuild_parameter"}, pyGlobal{"torch._utils", "_rebuild_parameter_with_state"}:
		if len(args) < 1 {
			return nil, false, fmt.Errorf("%s without arguments", g)
		}
		if t, ok := args[0].(*torchTensor); ok {
			return t, true, nil
		}
	}
	return nil, false, nil
}

// rebuildTensor checks (storage, offset, size, stride) and returns the tensor they describe;
// every element it addresses must lie inside the storage.
func rebuildTensor(args pyTuple) (*torchTensor, error) {
	s, ok1 := args[0].(*torchStorage)
	offset, ok2 := args[1].(int64)
	size, ok3 := args[2].(pyTuple)
	stride, ok4 := args[3].(pyTuple)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("tensor arguments (%s, %s, %s, %s) are not (storage, offset, size, stride)",
			describe(args[0]), describe(args[1]), describe(args[2]), describe(args[3]))
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("tensor size has %d dimensions but stride has %d", len(size), len(stride))
	}
	if len(size) > maxDims {
		return nil, fmt.Errorf("tensor has %d dimensions, more than %d", len(size), maxDims)
	}
	t := &torchTensor{storage: s, offset: offset, shape: make([]int, len(size)), stride: make([]int64, len(size))}
	last := offset // highest storage index addressed
	empty := false
	for i := range size {
		n, ok1 := size[i].(int64)
		st, ok2 := stride[i].(int64)
		if !ok1 || !ok2 || n < 0 || st < 0 || st > math.MaxInt64/max(n, 1) {
			return nil, fmt.Errorf("tensor dimension %d: size %s, stride %s are not valid", i, pyValue(size[i]), pyValue(stride[i]))
		}
		t.shape[i], t.stride[i] = int(n), st
		if n == 0 {
			empty = true
		} else if last > math.MaxInt64-(n-1)*st {
			return nil, fmt.Errorf("tensor extent overflows at dimension %d", i)
		} else {
			last += (n - 1) * st
		}
	}
	if _, ok := numElements(t.shape); !ok {
		return nil, fmt.Errorf("tensor size %v overflows", t.shape)
	}
	if offset < 0 || (!empty && last >= s.numel) {
		return nil, fmt.Errorf("tensor of size %v, stride %v at offset %d reads past the end of storage %s (%d elements)",
			t.shape, t.stride, offset, s.key, s.numel)
	}
	return t, nil
}

// materialize reads the tensors of the state dict d (whose entries have been checked to be
// string-keyed tensors) into c, in dict order. Each storage is read once, whichever tensors
// share it. Nothing is read before the storages have been checked against their zip entries
// and what the tensors and storages need against the file's size (see maxExpansion).
func (a *torchArchive) materialize(d *pyDict, c *Checkpoint) error {
	users := make(map[*torchStorage][]int) // storage -> indices into d.items
	var order []*torchStorage
	for i, it := range d.items {
		t := it.value.(*torchTensor)
		if users[t.storage] == nil {
			order = append(order, t.storage)
		}
		users[t.storage] = append(users[t.storage], i)
	}
	files, err := a.plan(d, order, users)
	if err != nil {
		return err
	}
	for k, s := range order {
		raw := make([]byte, files[k].UncompressedSize64)
		if err := a.readEntryInto(files[k], raw); err != nil {
			return err
		}
		for _, i := range users[s] {
			name := d.items[i].key.(string)
			c.Tensors[name] = gather(d.items[i].value.(*torchTensor), raw, a.order)
			c.DTypes[name] = s.dtype
		}
	}
	for _, it := range d.items {
		c.Names = append(c.Names, it.key.(string))
	}
	return nil
}

// plan checks, before anything is allocated, that the tensors of d and the storages they
// use (order, with users their tensors' indices in d) fit within maxExpansion times the
// file's size, and returns the zip entry of each storage.
func (a *torchArchive) plan(d *pyDict, order []*torchStorage, users map[*torchStorage][]int) ([]*zip.File, error) {
	b := budget{limit: maxExpansion*a.size + 1<<20}
	for _, it := range d.items {
		t := it.value.(*torchTensor)
		n, _ := numElements(t.shape) // rebuildTensor has checked that it does not overflow
		if !b.spend(n, 4) || !b.spend(1, tensorOverhead+16*int64(len(t.shape))) {
			return nil, tensorErr(a.path, it.key.(string), "the state dict's tensors would need more than %d bytes, implausible for a %d-byte file",
				b.limit, a.size)
		}
	}
	files := make([]*zip.File, len(order))
	for k, s := range order {
		name := d.items[users[s][0]].key.(string)
		f, err := a.storageEntry(s, name)
		if err != nil {
			return nil, err
		}
		if !b.spend(int64(f.UncompressedSize64), 1) {
			return nil, tensorErr(a.path, name, "storage %s: its %d bytes, with the tensors and the other storages, would need more than %d bytes, implausible for a %d-byte file",
				s.key, f.UncompressedSize64, b.limit, a.size)
		}
		files[k] = f
	}
	return files, nil
}

// storageEntry returns the zip entry of storage s, used by tensor name (for messages),
// after checking that it holds exactly the storage's elements.
func (a *torchArchive) storageEntry(s *torchStorage, name string) (*zip.File, error) {
	if !s.dtype.convertible() {
		return nil, tensorErr(a.path, name, "storage type %s cannot be converted to float32", s.typeName)
	}
	entry := a.prefix + "data/" + s.key
	f, ok := a.entries[entry]
	if !ok {
		return nil, tensorErr(a.path, name, "storage %s: zip entry %s is missing", s.key, entry)
	}
	have, err := a.entrySize(f)
	if err != nil {
		return nil, err
	}
	if s.numel > math.MaxInt64/s.dtype.Size() || have != s.numel*s.dtype.Size() {
		return nil, tensorErr(a.path, name, "storage %s: zip entry %s holds %d bytes but the pickle says %d elements of %s",
			s.key, entry, have, s.numel, s.dtype)
	}
	return f, nil
}

// gather copies the strided tensor t out of its storage's bytes raw into a new contiguous
// float32 tensor. rebuildTensor has checked that every element lies inside raw.
func gather(t *torchTensor, raw []byte, order binary.ByteOrder) *tensor.Tensor {
	out := tensor.New(t.shape...)
	dst := out.Data()
	if len(dst) == 0 {
		return out
	}
	d := t.storage.dtype
	nd := len(t.shape)
	if nd == 0 {
		decode(dst, raw, d, order, t.offset, 1)
		return out
	}
	// Walk every index but the last with an odometer; copy one row of the last at a time.
	inner := t.shape[nd-1]
	idx := make([]int, nd-1)
	base := t.offset
	for at := 0; at < len(dst); at += inner {
		decode(dst[at:at+inner], raw, d, order, base, t.stride[nd-1])
		for k := nd - 2; k >= 0; k-- {
			idx[k]++
			base += t.stride[k]
			if idx[k] < t.shape[k] {
				break
			}
			base -= int64(idx[k]) * t.stride[k]
			idx[k] = 0
		}
	}
	return out
}
