package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Errors an [*EntryError] or an Extract error wraps; test them with errors.Is.
var (
	// ErrUnsafePath: the entry's name is absolute or leaves the destination directory.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrLink: the entry is a symbolic or a hard link.
	ErrLink = errors.New("links are not extracted")
	// ErrSpecial: the entry is a device, a FIFO, a sparse file or of another type that is
	// neither a regular file nor a directory.
	ErrSpecial = errors.New("only regular files and directories are extracted")
	// ErrDuplicate: the entry's name was extracted already (or is a file where a directory
	// was, or the other way round).
	ErrDuplicate = errors.New("duplicate entry")
	// ErrLimit: the entry is past Limits.MaxFiles, or its size exceeds what is left of
	// Limits.MaxBytes.
	ErrLimit = errors.New("over the extraction limit")
	// ErrFormat: the input is not a tar archive, plain or gzip-compressed.
	ErrFormat = errors.New("not a tar archive, plain or gzip-compressed")
	// ErrCorrupt: the archive is truncated, or its gzip or tar data are damaged.
	ErrCorrupt = errors.New("corrupt or truncated archive")
)

// maxNameLen bounds an entry's name (PATH_MAX on Linux): a longer one could only be hostile.
const maxNameLen = 4096

// maxTrailing bounds the bytes read after the tar end-of-archive blocks (tar pads an archive
// to its record size, 10 KiB for GNU tar): more is refused, so that a stream of compressed
// zeros after the end cannot keep Extract reading.
const maxTrailing = 1 << 20

// Limits bounds what an extraction may write. Both fields must be above zero.
type Limits struct {
	MaxBytes int64 // bytes of all regular files together
	MaxFiles int   // entries of the archive: files, directories and the entries skipped
}

// Stats counts what an extraction wrote.
type Stats struct {
	Files int   // regular files
	Dirs  int   // directories created, listed by the archive or implied by a file's path
	Bytes int64 // bytes of the regular files
}

// EntryError is an entry that Extract refused or could not write.
type EntryError struct {
	Entry string // the entry's name as the archive gives it
	Err   error  // what is wrong; wraps one of the Err variables where one applies
}

func (e *EntryError) Error() string { return fmt.Sprintf("archive entry %q: %v", e.Entry, e.Err) }

func (e *EntryError) Unwrap() error { return e.Err }

// Extract unpacks the tar archive r, gzip-compressed or plain (told apart by the gzip magic
// number), into dest, an existing directory, within lim. It writes only regular files (0644)
// and directories (0755) beneath dest, never over a file already there, and refuses what the
// package documentation lists with an [*EntryError]. Input that is neither gzip nor tar, that is
// empty, or that ends early (a truncated download) is an error wrapping [ErrFormat] or
// [ErrCorrupt]. On an error, dest may hold part of the archive: extract into a directory made for
// the purpose, as [ExtractAtomic] does. The Stats count what was written, error or not.
func Extract(r io.Reader, dest string, lim Limits) (Stats, error) {
	if lim.MaxBytes <= 0 || lim.MaxFiles <= 0 {
		return Stats{}, fmt.Errorf("archive: limits of %d bytes and %d entries: both must be above zero", lim.MaxBytes, lim.MaxFiles)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return Stats{}, fmt.Errorf("archive: destination: %w", err)
	}
	defer root.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	src, compressed, err := decompressor(br)
	if err != nil {
		return Stats{}, err
	}
	cr := &countingReader{r: src}
	x := &extractor{root: root, lim: lim, kind: map[string]bool{}, buf: make([]byte, 256<<10)}
	tr := tar.NewReader(cr)
	entries := 0
	last := ""
	for {
		before := cr.n
		hdr, err := tr.Next()
		if err == io.EOF {
			if entries == 0 {
				return x.st, emptyError(cr.n, compressed)
			}
			if cr.n-before < 2*512 {
				return x.st, fmt.Errorf("archive: %w: it ends after entry %q without the end-of-archive blocks", ErrCorrupt, last)
			}
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			err = nil // checked below, with the other names
		}
		if err != nil {
			return x.st, headerError(err, entries, last, compressed, cr.n)
		}
		entries++
		last = hdr.Name
		if entries > lim.MaxFiles {
			return x.st, &EntryError{hdr.Name, fmt.Errorf("%w: the archive has more than %d entries", ErrLimit, lim.MaxFiles)}
		}
		if err := x.entry(hdr, tr); err != nil {
			return x.st, &EntryError{hdr.Name, err}
		}
	}
	// Read what follows the end-of-archive blocks, so that gzip checks its length and CRC.
	n, err := io.Copy(io.Discard, io.LimitReader(src, maxTrailing+1))
	switch {
	case err != nil:
		return x.st, fmt.Errorf("archive: %w: after the end of the tar data: %v", ErrCorrupt, err)
	case n > maxTrailing:
		return x.st, fmt.Errorf("archive: %w: more than %d bytes follow the end of the tar data", ErrCorrupt, maxTrailing)
	}
	return x.st, nil
}

// decompressor returns the tar stream of br: gunzipped if br starts with the gzip magic number,
// else br itself. Other compressed formats get an error naming them.
func decompressor(br *bufio.Reader) (io.Reader, bool, error) {
	head, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, fmt.Errorf("archive: %w: bad gzip header: %v", ErrCorrupt, err)
		}
		return zr, true, nil
	case bytes.HasPrefix(head, []byte("BZh")):
		return nil, false, fmt.Errorf("archive: %w: it is bzip2-compressed", ErrFormat)
	case bytes.HasPrefix(head, []byte("\xfd7zXZ\x00")):
		return nil, false, fmt.Errorf("archive: %w: it is xz-compressed", ErrFormat)
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, false, fmt.Errorf("archive: %w: it is zstd-compressed", ErrFormat)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return nil, false, fmt.Errorf("archive: %w: it is a zip archive", ErrFormat)
	}
	return br, false, nil
}

// emptyError is the error of an archive without entries.
func emptyError(n int64, compressed bool) error {
	if n == 0 {
		if compressed {
			return fmt.Errorf("archive: %w: the gzip stream holds nothing", ErrFormat)
		}
		return fmt.Errorf("archive: %w: the input is empty", ErrFormat)
	}
	return fmt.Errorf("archive: %w: the archive holds no entries", ErrFormat)
}

// headerError describes a failure to read the header after entry last (the entries-th).
func headerError(err error, entries int, last string, compressed bool, n int64) error {
	var gz string
	if compressed {
		gz = "gzip-compressed "
	}
	if entries == 0 {
		if errors.Is(err, tar.ErrHeader) || (!compressed && errors.Is(err, io.ErrUnexpectedEOF)) {
			return fmt.Errorf("archive: %w: its first %d bytes are not a %star header", ErrFormat, min(n, 512), gz)
		}
		return fmt.Errorf("archive: %w: reading the first entry: %v", ErrCorrupt, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("archive: %w: it ends early, after entry %q", ErrCorrupt, last)
	}
	return fmt.Errorf("archive: %w: reading the entry after %q: %v", ErrCorrupt, last, err)
}

// extractor writes the entries of one archive beneath root.
type extractor struct {
	root *os.Root
	lim  Limits
	st   Stats
	kind map[string]bool // cleaned name -> is a directory, for every name written or implied
	buf  []byte
}

// entry checks and writes one entry whose data tr holds.
func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeGNUSparse || hasSparseRecords(hdr) {
		return fmt.Errorf("%w: it is a sparse file", ErrSpecial)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		if name == "." {
			return fmt.Errorf("%w: a file cannot be the destination directory itself", ErrUnsafePath)
		}
		return x.file(name, hdr.Size, tr)
	case tar.TypeDir:
		if name == "." {
			return nil
		}
		return x.dir(name)
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeSymlink:
		return fmt.Errorf("%w: it is a symbolic link to %q", ErrLink, hdr.Linkname)
	case tar.TypeLink:
		return fmt.Errorf("%w: it is a hard link to %q", ErrLink, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("%w: it is a device", ErrSpecial)
	case tar.TypeFifo:
		return fmt.Errorf("%w: it is a FIFO", ErrSpecial)
	}
	return fmt.Errorf("%w: its type is %q", ErrSpecial, hdr.Typeflag)
}

// hasSparseRecords reports whether hdr carries GNU sparse-file PAX records.
func hasSparseRecords(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanName returns the slash-separated cleaned form of an entry name ("." for the destination
// itself), refusing names that are absolute or leave the destination. Backslashes count as
// separators, so that `..\x` is refused too.
func cleanName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", errors.New("the entry has no name")
	case len(raw) > maxNameLen:
		return "", fmt.Errorf("its name is %d bytes long, more than %d", len(raw), maxNameLen)
	case strings.ContainsRune(raw, 0):
		return "", errors.New("its name holds a NUL byte")
	}
	s := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(s, "/") || (len(s) >= 2 && s[1] == ':' && isLetter(s[0])) {
		return "", fmt.Errorf("%w: it is absolute", ErrUnsafePath)
	}
	c := path.Clean(s)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: it leaves the destination directory", ErrUnsafePath)
	}
	return c, nil
}

func isLetter(b byte) bool { return 'a' <= b|0x20 && b|0x20 <= 'z' }

// dir creates directory name (and its parents).
func (x *extractor) dir(name string) error {
	if isDir, seen := x.kind[name]; seen {
		if isDir {
			return nil
		}
		return fmt.Errorf("%w: a file of that name came earlier", ErrDuplicate)
	}
	return x.mkdirAll(name)
}

// mkdirAll creates name and the parents not yet created, counting each.
func (x *extractor) mkdirAll(name string) error {
	var missing []string
	for p := name; p != "."; p = path.Dir(p) {
		isDir, seen := x.kind[p]
		if seen && isDir {
			break
		}
		if seen {
			return fmt.Errorf("%w: %q came earlier as a file", ErrDuplicate, p)
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil
	}
	if err := x.root.MkdirAll(filepath.FromSlash(name), 0o755); err != nil {
		return err
	}
	for _, p := range missing {
		x.kind[p] = true
		x.st.Dirs++
	}
	return nil
}

// file writes the regular file name of size bytes from tr.
func (x *extractor) file(name string, size int64, tr io.Reader) error {
	if isDir, seen := x.kind[name]; seen {
		if isDir {
			return fmt.Errorf("%w: a directory of that name came earlier", ErrDuplicate)
		}
		return fmt.Errorf("%w: a file of that name came earlier", ErrDuplicate)
	}
	if left := x.lim.MaxBytes - x.st.Bytes; size > left {
		return fmt.Errorf("%w: it is %d bytes, and only %d of the %d-byte limit are left", ErrLimit, size, left, x.lim.MaxBytes)
	}
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	f, err := x.root.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	x.kind[name] = false
	x.st.Files++
	// The tar reader yields exactly size bytes, or fails; the limit is a second guard.
	src := &errorReader{r: io.LimitReader(tr, size)}
	n, err := io.CopyBuffer(writerOnly{f}, src, x.buf)
	x.st.Bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(src.err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: it ends early, after %d of the entry's %d bytes", ErrCorrupt, n, size)
	case src.err != nil:
		return fmt.Errorf("%w: after %d of the entry's %d bytes: %v", ErrCorrupt, n, size, src.err)
	case err != nil:
		return err
	case n != size:
		return fmt.Errorf("%w: %d of its %d bytes", ErrCorrupt, n, size)
	}
	return nil
}

// errorReader keeps the first error other than io.EOF that its reader returns, to tell a
// damaged archive from a failing disk.
type errorReader struct {
	r   io.Reader
	err error
}

func (e *errorReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// writerOnly hides a file's ReadFrom, so that io.CopyBuffer uses the extractor's buffer.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
