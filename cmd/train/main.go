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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	ss, ds, err := newSession(o, stdout, stderr, stop)
	if err != nil {
		if o.dryRun && ds != nil { // what the dataset holds explains most errors of its settings
			fmt.Fprintln(stdout, data.Summarize(ds, nil))
		}
		return err
	}
	defer ss.Close()
	if o.dryRun {
		if o.check {
			ss.Scan()
		}
		ss.Describe(stdout)
		return nil
	}
	ss.Describe(stderr)
	ctx, release := stopContext(stop)
	defer release()
	_, err = ss.Run(ctx)
	if errors.Is(err, dml.ErrStopped) {
		dir := ss.Config().Out
		fmt.Fprintf(stderr, "stopped; the run is saved in %s. Resume with:\n  go run ./cmd/train -resume %s\n", dir, dir)
	}
	return err
}

// newSession builds the session of the command line: a resumed run's from its config.json
// (with -threads and -workers), a new one's from the preset of the dataset and the backbone's
// width, under the flags given. The dataset is returned once read, even when a later step fails.
// Downloads (-download, weights by name) stop when stop says so.
func newSession(o options, stdout, stderr io.Writer, stop func() bool) (*dml.Session, *data.Dataset, error) {
	opts := dml.Options{Resume: o.resume != "", Output: stdout, Progress: stderr}
	if opts.Resume {
		cfg, err := dml.ReadRunConfig(o.resume)
		if err != nil {
			return nil, nil, err
		}
		if o.set["threads"] {
			cfg.Threads = o.Threads
		}
		if o.set["workers"] {
			cfg.Workers = o.Workers
		}
		ss, err := dml.NewSession(cfg, opts)
		return ss, nil, err
	}
	ctx, release := stopContext(stop)
	defer release()
	ds, err := openData(ctx, &o, stderr)
	if err != nil {
		return nil, nil, err
	}
	if !o.set["weights"] {
		o.Weights = defaultWeights(o)
	}
	bb, err := dml.LoadBackbone(ctx, o.RunConfig, stderr)
	if err != nil {
		return nil, ds, err
	}
	cfg, err := resolvePreset(o, bb.ViT.Dim)
	if err != nil {
		return nil, ds, err
	}
	opts.Backbone, opts.Dataset = &bb, ds
	ss, err := dml.NewSession(cfg, opts)
	return ss, ds, err
}

// openData reads the dataset of o. With -download it first makes it ready (data.Download,
// which reads it) and sets o.Data to the directory it is in.
func openData(ctx context.Context, o *options, progress io.Writer) (*data.Dataset, error) {
	if !o.download {
		return data.Open(o.Dataset, o.Data)
	}
	root, ds, err := data.Download(ctx, o.Dataset, o.Data, progress)
	if err != nil {
		return nil, fmt.Errorf("-download: %w", err)
	}
	o.Data = root
	return ds, nil
}

// stopContext is a context that is cancelled once stop reports true. The session asks its Err
// after every step, which asks stop; once something waits on Done (a download does), stop is
// also polled ten times a second until the context is cancelled or release is called.
func stopContext(stop func() bool) (ctx context.Context, release func()) {
	c := &pollContext{Context: context.Background(), stop: stop, done: make(chan struct{}), released: make(chan struct{})}
	return c, sync.OnceFunc(func() { close(c.released) })
}

// pollContext is cancelled when its stop function says so.
type pollContext struct {
	context.Context
	stop     func() bool
	once     sync.Once // closes done
	polling  sync.Once // starts the poller
	done     chan struct{}
	released chan struct{} // ends the poller
}

func (c *pollContext) Done() <-chan struct{} {
	c.polling.Do(func() { go c.poll() })
	return c.done
}

// poll asks Err ten times a second until the context is cancelled or released.
func (c *pollContext) poll() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for c.Err() == nil {
		select {
		case <-c.released:
			return
		case <-tick.C:
		}
	}
}

func (c *pollContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
	}
	if c.stop != nil && c.stop() {
		c.once.Do(func() { close(c.done) })
		return context.Canceled
	}
	return nil
}
