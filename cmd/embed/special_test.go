//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A named pipe called like an image is skipped (and named on standard error) without
// blocking the run.
func TestEmbedSkipsNamedPipe(t *testing.T) {
	dir := imageDir(t, map[string][]byte{})
	if err := syscall.Mkfifo(filepath.Join(dir, "f.png"), 0o644); err != nil {
		t.Skip("no named pipes here:", err)
	}
	done := make(chan error, 1)
	go func() { done <- embedTiny(dir) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running after 10 s: blocked on the named pipe")
	}
	names, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "emb.names.txt"))
	if err != nil || string(names) != "000.png\n" {
		t.Errorf("names file %q, %v", names, err)
	}
}
