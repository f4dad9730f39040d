// Command pretrain trains a small Vision Transformer from scratch by supervised classification
// on every class of an IDX dataset (Fashion-MNIST by default, read from the files the Debian
// package dataset-fashion-mnist installs) and writes the backbone, without its classifier
// head, as a checkpoint pair (name.safetensors with timm parameter names, name.json with the
// configuration and the run's record). The default output is the backbone package
// nn/pretrained embeds, which the defaults reproduce:
//
//	go run ./cmd/pretrain
//
// The model is nn.ViT of -arch; its final-norm class token goes through a linear classifier
// and the softmax cross-entropy. Every weight is trained with AdamW: a linear warm-up over the
// first epoch, then cosine annealing per epoch. Images (gray, replicated to RGB) are normalised
// with mean = std = 0.5; training batches get a random resized crop (scale 0.6-1, ratio
// 0.8-1.25) and a horizontal flip. Progress goes to stderr: a line about every 10 s and the
// test accuracy (t10k files) after each epoch. For a seed and thread count the run is
// deterministic.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/weights"
)

// DefaultOut is the checkpoint package nn/pretrained embeds, relative to the repository root.
const DefaultOut = "nn/pretrained/fashion_mnist_vit.safetensors"

// options are the command's flags.
type options struct {
	data, arch, out string
	precision       string            // the flag
	evalPrecision   kernels.Precision // what it resolved to
	precisionNote   string            // ChoosePrecision's warning about it, if any
	epochs, batch   int
	lr, wd          float64
	seed            uint64
	threads, limit  int
	logEvery        time.Duration
	cfg             nn.Config
	commandLine     string
}

func main() {
	err := run(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage has been printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pretrain:", err)
		os.Exit(1)
	}
}

// run parses args, trains and writes the checkpoint, logging to log.
func run(args []string, log io.Writer) error {
	o, err := parseFlags(args, log)
	if err != nil {
		return err
	}
	if o.threads > 0 {
		runtime.GOMAXPROCS(o.threads)
		kernels.SetThreads(o.threads)
	}
	train, test, err := readSplits(o.data, o.limit)
	if err != nil {
		return err
	}
	if o.precisionNote != "" {
		fmt.Fprintf(log, "pretrain: notice: -precision %s: %s\n", o.evalPrecision, o.precisionNote)
	}
	fmt.Fprintf(log, "pretrain: %s, %d training and %d test images, %s (D=%d depth=%d heads=%d patch=%d), %d threads, tests in %s\n",
		o.data, len(train.Samples), len(test.Samples), o.arch, o.cfg.Dim, o.cfg.Depth, o.cfg.Heads, o.cfg.PatchSize, kernels.Threads(), o.evalPrecision)
	start := time.Now()
	m := newModel(o.cfg, classes, o.seed)
	acc, err := fit(m, train, test, o, log)
	if err != nil {
		return err
	}
	meta := newMeta(o, len(train.Samples), acc, time.Since(start), kernels.Threads())
	if err := weights.Save(o.out, m.backboneTensors(), meta); err != nil {
		return err
	}
	fmt.Fprintf(log, "pretrain: test accuracy %.4f after %s; wrote %s and %s\n",
		acc, time.Since(start).Round(time.Second), o.out, weights.MetaPath(o.out))
	return nil
}

// parseFlags reads the flags; usage goes to log.
func parseFlags(args []string, log io.Writer) (options, error) {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	fs.SetOutput(log)
	var o options
	fs.StringVar(&o.data, "data", data.FashionMNISTDir, "directory of the IDX files (train-* and t10k-* images and labels, gzip or raw)")
	fs.StringVar(&o.arch, "arch", "vit_micro_patch4_28", "ViT configuration (a name of nn.Configs)")
	fs.IntVar(&o.epochs, "epochs", 12, "passes over the training images (the first one warms the learning rate up)")
	fs.IntVar(&o.batch, "batch", 128, "images per step")
	fs.Float64Var(&o.lr, "lr", 1e-3, "AdamW peak learning rate")
	fs.Float64Var(&o.wd, "wd", 0.05, "AdamW weight decay of the weight matrices (none on biases, norms, class token and position embedding)")
	fs.Uint64Var(&o.seed, "seed", 0, "seed of the initialisation, the shuffling and the augmentation")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0: all cores)")
	fs.StringVar(&o.precision, "precision", kernels.AutoPrecision, "what the weights and attention multiply in during the test passes (training is always fp32): fp32, bf16 (8-bit mantissas, float32 sums; AVX512_BF16), or auto: bf16 where the CPU has AVX512_BF16")
	fs.StringVar(&o.out, "out", DefaultOut, "output checkpoint (.safetensors; the metadata goes beside it as .json)")
	fs.IntVar(&o.limit, "limit", 0, "use only the first N training images (0: all)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.logEvery = 10 * time.Second
	o.commandLine = commandLine(args)
	return o, o.check()
}

// check validates the options and resolves the configuration.
func (o *options) check() error {
	switch {
	case o.epochs < 1:
		return fmt.Errorf("-epochs %d: want at least 1", o.epochs)
	case o.batch < 1:
		return fmt.Errorf("-batch %d: want at least 1", o.batch)
	case !(o.lr > 0) || math.IsInf(o.lr, 0):
		return fmt.Errorf("-lr %g: want a finite value > 0", o.lr)
	case !(o.wd >= 0) || math.IsInf(o.wd, 0):
		return fmt.Errorf("-wd %g: want a finite value >= 0", o.wd)
	case o.limit < 0:
		return fmt.Errorf("-limit %d: want >= 0", o.limit)
	case o.out == "":
		return errors.New("-out is empty")
	}
	if err := kernels.CheckThreads("-threads", o.threads); err != nil {
		return err
	}
	var err error
	if o.evalPrecision, o.precisionNote, err = kernels.ChoosePrecision(o.precision); err != nil {
		return fmt.Errorf("-precision: %w", err)
	}
	cfg, err := nn.ConfigNamed(o.arch)
	if err != nil {
		return fmt.Errorf("-arch: %w", err)
	}
	o.cfg = cfg
	if dir := filepath.Dir(o.out); dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("-out %s: directory %s does not exist", o.out, dir)
		}
	}
	return nil
}

// commandLine is the command that reproduces the run, arguments quoted where needed.
func commandLine(args []string) string {
	parts := []string{"go run ./cmd/pretrain"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
