//go:build unix

package vision

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadWithin runs Load(path) and fails t if it takes over 5 s (on a named pipe, os.Open
// would wait for a writer forever).
func loadWithin(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(path)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("Load(%s) still blocked after 5 s", path)
		return nil
	}
}

// Named pipes, directories and devices are refused, without blocking, naming the file; a link
// to an image loads.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "f.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no named pipes here:", err)
	}
	sub := filepath.Join(dir, "d.png")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "a named pipe", sub: "a directory", os.DevNull: "a device"} {
		err := loadWithin(t, path)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), path+": not a regular file: "+kind) {
			t.Errorf("Load(%s): %v, want not a regular file: %s", path, err, kind)
		}
	}
	link := filepath.Join(dir, "link.png")
	src, _ := filepath.Abs(filepath.Join("testdata", "src.png"))
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	if err := loadWithin(t, link); err != nil {
		t.Errorf("Load of a link to an image: %v", err)
	}
}
