// Package atomicfile writes files so that a reader, or the file system after a crash, sees
// either the old file or the whole new one, never a part: through a temporary file in the same
// directory, synced and renamed into place.
package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes path through write so that a reader, or the file system after a crash,
// sees either the old file or the complete new one, never a partial one: into a temporary file in the same directory, buffered,
// synced, made readable (0644), then renamed over path, and the directory synced (best
// effort). On any failure the temporary file is removed and path is left as it was.
func Write(path string, write func(w io.Writer) error) error {
	return writeAtomic(path, "", write)
}

// WriteKeeping is Write that keeps the file it replaces as previous: once the new
// file is complete and synced, an existing path is renamed to previous (replacing what was
// there), then the new file to path. So path always holds a complete file, the old or the new
// one, except between the two renames, when previous holds the old one.
func WriteKeeping(path, previous string, write func(w io.Writer) error) error {
	return writeAtomic(path, previous, write)
}

func writeAtomic(path, previous string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err = write(w); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	closed = true
	if err = f.Close(); err != nil {
		return err
	}
	if previous != "" {
		if err = os.Rename(path, previous); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// WriteFile writes b to path as Write does.
func WriteFile(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// SyncDir flushes a directory's entries to disk (a rename or a new file in it). It is best
// effort: some systems cannot sync a directory.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
