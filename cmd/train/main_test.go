package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dry run reads a dataset and prints its splits; a bad layout names the file at fault.
func TestDryRun(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-dataset", "mnist", "-dry-run"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dataset mnist", "train", "test", "skipped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "images.txt"), []byte("1 a/x.jpg\nnot a line\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "image_class_labels.txt"), []byte("1 1\n2 1\n"), 0o644)
	err := run([]string{"-dataset", "cub", "-data", dir, "-dry-run"}, &out)
	if err == nil || !strings.Contains(err.Error(), "images.txt") {
		t.Errorf("bad CUB layout: error %v, want one naming images.txt", err)
	}
	if err := run([]string{"-dataset", "nope", "-dry-run"}, &out); err == nil {
		t.Error("unknown dataset accepted")
	}
	if err := run([]string{"-dataset", "mnist"}, &out); err == nil || !strings.Contains(err.Error(), "-dry-run") {
		t.Errorf("training without -dry-run: %v", err)
	}
}
