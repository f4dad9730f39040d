package dml

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/internal/sysmem"
	"github.com/semprox/semprox/internal/units"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/vision"
)

// Session is one training run: its data, model, trainer, evaluation and run directory. Build
// it with NewSession, print what it is made of with Describe, train with Run, and Close it.
type Session struct {
	s              RunConfig
	resuming       bool
	stdout, stderr io.Writer
	ds             *data.Dataset
	kind           data.Kind
	skips          *data.Skips
	bb             Backbone
	model          *Model
	trainer        *Trainer
	sampler        *BalancedSampler
	loader         *data.Loader
	eval           *evaluator
	log            *report.Log
	epochs         []report.EpochRecord // the log's records
	baseline       report.Retrieval     // the frozen backbone's evaluation
	lastEval       report.Retrieval     // the latest evaluation of the model
	feed           *batchFeed
	runID          string   // runRecord.Run
	lockFile       *os.File // held while the session trains into its directory
}

// Options steer a session without being part of its configuration.
type Options struct {
	// Resume continues the run in RunConfig.Out from its last checkpoint; the configuration
	// must be the run's own (ReadRunConfig), where only Threads and Workers may differ.
	Resume bool
	// Backbone is the frozen ViT, already loaded with LoadBackbone(cfg); nil: NewSession loads it.
	Backbone *Backbone
	// Dataset is cfg's dataset, already read with data.Open(cfg.Dataset, cfg.Data); nil:
	// NewSession reads it.
	Dataset *data.Dataset
	// Output receives the evaluation lines and the summary, Progress the progress display and
	// notices (nil: discarded).
	Output, Progress io.Writer
}

// Result is what a finished run gives back.
type Result struct {
	Dir        string               // the run directory
	Baseline   report.Retrieval     // the frozen backbone's evaluation
	History    []report.EpochRecord // one record per epoch, with its evaluation where it had one
	Parameters ParameterCounts
	Files      []string // the files the run wrote
}

// Train runs a whole session: NewSession, Run and Close. Cancelling ctx stops the run after
// the current step, which is saved first; the error is then ErrStopped, and a session with
// Options.Resume continues it.
func Train(ctx context.Context, cfg RunConfig, opts Options) (*Result, error) {
	ss, err := NewSession(cfg, opts)
	if err != nil {
		return nil, err
	}
	defer ss.Close()
	return ss.Run(ctx)
}

// NewSession validates cfg, reads the dataset and the backbone and builds the model, its trainer
// and the loaders. With opts.Resume, cfg.Out's config.json gives the run's id.
func NewSession(cfg RunConfig, opts Options) (*Session, error) {
	ss := &Session{stdout: orDiscard(opts.Output), stderr: orDiscard(opts.Progress), skips: &data.Skips{}, s: cfg, resuming: opts.Resume, runID: newRunID()}
	if ss.resuming {
		rec, err := readRecord(cfg.Out)
		if err != nil {
			return nil, err
		}
		ss.runID = rec.Run
	}
	if err := ss.s.Validate(); err != nil { // before any pool is started with its thread counts
		return nil, err
	}
	vision.MaxPixels = cmp.Or(ss.s.MaxPixels, vision.DefaultMaxPixels)
	if ss.s.Threads > 0 {
		kernels.SetThreads(ss.s.Threads)
	}
	precision, warning, err := kernels.ChoosePrecision(ss.s.Precision)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		fmt.Fprintf(ss.stderr, "notice: -precision %s: %s\n", precision, warning)
	}
	ss.s.Precision = precision.String()
	if ss.kind, err = data.Lookup(ss.s.Dataset); err != nil {
		return nil, err
	}
	if ss.ds = opts.Dataset; ss.ds == nil {
		if ss.ds, err = data.Open(ss.s.Dataset, ss.s.Data); err != nil {
			return nil, err
		}
	}
	train := ss.ds.Split("train")
	if train == nil {
		return nil, fmt.Errorf("dataset %s has no train split", ss.ds.Name)
	}
	if opts.Backbone != nil {
		ss.bb = *opts.Backbone
	} else if ss.bb, err = LoadBackbone(context.Background(), ss.s, ss.stderr); err != nil {
		return nil, err
	}
	ss.s.Mean, ss.s.Std = ss.bb.Mean, ss.bb.Std
	ss.s.Weights = cmp.Or(ss.bb.Pinned, ss.s.Weights)
	if err := ss.build(train); err != nil {
		return nil, err
	}
	return ss, nil
}

// orDiscard is w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// newRunID returns a random id for a new run.
func newRunID() string {
	return fmt.Sprintf("%016x", rand.Uint64())
}

// build makes the model, the trainer, the sampler and the loaders.
func (ss *Session) build(train *data.Split) error {
	s := ss.s
	if err := CheckBatch(s, train, ss.bb.ViT.Config, sysmem.Total()); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x1417))
	var err error
	if ss.model, err = NewModel(ss.bb.ViT, s.ModelConfig, train.Classes, rng); err != nil {
		return err
	}
	precision, err := kernels.ParsePrecision(s.Precision)
	if err != nil {
		return err
	}
	ss.model.ViT.PackFrozen(precision)
	if ss.sampler, err = NewBalancedSampler(train.Labels(), s.Batch, s.K, s.Seed); err != nil {
		return fmt.Errorf("-batch %d, -k %d: %w", s.Batch, s.K, err)
	}
	steps := ss.sampler.StepsPerEpoch()
	if s.StepLimit > 0 {
		steps = min(steps, s.StepLimit)
	}
	if ss.trainer, err = NewTrainer(ss.model, s.TrainConfig, steps); err != nil {
		return err
	}
	trainTf, evalTf, err := transforms(s, ss.kind, ss.bb)
	if err != nil {
		return err
	}
	if ss.eval, err = newEvaluator(ss.ds, ss.kind, evalTf, s, ss.skips); err != nil {
		return err
	}
	ss.loader = data.NewLoader(data.LoaderConfig{Split: train, Transform: trainTf, Workers: s.Workers, Seed: s.Seed, Skips: ss.skips})
	ss.feed = &batchFeed{loader: ss.loader, sampler: ss.sampler, steps: steps, progress: ss.newProgress}
	return nil
}

// Config is the session's configuration, resolved: the normalisation is the one it runs with,
// and Out names the run directory once Run has created it.
func (ss *Session) Config() RunConfig { return ss.s }

// Model is the model the session trains.
func (ss *Session) Model() *Model { return ss.model }

// Dataset is the dataset the session reads.
func (ss *Session) Dataset() *data.Dataset { return ss.ds }

// Scan decodes every image of the dataset and records the unreadable ones, which Describe then
// reports.
func (ss *Session) Scan() {
	for _, sp := range ss.ds.Splits {
		data.Scan(sp, ss.s.Workers, ss.skips)
	}
}

// classesPerStep is the number of classes of a batch: batch/k, or every class when there are
// fewer.
func (ss *Session) classesPerStep() int {
	return min(ss.s.Batch/ss.s.K, ss.model.Bias.Value.Dim(0))
}

// Parameters counts the model's trainable values: stored, and reached by one step.
func (ss *Session) Parameters() ParameterCounts {
	return ss.model.ParameterCount(ss.classesPerStep())
}

// Describe prints what the run is made of.
func (ss *Session) Describe(w io.Writer) {
	pc := ss.Parameters()
	fmt.Fprintln(w, data.Summarize(ss.ds, ss.skips))
	fmt.Fprintf(w, "backbone: %s\n", ss.bb.Description)
	fmt.Fprintf(w, "method %s, preset %s: %d trainable parameters stored, %d per step of %d classes (%s)\n",
		ss.s.Method, ss.s.Name, pc.Stored, pc.PerStep, ss.classesPerStep(), pc.Parts)
	fmt.Fprintf(w, "semantics: %s\n", ss.s.SemanticsLine())
	fmt.Fprintf(w, "%d epochs of %d steps, batch %d (%d classes x %d), %s lr %g, lr_proxy %g; kernels %v, %d threads, %s frozen weights (%s packed)\n",
		ss.s.Epochs, ss.trainer.StepsPerEpoch, ss.s.Batch, ss.s.Batch/ss.s.K, ss.s.K, ss.s.Optimizer, ss.s.LR, ss.s.LRProxy,
		kernels.ActiveSIMD(), kernels.Threads(), ss.s.Precision, units.Bytes(int64(ss.model.ViT.PackedBytes())))
}

// Close stops the loaders, closes the log and releases the run directory.
func (ss *Session) Close() {
	ss.feed.stop()
	ss.loader.Close()
	ss.eval.close()
	if ss.log != nil {
		ss.log.Close()
	}
	ss.unlock()
}

// Run creates the run directory (or reopens it, resuming), evaluates the frozen backbone,
// trains the remaining epochs with an evaluation and checkpoints after each, and writes the
// summary. Cancelling ctx stops it after the current step, saved first, with ErrStopped.
func (ss *Session) Run(ctx context.Context) (*Result, error) {
	resume, err := ss.prepareDir()
	if err != nil {
		return nil, err
	}
	stop := func() bool { return ctx.Err() != nil }
	fmt.Fprintf(ss.stdout, "frozen backbone: %s\n", report.EvalLine(ss.baseline))
	run := &Loop{
		Trainer: ss.trainer, Batches: ss.feed.batch, EvalEvery: ss.s.EvalEvery, Resume: resume, Stop: stop,
		OnStep: func(_, step int, loss float64) { ss.feed.stepDone(step, loss) },
		Evaluate: func() (float64, error) {
			e, _, _, err := ss.eval.run(ss.model.Embed)
			if err != nil {
				return 0, err
			}
			ss.lastEval = e
			fmt.Fprintf(ss.stdout, "epoch %d: %s\n", ss.feed.epoch+1, report.EvalLine(e))
			return e.Recall[0], nil
		},
		Save:    ss.save,
		OnEpoch: ss.epochDone,
	}
	if err := run.Execute(); err != nil {
		if errors.Is(err, ErrStopped) {
			ss.feed.bar.Done()
		}
		return nil, err
	}
	return ss.finish()
}

// finish writes the test embeddings of the best model when asked and prints the summary.
func (ss *Session) finish() (*Result, error) {
	files := []string{ConfigFile, BaselineFile, MetricsFile, checkpointFile("best"), checkpointFile("last"), report.LossPlot, report.RecallPlot}
	if ss.s.Embeddings {
		written, err := ss.saveEmbeddings()
		if err != nil {
			return nil, err
		}
		files = append(files, written...)
	}
	for i, f := range files {
		files[i] = filepath.Join(ss.s.Out, f)
	}
	if n := ss.skips.Total(); n > 0 {
		fmt.Fprintln(ss.stderr, ss.skips)
	}
	report.Summary(ss.stdout, ss.epochs, &ss.baseline, nil)
	if p, ok := PaperFor(ss.s); ok {
		writePaperComparison(ss.stdout, p, ss.s, ss.epochs)
	}
	report.Written(ss.stdout, files)
	return &Result{Dir: ss.s.Out, Baseline: ss.baseline, History: ss.epochs, Parameters: ss.Parameters(), Files: files}, nil
}

// epochDone logs a completed epoch and redraws the plots.
func (ss *Session) epochDone(e EpochProgress) error {
	images, seconds := ss.feed.epochStats()
	rec := report.EpochRecord{Epoch: e.Epoch, Loss: e.MeanLoss, LR: e.LearningRate, Steps: e.Steps, Images: images,
		Seconds: seconds, ImagesPerSec: float64(images) / max(seconds, 1e-9), Best: e.Best}
	if e.Evaluated {
		ev := ss.lastEval
		rec.Eval = &ev
	}
	if err := ss.log.Write(rec); err != nil {
		return err
	}
	ss.epochs = append(ss.epochs, rec)
	return report.Plot(ss.s.Out, ss.epochs, ss.baseline.Recall[0])
}

// batchFeed hands the trainer its batches from the loader, one epoch at a time, and keeps the
// epoch's progress display and throughput.
type batchFeed struct {
	loader   *data.Loader
	sampler  *BalancedSampler
	steps    int // per epoch: the sampler's, or fewer (-steps)
	progress func(epoch, steps int) *report.Progress
	cur      *data.BatchStream
	epoch    int // of cur
	next     int // the step cur yields next
	held     *data.Batch
	bar      *report.Progress
	started  time.Time
	images   int
	last     int     // the last step of the epoch (steps - 1)
	seconds  float64 // the epoch's training time, once its last step is done
}

// batch implements Loop.Batches: a new epoch (or a resumed one starting mid-way) starts the
// loader on its remaining batches.
func (f *batchFeed) batch(epoch, step int) (data.Batch, error) {
	f.loader.Recycle(f.held)
	f.held = nil
	if f.cur == nil || epoch != f.epoch || step != f.next {
		f.stop()
		batches := f.sampler.Batches(epoch)[step:f.steps]
		f.cur, f.epoch, f.next = f.loader.Stream(epoch, batches), epoch, step
		f.started, f.images = time.Now(), 0
		f.last = f.steps - 1
		f.bar = f.progress(epoch, len(batches))
	}
	b, ok := f.cur.Next()
	if !ok {
		return data.Batch{}, fmt.Errorf("the loader ended the epoch early")
	}
	f.held, f.next = b, step+1
	f.images += len(b.Labels)
	return *b, nil
}

// stepDone advances the progress display; the last step of an epoch closes it and stops the
// epoch's clock (evaluation is not training time).
func (f *batchFeed) stepDone(step int, loss float64) {
	f.bar.Step(loss)
	if step == f.last {
		f.seconds = time.Since(f.started).Seconds()
		f.bar.Done()
	}
}

// epochStats returns the images and seconds of the last epoch's training (of its part this
// session ran, when it resumed mid-way).
func (f *batchFeed) epochStats() (int, float64) { return f.images, f.seconds }

// stop ends the epoch in progress.
func (f *batchFeed) stop() {
	if f.cur != nil {
		f.cur.Stop()
		f.cur = nil
	}
}

func (ss *Session) newProgress(epoch, steps int) *report.Progress {
	return report.NewProgress(ss.stderr, epoch+1, ss.s.Epochs, steps, ss.s.Batch)
}

// bestRecall converts a run's best R@1 for JSON, where NaN (no evaluation yet) is null.
func bestRecall(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// frozenEmbed is the frozen backbone's own embedding, the final-norm CLS token: the baseline.
func (ss *Session) frozenEmbed(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var {
	return ss.bb.ViT.Embed(tp, images, nil)
}

// runName is the default run directory.
func runName(s RunConfig) string {
	return filepath.Join("runs", fmt.Sprintf("%s-%s-%s", s.Dataset, s.Method, time.Now().Format("20060102-150405")))
}

// ensureEmptyDir creates dir, refusing one that already holds a run; created says whether dir
// is new.
func ensureEmptyDir(dir string) (created bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err == nil {
		return false, fmt.Errorf("-out %s already holds a run (its %s); continue it with -resume %s or choose another -out", dir, ConfigFile, dir)
	}
	_, err = os.Stat(dir)
	created = errors.Is(err, fs.ErrNotExist)
	return created, os.MkdirAll(dir, 0o755)
}
