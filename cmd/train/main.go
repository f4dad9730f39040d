// Command train trains image-retrieval embeddings with VPTSP (visual prompts, semantic proxies
// and the Proxy-Anchor loss) on a frozen Vision Transformer.
//
// With no flags it fine-tunes the embedded backbone (a small ViT pretrained on Fashion-MNIST)
// with VPTSP-G on MNIST digits 0-4 and evaluates retrieval on the unseen digits 5-9, beside
// the frozen backbone's own figures. -dataset, -data and -weights train on CUB, Cars, SOP,
// In-Shop or a folder of classes with timm or DINO weights; -h lists every flag.
//
// A run writes runs/<name>/: config.json, metrics.jsonl, the best and last checkpoints,
// loss.png and recall.png. Ctrl-C finishes the current step, saves, and says how to resume;
// -resume DIR continues a run exactly where it stopped.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
)

func main() {
	var interrupted atomic.Bool
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		interrupted.Store(true)
		fmt.Fprintln(os.Stderr, "\ntrain: finishing the current step and saving (interrupt again to quit at once)")
		<-signals
		os.Exit(130)
	}()
	err := run(os.Args[1:], os.Stdout, os.Stderr, interrupted.Load)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, dml.ErrStopped):
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

// run is the command: args are the flags, stop is asked after every training step.
func run(args []string, stdout, stderr io.Writer, stop func() bool) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	if o.compare != "" && !o.dryRun {
		return compare(o, stdout, stderr, stop)
	}
	ss, err := newSession(o, stdout, stderr)
	if err != nil {
		return err
	}
	defer ss.close()
	if o.dryRun {
		if o.check {
			for _, sp := range ss.ds.Splits {
				data.Scan(sp, ss.s.Workers, ss.skips)
			}
		}
		ss.describe(stdout)
		return nil
	}
	ss.describe(stderr)
	return ss.execute(stop)
}
