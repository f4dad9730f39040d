package main

import (
	"cmp"
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
	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/internal/sysmem"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/vision"
)

// session is one training run: its data, model, trainer, evaluation and run directory.
type session struct {
	s              settings
	resuming       bool
	stdout, stderr io.Writer
	ds             *data.Dataset
	skips          *data.Skips
	bb             backbone
	model          *dml.Model
	trainer        *dml.Trainer
	sampler        *dml.BalancedSampler
	loader         *data.Loader
	eval           *evaluator
	log            *report.Log
	epochs         []report.EpochRecord // the log's records
	baseline       report.Retrieval     // the frozen backbone's evaluation
	lastEval       report.Retrieval     // the latest evaluation of the model
	feed           *batchFeed
	runID          string   // runConfig.Run
	lockFile       *os.File // held while the session trains into its directory
}

// newSession reads the dataset and the backbone and builds the model and its trainer.
func newSession(o options, stdout, stderr io.Writer) (*session, error) {
	ss := &session{stdout: stdout, stderr: stderr, skips: &data.Skips{}, s: o.settings, resuming: o.resume != "", runID: newRunID()}
	var err error
	if ss.resuming {
		if ss.s, ss.runID, err = resumedSettings(o); err != nil {
			return nil, err
		}
	}
	if err := ss.s.checkMachine(); err != nil {
		return nil, err
	}
	vision.MaxPixels = cmp.Or(ss.s.MaxPixels, vision.DefaultMaxPixels)
	if ss.s.Threads > 0 {
		kernels.SetThreads(ss.s.Threads)
	}
	if ss.ds, err = data.Open(ss.s.Dataset, ss.s.Data); err != nil {
		return nil, err
	}
	train := ss.ds.Split("train")
	if train == nil {
		return nil, fmt.Errorf("dataset %s has no train split", ss.ds.Name)
	}
	set := o.set
	if ss.resuming { // config.json holds the normalisation the run used
		set = map[string]bool{"mean": true, "std": true}
	}
	if ss.bb, err = loadBackbone(ss.s, set); err != nil {
		return nil, err
	}
	if !ss.resuming {
		if ss.s, err = resolvePreset(o, ss.bb.vit.Dim); err != nil {
			return nil, err
		}
	}
	ss.s.Mean, ss.s.Std = ss.bb.mean, ss.bb.std
	if err := ss.s.validate(); err != nil {
		return nil, err
	}
	if err := ss.build(train); err != nil {
		return nil, err
	}
	return ss, nil
}

// resumedSettings reads the settings and the id of the run o.resume names; only -threads and
// -workers may change.
func resumedSettings(o options) (settings, string, error) {
	cfg, err := readConfig(o.resume)
	if err != nil {
		return settings{}, "", err
	}
	s := cfg.Settings
	if o.set["threads"] {
		s.Threads = o.Threads
	}
	if o.set["workers"] {
		s.Workers = o.Workers
	}
	return s, cfg.Run, nil
}

// newRunID returns a random id for a new run.
func newRunID() string {
	return fmt.Sprintf("%016x", rand.Uint64())
}

// build makes the model, the trainer, the sampler and the loaders.
func (ss *session) build(train *data.Split) error {
	s := ss.s
	if err := checkBatch(s, train, ss.bb.vit.Config, sysmem.Total()); err != nil {
		return err
	}
	method, _ := dml.ParseMethod(s.Method)
	rng := rand.New(rand.NewPCG(s.Seed, 0x1417))
	ss.model = dml.NewModel(ss.bb.vit, method, s.modelPreset(), train.Classes, rng)
	var err error
	if ss.sampler, err = dml.NewBalancedSampler(train.Labels(), s.Batch, s.K, s.Seed); err != nil {
		return fmt.Errorf("-batch %d, -k %d: %w", s.Batch, s.K, err)
	}
	steps := ss.sampler.StepsPerEpoch()
	if s.StepLimit > 0 {
		steps = min(steps, s.StepLimit)
	}
	ss.trainer, err = dml.NewTrainer(ss.model, dml.TrainConfig{Epochs: s.Epochs, StepsPerEpoch: steps,
		Optimizer: s.Optimizer, LR: s.LR, LRProxy: s.LRProxy, WeightDecay: s.WeightDecay,
		Cosine: nn.Cosine{TMax: s.CosineTMax, EtaMin: s.CosineMin}, WarmupEpochs: s.Warmup, ClipNorm: s.Clip})
	if err != nil {
		return err
	}
	trainTf, evalTf, err := transforms(s, ss.bb)
	if err != nil {
		return err
	}
	if ss.eval, err = newEvaluator(ss.ds, evalTf, s, ss.skips); err != nil {
		return err
	}
	ss.loader = data.NewLoader(data.LoaderConfig{Split: train, Transform: trainTf, Workers: s.Workers, Seed: s.Seed, Skips: ss.skips})
	ss.feed = &batchFeed{loader: ss.loader, sampler: ss.sampler, steps: steps, progress: ss.newProgress}
	return nil
}

// modelPreset is the preset the model is built from: the settings' prompts, widths, adapter
// placements and semantics, whatever preset they started from (a resumed run has only its
// config.json).
func (s settings) modelPreset() dml.Preset {
	return dml.Preset{Name: s.Preset, EmbedDim: s.EmbedDim, Prompts: s.Prompts, Class: s.Class, Alpha: s.Alpha,
		AdapterBlocks: s.AdapterBlocks, AdapterBlocksBitFit: s.AdapterBlocksBitFit, Method: s.Method, Interp: s.Interp, Semantics: s.Semantics}
}

// classesPerStep is the number of classes of a batch: batch/k, or every class when there are
// fewer.
func (ss *session) classesPerStep() int {
	return min(ss.s.Batch/ss.s.K, ss.model.Bias.Value.Dim(0))
}

// parameters counts the model's trainable values: stored, and reached by one step.
func (ss *session) parameters() dml.ParameterCounts {
	return ss.model.ParameterCount(ss.classesPerStep())
}

// describe prints what the run is made of.
func (ss *session) describe(w io.Writer) {
	pc := ss.parameters()
	fmt.Fprintln(w, data.Summarize(ss.ds, ss.skips))
	fmt.Fprintf(w, "backbone: %s\n", ss.bb.description)
	fmt.Fprintf(w, "method %s, preset %s: %d trainable parameters stored, %d per step of %d classes (%s)\n",
		ss.s.Method, ss.s.Preset, pc.Stored, pc.PerStep, ss.classesPerStep(), pc.Parts)
	fmt.Fprintf(w, "semantics: %s\n", ss.s.semanticsLine())
	fmt.Fprintf(w, "%d epochs of %d steps, batch %d (%d classes x %d), %s lr %g, lr_proxy %g; kernels %v, %d threads\n",
		ss.s.Epochs, ss.trainer.Config.StepsPerEpoch, ss.s.Batch, ss.s.Batch/ss.s.K, ss.s.K, ss.s.Optimizer, ss.s.LR, ss.s.LRProxy,
		kernels.ActiveSIMD(), kernels.Threads())
}

// close stops the loaders and closes the log.
func (ss *session) close() {
	ss.feed.stop()
	ss.loader.Close()
	ss.eval.close()
	if ss.log != nil {
		ss.log.Close()
	}
	ss.unlock()
}

// execute trains the remaining epochs, reports, and writes the run directory. stop is asked
// after every step.
func (ss *session) execute(stop func() bool) error {
	resume, err := ss.prepareDir()
	if err != nil {
		return err
	}
	dir := ss.s.Out // prepareDir names it when -out did not
	fmt.Fprintf(ss.stdout, "frozen backbone: %s\n", report.EvalLine(ss.baseline))
	run := &dml.Run{
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
	err = run.Execute()
	if errors.Is(err, dml.ErrStopped) {
		ss.feed.bar.Done()
		fmt.Fprintf(ss.stderr, "stopped; the run is saved in %s. Resume with:\n  go run ./cmd/train -resume %s\n", dir, dir)
		return err
	}
	if err != nil {
		return err
	}
	return ss.finish()
}

// finish writes the test embeddings of the best model when asked and prints the summary.
func (ss *session) finish() error {
	files := []string{configFile, baselineFile, metricsFile, checkpointFile("best"), checkpointFile("last"), report.LossPlot, report.RecallPlot}
	if ss.s.Embeddings {
		written, err := ss.saveEmbeddings()
		if err != nil {
			return err
		}
		files = append(files, written...)
	}
	for i, f := range files {
		files[i] = filepath.Join(ss.s.Out, f)
	}
	if n := ss.skips.Total(); n > 0 {
		fmt.Fprintln(ss.stderr, ss.skips)
	}
	report.Summary(ss.stdout, ss.epochs, &ss.baseline, files)
	return nil
}

// epochDone logs a completed epoch and redraws the plots.
func (ss *session) epochDone(e dml.EpochProgress) error {
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
	sampler  *dml.BalancedSampler
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

// batch implements dml.Run.Batches: a new epoch (or a resumed one starting mid-way) starts the
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

func (ss *session) newProgress(epoch, steps int) *report.Progress {
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
func (ss *session) frozenEmbed(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var {
	return ss.bb.vit.Embed(tp, images, nil)
}

// runName is the default run directory.
func runName(s settings) string {
	return filepath.Join("runs", fmt.Sprintf("%s-%s-%s", s.Dataset, s.Method, time.Now().Format("20060102-150405")))
}

// ensureEmptyDir creates dir, refusing one that already holds a run; created says whether dir
// is new.
func ensureEmptyDir(dir string) (created bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, configFile)); err == nil {
		return false, fmt.Errorf("-out %s already holds a run (its %s); continue it with -resume %s or choose another -out", dir, configFile, dir)
	}
	_, err = os.Stat(dir)
	created = errors.Is(err, fs.ErrNotExist)
	return created, os.MkdirAll(dir, 0o755)
}
