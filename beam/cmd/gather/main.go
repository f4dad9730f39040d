// Command gather joins the shards of the embedding pipeline into the files cmd/embed writes and
// cmd/eval reads: one .npy [N, D], its .names.txt and, where the shards have labels, its
// .labels.txt, the images in input order.
//
//	go run ./cmd/gather -shards emb/part -out emb.npy
//	go run github.com/semprox/semprox/cmd/eval -emb emb.npy -labels emb.labels.txt
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"

	"github.com/semprox/semprox/beam/shards"
)

func main() {
	prefix := flag.String("shards", "", "prefix of the shards (PREFIX-00000-of-0000N.npy ...)")
	out := flag.String("out", "emb.npy", "output .npy; the names go to the same name with .names.txt, the labels with .labels.txt")
	flag.Parse()
	if err := run(context.Background(), *prefix, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gather:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, prefix, out string) error {
	if prefix == "" {
		return fmt.Errorf("-shards is required")
	}
	if !strings.HasSuffix(out, ".npy") {
		return fmt.Errorf("-out %s: want a name ending in .npy", out)
	}
	bases, err := shards.List(ctx, prefix)
	if err != nil {
		return err
	}
	all, err := shards.Gather(ctx, bases)
	if err != nil {
		return err
	}
	if err := shards.Write(ctx, strings.TrimSuffix(out, ".npy"), all); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gather: %d shards, %d images, wrote %s\n", len(bases), len(all.Names), out)
	return nil
}
