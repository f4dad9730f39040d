// Package imagetest writes generated images for tests: random pictures, and folders of classes
// that dml/data reads as a dataset.
package imagetest

import (
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// WritePNG writes a w x h PNG of random colours drawn from rng to path.
func WritePNG(path string, w, h int, rng *rand.Rand) error {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = png.Encode(f, img)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteFolder writes root/classC/I.png, n random PNGs of 28 to 40 pixels a side for each of
// classes classes: the folder layout dml/data reads (its first half of classes train).
func WriteFolder(root string, classes, n int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	for c := range classes {
		dir := filepath.Join(root, fmt.Sprintf("class%d", c))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for i := range n {
			if err := WritePNG(filepath.Join(dir, fmt.Sprintf("%d.png", i)), 28+rng.IntN(13), 28+rng.IntN(13), rng); err != nil {
				return err
			}
		}
	}
	return nil
}
