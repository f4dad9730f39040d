//go:build unix

package data

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/semprox/semprox/nn/vision"
)

// A named pipe among the images is skipped as unreadable, without blocking a worker.
func TestLoaderSkipsNamedPipe(t *testing.T) {
	root := t.TempDir()
	makeFolder(t, root, []string{"a", "b"}, 2, "")
	if err := syscall.Mkfifo(filepath.Join(root, "a", "f.png"), 0o644); err != nil {
		t.Skip("no named pipes here:", err)
	}
	ds, err := ReadFolder(root, 2)
	if err != nil {
		t.Fatal(err)
	}
	sp := ds.Split("train")
	l := NewLoader(LoaderConfig{Split: sp, Transform: NewTrain(8, vision.Bilinear), Workers: 2})
	got := make(chan *Batch, 1)
	go func() {
		b, _ := l.Stream(0, Sequential{N: len(sp.Samples), BatchSize: len(sp.Samples)}.Batches(0)).Next()
		got <- b
	}()
	select {
	case b := <-got:
		if b == nil || b.Images.Dim(0) != len(sp.Samples) {
			t.Errorf("batch %v, want %d rows", b, len(sp.Samples))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the loader is still blocked after 5 s") // and would block Close
	}
	l.Close()
	named := l.Skips().Named()
	if len(named) != 1 || filepath.Base(named[0].Path) != "f.png" || !errors.Is(named[0].Err, vision.ErrNotRegular) ||
		named[0].Err.Error() != "not a regular file: a named pipe" {
		t.Errorf("skips: %v", l.Skips())
	}
}
