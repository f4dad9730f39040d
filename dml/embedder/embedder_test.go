package embedder

import (
	"context"
	"flag"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

const torchref = "../../testdata/torchref"

// tinyOptions are the options that fit the torchref ViT (32x32 input, two heads), parsed from
// flags as a command parses them.
func tinyOptions(t *testing.T, args ...string) Options {
	t.Helper()
	var o Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.Register(fs)
	base := []string{"-weights", filepath.Join(torchref, "vit.safetensors"), "-heads", "2", "-resize", "64", "-crop", "32"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	o.Parsed(fs)
	return o
}

// A row's embedding depends on its image alone: embedded alone, in a batch of another size or at
// another position, it is the same bit for bit, on every SIMD path and in both precisions. The
// Beam pipeline relies on it: its batches are its bundles, not cmd/embed's.
func TestEmbedRowsIndependentOfBatch(t *testing.T) {
	saved := kernels.ActiveSIMD()
	defer kernels.SetSIMD(saved)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 17 // past one 14-row strip of the micro-kernel's tokens
	images := tensor.New(n, 3, 32, 32)
	for i := range images.Data() {
		images.Data()[i] = rng.Float32()*4 - 2
	}
	for s := kernels.BestSIMD(); s >= kernels.Generic; s-- {
		if err := kernels.SetSIMD(s); err != nil {
			t.Fatal(err)
		}
		for _, precision := range []string{"fp32", "bf16"} {
			e, err := Load(context.Background(), tinyOptions(t, "-precision", precision), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			whole := e.Embed(images)
			for _, batch := range []int{1, 3, 16} {
				for lo := 0; lo < n; lo += batch {
					hi := min(lo+batch, n)
					part := tensor.FromSlice(slices.Clone(images.Data()[lo*3*32*32:hi*3*32*32]), hi-lo, 3, 32, 32)
					got := e.Embed(part)
					for i := lo; i < hi; i++ {
						if !slices.Equal(got.Row(i-lo).Data(), whole.Row(i).Data()) {
							t.Fatalf("%s %s: image %d in a batch of %d differs from the batch of %d", s, precision, i, hi-lo, n)
						}
					}
				}
			}
		}
	}
}

// Options as given are checked before any model is read; a hub model's or a run's defaults
// then apply only to the options not given.
func TestLoadErrors(t *testing.T) {
	cases := map[string][]string{
		"-weights or -run is required": {"-weights", ""},
		"not both":                     {"-run", "runs/x"},
		"-precision":                   {"-precision", "int8"},
		"-heads -1":                    {"-heads", "-1"},
		"-crop 48 does not match":      {"-resize", "64", "-crop", "48", "-heads", "2"},
		"-crop 300, -resize 64":        {"-crop", "300"},
		"-mean":                        {"-mean", "2,0,0"},
		"missing.safetensors":          {"-weights", "missing.safetensors"},
	}
	for want, args := range cases {
		_, err := Load(context.Background(), tinyOptions(t, args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one mentioning %q", args, err, want)
		}
	}
	o := tinyOptions(t)
	o.Weights, o.Run, o.Heads = "", "runs/x", 2
	if _, err := Load(context.Background(), o, io.Discard); err == nil || !strings.Contains(err.Error(), "-arch and -heads") {
		t.Errorf("-run with -heads: error %v", err)
	}
}
