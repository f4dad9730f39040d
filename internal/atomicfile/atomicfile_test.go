package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFailure checks that a failing write leaves neither a partial file nor a
// temporary one, and keeps the previous file intact.
func TestWriteFailure(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	boom := errors.New("disk full")
	fail := func(w io.Writer) error {
		w.Write(make([]byte, 3<<20)) // more than the buffer, so some reaches the file
		return boom
	}
	if err := Write(p, fail); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a failed write left %v", entries)
	}
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "old"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, fail); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("previous file now holds %d bytes", len(b))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(entries))
	}
}

// TestWriteKeeping keeps the replaced file as the previous one, and a failed write changes
// neither.
func TestWriteKeeping(t *testing.T) {
	dir := t.TempDir()
	p, prev := filepath.Join(dir, "f"), filepath.Join(dir, "f.prev")
	put := func(s string) error {
		return WriteKeeping(p, prev, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
	}
	read := func(f string) string { b, _ := os.ReadFile(f); return string(b) }
	if err := put("one"); err != nil || read(p) != "one" {
		t.Fatalf("first write: %v, %q", err, read(p))
	}
	if _, err := os.Stat(prev); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a first write made %s: %v", prev, err)
	}
	for _, s := range []string{"two", "three"} {
		old := read(p)
		if err := put(s); err != nil || read(p) != s || read(prev) != old {
			t.Fatalf("writing %q: %v; file %q, previous %q", s, err, read(p), read(prev))
		}
	}
	boom := errors.New("disk full")
	if err := WriteKeeping(p, prev, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if read(p) != "three" || read(prev) != "two" {
		t.Errorf("a failed write changed the files: %q, %q", read(p), read(prev))
	}
}
