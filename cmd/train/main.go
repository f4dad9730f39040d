// Command train trains image-retrieval embeddings with VPTSP (visual prompts, semantic proxies
// and the Proxy-Anchor loss) on a frozen Vision Transformer.
//
// Today it reads and checks datasets (-dry-run); the training loop itself comes with the
// command-line trainer.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
)

func main() {
	err := run(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

type options struct {
	dataset, data string
	dryRun, check bool
	workers       int
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.dataset, "dataset", "mnist", "dataset: "+strings.Join(data.Names, ", "))
	fs.StringVar(&o.data, "data", "", "the dataset's directory, in the layout its authors distribute (not needed for mnist)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read the dataset, print its splits and exit without training")
	fs.BoolVar(&o.check, "check", false, "with -dry-run, decode every image and report the unreadable ones")
	fs.IntVar(&o.workers, "workers", 0, "decoding goroutines for -check (default: one per core)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ds, err := data.Open(o.dataset, o.data)
	if err != nil {
		return err
	}
	skips := &data.Skips{}
	if o.check {
		for _, sp := range ds.Splits {
			data.Scan(sp, o.workers, skips)
		}
	}
	fmt.Fprintln(out, data.Summarize(ds, skips))
	if o.dryRun {
		return nil
	}
	return fmt.Errorf("the training loop is not available yet (the dataset reads; the kernels run on %v with %d threads); use -dry-run", kernels.ActiveSIMD(), kernels.Threads())
}
