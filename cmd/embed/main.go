// Command embed writes the embedding of every image in a directory: the final-norm class token
// of a timm or DINO Vision Transformer, as a float32 .npy [N, D], with the image names (sorted
// by file name, one per line) in a text file beside it.
//
//	go run ./cmd/embed -weights vit_small.safetensors -images photos/ -out emb.npy
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/tensor"
)

type options struct {
	weights, images, out, arch, interp string
	mean, std                          vision.Channels
	heads, resize, crop, batch         int
	threads                            int
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(o.threads)
	kernels.SetThreads(o.threads)
	names, err := listImages(o.images)
	if err != nil {
		return err
	}
	model, err := loadModel(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "embed: %d images, ViT D=%d depth=%d heads=%d patch=%d, input %dx%d\n",
		len(names), model.Dim, model.Depth, model.Heads, model.PatchSize, o.crop, o.crop)
	emb, err := embedAll(model, o, names)
	if err != nil {
		return err
	}
	if err := tensor.WriteNPY(o.out, emb); err != nil {
		return err
	}
	namesPath := namesFile(o.out)
	if err := os.WriteFile(namesPath, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "embed: wrote %s [%d, %d] and %s\n", o.out, emb.Dim(0), emb.Dim(1), namesPath)
	return nil
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.weights, "weights", "", "timm/DINO ViT checkpoint (.safetensors, .pth or pytorch_model.bin)")
	fs.StringVar(&o.images, "images", "", "directory of JPEG/PNG/GIF images")
	fs.StringVar(&o.out, "out", "emb.npy", "output .npy file; the image names go to the same name with .names.txt")
	fs.StringVar(&o.arch, "arch", "", "ViT configuration (vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224); default: inferred from the checkpoint")
	fs.IntVar(&o.heads, "heads", 0, "attention heads when inferring the architecture (default: width/64)")
	o.mean, o.std = vision.Channels{0.5, 0.5, 0.5}, vision.Channels{0.5, 0.5, 0.5}
	fs.Var(&o.mean, "mean", "per-channel mean of the normalisation (ImageNet's is 0.485,0.456,0.406)")
	fs.Var(&o.std, "std", "per-channel standard deviation (ImageNet's is 0.229,0.224,0.225)")
	fs.IntVar(&o.resize, "resize", 256, "resize the shorter side to this many pixels")
	fs.IntVar(&o.crop, "crop", 224, "center crop of this size (the model's input size)")
	fs.StringVar(&o.interp, "interp", "bicubic", "resize interpolation: bicubic or bilinear")
	fs.IntVar(&o.batch, "batch", 32, "images per forward pass")
	fs.IntVar(&o.threads, "threads", runtime.NumCPU(), "worker threads")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	switch {
	case o.weights == "":
		err = errors.New("-weights is required")
	case o.images == "":
		err = errors.New("-images is required")
	case o.batch < 1 || o.threads < 1 || o.crop < 1 || o.resize < o.crop:
		err = fmt.Errorf("-batch %d, -threads %d, -crop %d, -resize %d: want positive sizes and resize >= crop", o.batch, o.threads, o.crop, o.resize)
	}
	if err == nil {
		err = o.std.Positive("-std")
	}
	return o, err
}

var imageExts = []string{".jpg", ".jpeg", ".png", ".gif"}

// listImages returns the image files of dir, sorted by name, and reports what it skipped.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	skipped := 0
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
			names = append(names, e.Name())
		} else {
			skipped++
		}
	}
	if skipped > 0 {
		fmt.Fprintf(os.Stderr, "embed: skipping %d entries of %s that are not %s files\n", skipped, dir, strings.Join(imageExts, "/"))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no images", dir)
	}
	slices.Sort(names)
	return names, nil
}

func loadModel(o options) (*nn.ViT, error) {
	var c nn.Config
	if o.arch != "" {
		var err error
		if c, err = nn.ConfigNamed(o.arch); err != nil {
			return nil, err
		}
	}
	ck, err := nn.ReadCheckpoint(o.weights)
	if err != nil {
		return nil, err
	}
	if o.arch == "" {
		if c, err = nn.CheckpointConfig(ck); err != nil {
			return nil, err
		}
		if o.heads > 0 {
			c.Heads = o.heads
		}
	}
	m, err := nn.NewViTFromCheckpoint(ck, c)
	if err != nil {
		return nil, err
	}
	if len(ck.Ignored) > 0 {
		fmt.Fprintf(os.Stderr, "embed: ignored %d classifier-head tensors of %s\n", len(ck.Ignored), o.weights)
	}
	if m.ImageSize != o.crop {
		return nil, fmt.Errorf("-crop %d does not match the model's input size %d", o.crop, m.ImageSize)
	}
	return m, nil
}

// embedAll runs the images through the model batch by batch, decoding each batch on all
// threads, and returns the embeddings [N, D].
func embedAll(m *nn.ViT, o options, names []string) (*tensor.Tensor, error) {
	interp, err := vision.ParseInterpolation(o.interp)
	if err != nil {
		return nil, err
	}
	tr := vision.Eval{Resize: o.resize, Crop: o.crop, Interp: interp, Mean: o.mean, Std: o.std}
	out := tensor.New(len(names), m.Dim)
	tp := autodiff.NewTape()
	tp.SetNoGrad(true)
	start := time.Now()
	for lo := 0; lo < len(names); lo += o.batch {
		hi := min(lo+o.batch, len(names))
		batch := tensor.New(hi-lo, 3, o.crop, o.crop)
		var g errgroup.Group
		g.SetLimit(o.threads)
		for i := lo; i < hi; i++ {
			g.Go(func() error {
				img, err := vision.Load(filepath.Join(o.images, names[i]))
				if err != nil {
					return err
				}
				tr.Apply(batch.Row(i-lo).Data(), img)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		tp.Reset()
		e := m.Embed(tp, autodiff.Constant(batch), nil)
		copy(out.Slice(lo, hi).Data(), e.Value.Data())
		fmt.Fprintf(os.Stderr, "\rembed: %d/%d images, %.1f img/s", hi, len(names), float64(hi)/time.Since(start).Seconds())
	}
	fmt.Fprintln(os.Stderr)
	return out, nil
}

// namesFile is where the names of the embedded images go: emb.npy -> emb.names.txt.
func namesFile(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".names.txt"
}
