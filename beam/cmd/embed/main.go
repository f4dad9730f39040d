// Command embed is the embedding pipeline on Apache Beam: it embeds every image of a manifest
// or a glob, on any Beam filesystem, as cmd/embed does (the same flags for the model and its
// preprocessing, the same bits), into sharded .npy files, and lists the images it could not
// read, with the reason, in a rejects file.
//
//	go run ./cmd/embed -weights vit.safetensors -images 'photos/*.jpg' -out emb/part -shards 4
//
// It runs on the in-process Prism runner unless --runner says otherwise (dataflow, flink,
// spark, universal), with the Beam flags those take; see the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"github.com/semprox/semprox/beam/embedpipe"
	"github.com/semprox/semprox/beam/shards"
	"github.com/semprox/semprox/kernels"
)

const usage = `Usage: embed (-manifest FILE | -images GLOB) -out PREFIX (-weights CHECKPOINT | -run DIR) [flags] [Beam flags]

Embeds every image listed in -manifest (one URI a line, optionally a tab and an integer label; a
relative URI is relative to the manifest's directory) or matched by -images (sorted), on any Beam
filesystem, into -shards shards PREFIX-00000-of-0000N.npy (float32 [n, D]) with .names.txt and,
with labels, .labels.txt beside each; the shards in order hold the images in input order. Images
that cannot be read or decoded are written, with the reason, to PREFIX-rejects.jsonl and counted;
they never stop the run. cmd/gather joins the shards into one file for cmd/eval.

Flags:
`

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), usage)
		flag.PrintDefaults()
	}
	var c embedpipe.Config
	c.Model.Register(flag.CommandLine)
	flag.StringVar(&c.Manifest, "manifest", "", "text file of image URIs, one a line, each optionally followed by a tab and an integer label")
	flag.StringVar(&c.Images, "images", "", "glob of image files on a Beam filesystem (photos/*.jpg, gs://bucket/photos/*.jpg)")
	flag.StringVar(&c.Out, "out", "", "prefix of the output shards (local path, gs://, s3://)")
	flag.IntVar(&c.Shards, "shards", 4, "number of output shards")
	flag.IntVar(&c.Batch, "batch", 32, "images per forward pass within a bundle")
	flag.IntVar(&c.Threads, "threads", 0, fmt.Sprintf("kernel threads of each worker (0: one per core; at most %d)", kernels.MaxThreads))
	flag.Parse()
	c.Model.Parsed(flag.CommandLine)
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c embedpipe.Config) error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every input is a flag", flag.Arg(0))
	}
	beam.Init()
	if c.Threads == 0 {
		c.Threads = runtime.NumCPU()
	}
	if err := c.Check(ctx, os.Stderr); err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	embedpipe.Build(s, c)
	if err := beamx.Run(ctx, p); err != nil {
		return err
	}
	return report(ctx, c)
}

// report says what the run wrote and how many images it rejected.
func report(ctx context.Context, c embedpipe.Config) error {
	rejects, err := shards.ReadFile(ctx, embedpipe.RejectsFile(c.Out), shards.MaxFileBytes)
	if err != nil {
		return errors.Join(errors.New("the pipeline ran, but its rejects file cannot be read"), err)
	}
	n := strings.Count(string(rejects), "\n")
	fmt.Fprintf(os.Stderr, "embed: wrote %s.npy and on, %d dimensions; %d images rejected (%s)\n",
		shards.Name(c.Out, 0, c.Shards), c.Dim, n, embedpipe.RejectsFile(c.Out))
	return nil
}
