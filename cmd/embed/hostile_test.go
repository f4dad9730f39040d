package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/internal/childtest"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/vision"
)

// tinyArgs are the flags that fit the torchref ViT (32x32 input, two heads).
var tinyArgs = []string{"-heads", "2", "-resize", "64", "-crop", "32", "-threads", "2"}

// imageDir returns a directory holding a copy of the torchref image 000.png and the given
// extra files.
func imageDir(t *testing.T, extra map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	img, err := os.ReadFile(filepath.Join(torchref, "images", "000.png"))
	if err != nil {
		t.Fatal(err)
	}
	extra["000.png"] = img
	for name, b := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// embedTiny runs the command on dir with the torchref ViT, writing to dir/../emb.npy.
func embedTiny(dir string, args ...string) error {
	out := filepath.Join(filepath.Dir(dir), "emb.npy")
	base := []string{"-weights", filepath.Join(torchref, "vit.safetensors"), "-images", dir, "-out", out}
	return run(append(append(base, tinyArgs...), args...))
}

// An image bomb among the images stops the run with an error naming it, within 4 GB of
// address space and 5 s: the header bombs as their declared size is read, the tall image
// (1 x 2,000,000) as its resize to a shorter side of 64 would make 64 x 128,000,000.
func TestEmbedRefusesBombs(t *testing.T) {
	for _, f := range []string{"bomb_100000x100000.png", "bomb_65535x65535.gif", "tall_1x2000000.png"} {
		t.Run(f, func(t *testing.T) {
			if !childtest.Child(t) {
				childtest.RunLimited(t, 4<<30, 5*time.Second)
				return
			}
			b, err := os.ReadFile(filepath.Join("..", "..", "nn", "vision", "testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			dir := imageDir(t, map[string][]byte{f: b})
			err = embedTiny(dir)
			if bomb := filepath.Join(dir, f); !errors.Is(err, vision.ErrTooLarge) || !strings.Contains(err.Error(), bomb) {
				t.Fatalf("error %v, want image too large naming %s", err, bomb)
			}
			t.Log(err)
		})
	}
}

// A name that would not be one line of the names file is refused, quoted (a newline made the
// names file two lines for one embedding).
func TestEmbedRefusesLineBreakingNames(t *testing.T) {
	img, err := os.ReadFile(filepath.Join(torchref, "images", "001.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a\nb.png", "c\rd.png", "tab\t.png", "e\u2028f.png", "bad\xff.png"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
			t.Logf("%q: this file system refuses the name: %v", name, err)
			continue
		}
		err := embedTiny(dir)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("%q: error %v, want one quoting the name", name, err)
		}
	}
}

// An -out whose .npy or names file would replace -weights, -images or an image is refused,
// and the input is left as it was.
func TestEmbedRefusesOutputOverInput(t *testing.T) {
	dir := imageDir(t, map[string][]byte{})
	ckpt, err := os.ReadFile(filepath.Join(torchref, "vit.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	top := filepath.Dir(dir)
	weights := filepath.Join(top, "m.names.txt") // the names file of -out m.npy
	if err := os.WriteFile(weights, ckpt, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(top, "link.npy")
	if err := os.Symlink(weights, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		weights,
		filepath.Join(top, ".", "sub", "..", "m.names.txt"),
		filepath.Join(top, "m.npy"),
		link,
		dir,
		filepath.Join(dir, "000.png"),
	} {
		args := append([]string{"-weights", weights, "-images", dir, "-out", out}, tinyArgs...)
		if err := run(args); err == nil || !strings.Contains(err.Error(), "-out "+out+": writing") {
			t.Errorf("-out %s: error %v, want one naming -out", out, err)
		}
	}
	if b, err := os.ReadFile(weights); err != nil || !bytes.Equal(b, ckpt) {
		t.Errorf("the checkpoint changed (%v)", err)
	}
}

// Flags beyond what the model, the images or the machine allow are refused, naming the flag.
func TestEmbedFlagLimits(t *testing.T) {
	dir := imageDir(t, map[string][]byte{})
	for want, args := range map[string][]string{
		"-threads 100000":          {"-threads", "100000"},
		"-threads -1":              {"-threads", "-1"},
		"-batch 0":                 {"-batch", "0"},
		"-resize 100000":           {"-resize", "100000", "-crop", "32"},
		"-crop 300, -resize 256":   {"-crop", "300", "-resize", "256"},
		"-crop 0":                  {"-crop", "0"},
		"flag -mean":               {"-mean", "nan,0.5,0.5"},
		"flag -std":                {"-std", "0.5,inf,0.5"},
		"-mean -0.1,0.5,0.5":       {"-mean", "-0.1,0.5,0.5"},
		"-mean 2,0.5,0.5":          {"-mean", "2,0.5,0.5"},
		"-std 0.5,0,0.5":           {"-std", "0.5,0,0.5"},
		"-interp":                  {"-interp", "cubic"},
		"-heads -1":                {"-heads", "-1"},
		"-heads 3 does not divide": {"-heads", "3"},
		"unexpected argument":      {"extra"},
		"-max-pixels 0":            {"-max-pixels", "0"},
		"over the limit of 1000 pixels (-max-pixels)": {"-max-pixels", "1000"},
	} {
		if err := embedTiny(dir, args...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one mentioning %q", args, err, want)
		}
	}
}

// A batch beyond the images is cut to their number; one whose activations would not fit in the
// machine's memory is refused.
func TestEmbedBatchLimit(t *testing.T) {
	if err := embedTiny(imageDir(t, map[string][]byte{}), "-batch", "100000", "-threads", "0"); err != nil {
		t.Errorf("-batch 100000 with one image: %v", err)
	}
	base, err := nn.ConfigNamed("vit_base_patch16_224")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBatch(base, 100000, 16<<30); err == nil || !strings.Contains(err.Error(), "-batch 100000") {
		t.Errorf("ViT-B/16, -batch 100000, 16 GB: %v", err)
	}
	if err := checkBatch(base, 64, 16<<30); err != nil {
		t.Errorf("ViT-B/16, -batch 64, 16 GB: %v", err)
	}
	if err := checkBatch(base, 100000, 0); err != nil {
		t.Errorf("ViT-B/16, -batch 100000, memory unknown: %v", err)
	}
}
