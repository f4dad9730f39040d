package dml_test

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/semprox/semprox/dml"
)

// Train fine-tunes the embedded backbone with VPTSP-G on a folder of classes (here eight classes of
// generated 28x28 stripes: the first four train, the others test retrieval) and returns the
// evaluation of every epoch.
func ExampleTrain() {
	root, err := os.MkdirTemp("", "semprox-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	if err := writeStripes(root, 8, 8); err != nil {
		log.Fatal(err)
	}

	cfg := dml.NewRunConfig("folder", dml.Presets[dml.DefaultPreset])
	cfg.Data, cfg.Out = root, filepath.Join(root, "run")
	cfg.Epochs, cfg.StepLimit, cfg.Batch, cfg.K = 1, 2, 8, 2
	res, err := dml.Train(context.Background(), cfg, dml.Options{}) // Output and Progress: io.Writers, nil discards
	if err != nil {
		log.Fatal(err)
	}
	last := res.History[len(res.History)-1]
	fmt.Printf("%d epoch, %d steps, evaluated on R@%v: %v\n", len(res.History), last.Steps, last.Eval.Ks, last.Eval.Recall[0] >= 0)
	// Output: 1 epoch, 2 steps, evaluated on R@[1 2 4 8]: true
}

// writeStripes writes classes directories of n gray 28x28 PNGs each: class c has stripes c+2
// pixels apart, shifted by the image's index.
func writeStripes(root string, classes, n int) error {
	for c := range classes {
		dir := filepath.Join(root, fmt.Sprintf("class%d", c))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for i := range n {
			img := image.NewGray(image.Rect(0, 0, 28, 28))
			for y := range 28 {
				for x := range 28 {
					if (x+i)%(c+2) == 0 {
						img.SetGray(x, y, color.Gray{Y: 255})
					}
				}
			}
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.png", i)))
			if err != nil {
				return err
			}
			err = png.Encode(f, img)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// The call of the README: a folder of classes, the embedded backbone's preset, the progress on
// stderr. (Compiled, not run: the folder is the reader's.)
func ExampleTrain_folder() {
	ctx := context.Background()
	cfg := dml.NewRunConfig("folder", dml.Presets[dml.DefaultPreset]) // the embedded backbone's preset
	cfg.Data, cfg.Out = "/data/my-classes", "runs/mine"               // root/<class>/<image>.png
	res, err := dml.Train(ctx, cfg, dml.Options{Output: os.Stdout, Progress: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.History[len(res.History)-1].Eval.Recall)
}
