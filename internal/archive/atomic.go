package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/semprox/semprox/internal/atomicfile"
)

// ExtractAtomic extracts r as [Extract] does into a new directory dest, which must not exist:
// into a temporary directory dest + ".tmp-*" beside it (its parent is created if need be),
// flushed to disk and renamed to dest only once the whole archive is extracted. On any error
// the temporary directory is removed and dest does not appear, so a refused or truncated archive
// leaves nothing behind. A crash during extraction may leave a dest + ".tmp-*" directory, never
// a partial dest.
func ExtractAtomic(r io.Reader, dest string, lim Limits) (Stats, error) {
	return extractAtomic(r, dest, "", lim)
}

// ExtractAtomicDir is [ExtractAtomic] for an archive that unpacks to one directory, top (a
// slash-separated path within the archive, as "CUB_200_2011"): dest becomes that directory, and
// whatever else the archive holds is extracted and checked like the rest but then removed. An
// archive without a directory top is an error listing what its top level holds.
func ExtractAtomicDir(r io.Reader, dest, top string, lim Limits) (Stats, error) {
	clean, err := cleanName(top)
	if err != nil || clean == "." {
		return Stats{}, fmt.Errorf("archive: %q is not a directory within an archive", top)
	}
	return extractAtomic(r, dest, clean, lim)
}

func extractAtomic(r io.Reader, dest, top string, lim Limits) (st Stats, err error) {
	dest = filepath.Clean(dest)
	if _, err := os.Lstat(dest); err == nil {
		return Stats{}, fmt.Errorf("archive: %s already exists", dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Stats{}, fmt.Errorf("archive: %w", err)
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Stats{}, fmt.Errorf("archive: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dest)+".tmp-*")
	if err != nil {
		return Stats{}, fmt.Errorf("archive: %w", err)
	}
	defer func() {
		// On success with top, tmp holds what the archive had beside top.
		if err != nil || top != "" {
			if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
				err = fmt.Errorf("archive: extracted to %s, but removing the rest of the archive: %w", dest, rerr)
			}
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Stats{}, fmt.Errorf("archive: %w", err)
	}
	if st, err = Extract(r, tmp, lim); err != nil {
		return st, err
	}
	src := tmp
	if top != "" {
		src = filepath.Join(tmp, filepath.FromSlash(top))
		if fi, err := os.Lstat(src); err != nil || !fi.IsDir() {
			return st, fmt.Errorf("archive: %w: it has no directory %q (its top level holds %s)", ErrFormat, top, topLevel(tmp))
		}
	}
	if err := syncTree(src); err != nil {
		return st, fmt.Errorf("archive: flushing %s to disk: %w", src, err)
	}
	if err := os.Rename(src, dest); err != nil {
		return st, fmt.Errorf("archive: %w", err)
	}
	atomicfile.SyncDir(parent)
	return st, nil
}

// topLevel lists up to ten names of dir, for an error message.
func topLevel(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return "nothing"
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, fmt.Sprintf("%q", n))
	}
	slices.Sort(names)
	if len(names) > 10 {
		names = append(names[:10], fmt.Sprintf("and %d more", len(names)-10))
	}
	return strings.Join(names, ", ")
}
