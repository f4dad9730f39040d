// Command embed writes the embedding of every image in a directory: the final-norm class token
// of a timm or DINO Vision Transformer, or the embedding of a model trained by cmd/train
// (-run), as a float32 .npy [N, D], with the image names (sorted by file name, one per line) in
// a text file beside it.
//
//	go run ./cmd/embed -weights vit_small.safetensors -images photos/ -out emb.npy
//	go run ./cmd/embed -run runs/cub200-vptsp-g-20261206 -images photos/ -out emb.npy
//
// The images are the regular files of the directory, or links to them, named *.jpg, *.jpeg,
// *.png or *.gif in any case; other entries are skipped, and those with an image's name (a
// directory, a named pipe, a device) are named on standard error. The names file holds one
// name a line, in UTF-8, so a name that is not valid UTF-8 or that holds a control character
// (a newline, a carriage return, a tab...) or a Unicode line or paragraph separator stops the
// run with an error quoting it: rename the file. So does an unreadable image, or one larger
// than vision.MaxPixels (declared in its header, or once resized): the error names the file.
// The outputs are written atomically, and must not be -weights, -run, -images or one of the
// images.
// Every flag is checked against what the model and the machine allow; -batch is capped at the
// number of images.
package main

import (
	"context"
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

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/embedder"
	"github.com/semprox/semprox/internal/atomicfile"
	"github.com/semprox/semprox/internal/sysmem"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/tensor"
)

// usage heads the -h text.
const usage = `Usage: embed (-weights CHECKPOINT | -run RUN) -images DIR [-out emb.npy] [flags]

Writes the final-norm class token of a ViT checkpoint, or the embedding of a model cmd/train
trained (-run: its run directory or checkpoint), of every image of DIR (the regular files named *.jpg, *.jpeg,
*.png or *.gif, sorted by name) to -out as float32 [N, D], and their names, one a line in UTF-8,
to the same path with .names.txt. A name that is not valid UTF-8 or holds a control character
(newline, carriage return, tab...) or a Unicode line separator stops the run, as does an
unreadable image or one over vision.MaxPixels pixels (declared, or resized); the error names
it. -out and its names file must not be -weights, -run, -images or one of the images.

Flags:
`

type options struct {
	embedder.Options
	images, out    string
	batch, threads int
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
	if err := o.check(); err != nil {
		return err
	}
	runtime.GOMAXPROCS(o.threads)
	kernels.SetThreads(o.threads)
	names, err := listImages(o.images)
	if err != nil {
		return err
	}
	if err := checkOutputs(o, names); err != nil {
		return err
	}
	e, err := embedder.Load(context.Background(), o.Options, os.Stderr)
	if err != nil {
		return err
	}
	o.Options = e.Options
	tr := e.Preprocess
	fmt.Fprintf(os.Stderr, "embed: %s\nembed: mean %v, std %v, %s resize to %d, crop %d, %s weights\n",
		e.Description, o.Mean, o.Std, tr.Interp, tr.Resize, tr.Crop, e.Precision)
	o.batch = min(o.batch, len(names))
	if err := checkBatch(e.ViT.Config, o.batch, sysmem.Total()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "embed: %d images\n", len(names))
	emb, err := embedAll(e, o, names)
	if err != nil {
		return err
	}
	if err := tensor.WriteNPY(o.out, emb); err != nil {
		return err
	}
	namesPath := namesFile(o.out)
	if err := atomicfile.WriteFile(namesPath, []byte(strings.Join(names, "\n")+"\n")); err != nil {
		return fmt.Errorf("%s: %w", namesPath, err)
	}
	fmt.Fprintf(os.Stderr, "embed: wrote %s [%d, %d] and %s\n", o.out, emb.Dim(0), emb.Dim(1), namesPath)
	return nil
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("embed", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var o options
	o.Register(fs)
	fs.StringVar(&o.images, "images", "", "directory of JPEG/PNG/GIF images (regular files, or links to them)")
	fs.StringVar(&o.out, "out", "emb.npy", "output .npy file; the image names go to the same name with .names.txt")
	fs.IntVar(&o.batch, "batch", 32, "images per forward pass (at most the number of images; refused if its activations would not fit in the machine's memory)")
	fs.IntVar(&o.threads, "threads", 0, fmt.Sprintf("worker threads (0: one per core; at most %d)", kernels.MaxThreads))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: every input is a flag", fs.Arg(0))
	}
	o.Parsed(fs)
	if o.threads == 0 {
		o.threads = runtime.NumCPU()
	}
	return o, nil
}

// check validates the flags of the command itself; embedder.Load checks the others.
func (o options) check() error {
	switch {
	case o.images == "":
		return errors.New("-images is required")
	case o.batch < 1:
		return fmt.Errorf("-batch %d: want at least 1", o.batch)
	}
	return kernels.CheckThreads("-threads", o.threads)
}

var imageExts = []string{".jpg", ".jpeg", ".png", ".gif"}

// listImages returns the names of the image files of dir, sorted, and reports what it skipped.
// Entries named like images that are not regular files (or links to them) are skipped by name;
// a name that cannot be one line of the names file is an error.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	other := 0
	for _, e := range entries {
		if !slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
			other++
			continue
		}
		path := filepath.Join(dir, e.Name())
		regular, err := isRegular(path, e)
		if err != nil {
			return nil, err
		}
		if !regular {
			fmt.Fprintf(os.Stderr, "embed: skipping %q: not a regular file\n", path)
			continue
		}
		if err := embedder.CheckName(e.Name()); err != nil {
			return nil, fmt.Errorf("%q in %s: %w; rename it", e.Name(), dir, err)
		}
		names = append(names, e.Name())
	}
	if other > 0 {
		fmt.Fprintf(os.Stderr, "embed: skipping %d entries of %s that are not %s files\n", other, dir, strings.Join(imageExts, "/"))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no images", dir)
	}
	slices.Sort(names)
	return names, nil
}

// isRegular reports whether the entry e at path is a regular file or a link to one; it never
// opens it. A link that cannot be followed is an error naming it.
func isRegular(path string, e os.DirEntry) (bool, error) {
	if e.Type()&os.ModeSymlink == 0 {
		return e.Type().IsRegular(), nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return st.Mode().IsRegular(), nil
}

// checkOutputs refuses an -out, or its names file, that is one of the inputs: -weights,
// -images or one of its images. Paths are compared cleaned and absolute, and existing files
// with os.SameFile, which sees through links.
func checkOutputs(o options, names []string) error {
	for _, out := range []string{o.out, namesFile(o.out)} {
		for _, in := range []string{o.Weights, o.Run, o.images} {
			if in == "" {
				continue
			}
			if sameFile(out, in) {
				return fmt.Errorf("-out %s: writing %s would replace the input %s", o.out, out, in)
			}
		}
		if sameFile(filepath.Dir(out), o.images) && slices.Contains(names, filepath.Base(out)) {
			return fmt.Errorf("-out %s: writing %s would replace an image of -images %s", o.out, out, o.images)
		}
	}
	return nil
}

// sameFile reports whether paths a and b are the same once cleaned and made absolute, or name
// the same existing file.
func sameFile(a, b string) bool {
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	if errA == nil && errB == nil && absA == absB {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// embedAll runs the images through the model batch by batch, decoding each batch on all
// threads, and returns the embeddings [N, D]. An image that cannot be read is an error naming it.
func embedAll(e *embedder.Embedder, o options, names []string) (*tensor.Tensor, error) {
	tr := e.Preprocess
	start, lo := time.Now(), 0
	next := func() (*tensor.Tensor, []int, error) {
		if lo > 0 {
			fmt.Fprintf(os.Stderr, "\rembed: %d/%d images, %.1f img/s", lo, len(names), float64(lo)/time.Since(start).Seconds())
		}
		if lo == len(names) {
			return nil, nil, nil
		}
		hi := min(lo+o.batch, len(names))
		batch := tensor.New(hi-lo, 3, tr.Crop, tr.Crop)
		var g errgroup.Group
		g.SetLimit(o.threads)
		for i := lo; i < hi; i++ {
			row := batch.Row(i - lo).Data()
			g.Go(func() error { return tr.ApplyFile(row, filepath.Join(o.images, names[i])) })
		}
		lo = hi
		return batch, nil, g.Wait()
	}
	out, _, err := dml.EmbedBatches(len(names), next, e.Forward)
	fmt.Fprintln(os.Stderr)
	return out, err
}

// namesFile is where the names of the embedded images go: emb.npy -> emb.names.txt.
func namesFile(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".names.txt"
}
