package dml

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/internal/atomicfile"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// Files of a run directory.
const (
	ConfigFile   = "config.json"   // the run's RunConfig and what it ran on
	BaselineFile = "baseline.json" // the frozen backbone's evaluation
	MetricsFile  = "metrics.jsonl" // one line per epoch
)

// checkpointFile is the tensor file of a checkpoint ("best" or "last"); its JSON is beside it.
func checkpointFile(name string) string { return name + ".safetensors" }

// runRecord is config.json: the settings and what they ran on.
type runRecord struct {
	Run        string    `json:"run"` // a random id, recorded in every checkpoint of the run
	Settings   RunConfig `json:"settings"`
	Parameters int       `json:"trainable_parameters"`          // every class's prompts counted
	PerStep    int       `json:"trainable_parameters_per_step"` // only one batch's classes' prompts
	Backbone   string    `json:"backbone"`
	Steps      int       `json:"steps_per_epoch"`
	Versions   versions  `json:"versions"`
	Started    string    `json:"started"`
}

// versions records the build and the machine a run ran with.
type versions struct {
	Go       string `json:"go"`
	Module   string `json:"module"`
	Revision string `json:"revision,omitempty"`
	Kernels  string `json:"kernels"`
	Threads  int    `json:"threads"`
	OS       string `json:"os"`
}

func currentVersions() versions {
	v := versions{Go: runtime.Version(), Module: "(unknown)", Kernels: kernels.ActiveSIMD().String(), Threads: kernels.Threads(),
		OS: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Path + " " + bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Revision = s.Value
			}
		}
	}
	return v
}

// checkpointMeta is the metadata of a checkpoint: where in the run it was taken.
type checkpointMeta struct {
	Kind          string            `json:"kind"`  // "best" or "last"
	Run           string            `json:"run"`   // runRecord.Run
	Epoch         int               `json:"epoch"` // 1-based; complete when Steps == StepsPerEpoch
	Steps         int               `json:"steps"`
	StepsPerEpoch int               `json:"steps_per_epoch"`
	LossSum       float64           `json:"loss_sum"`
	BestRecall    *float64          `json:"best_recall_at_1"` // null before the first evaluation
	Eval          *report.Retrieval `json:"eval,omitempty"`   // the evaluation of this model, when it has one
	Method        string            `json:"method"`
	Dataset       string            `json:"dataset"`
	Saved         string            `json:"saved"`
	// History is, in "last", every record of metrics.jsonl up to the checkpoint, from which a
	// resumed run rebuilds a damaged log.
	History []report.EpochRecord `json:"history,omitempty"`
}

// prepareDir creates and locks the run directory; for a fresh run it writes config.json, then
// starts the run. A resumed run reads back its position, its baseline and its log, or starts
// again from the beginning when it stopped before its first checkpoint.
func (ss *Session) prepareDir() (EpochProgress, error) {
	if ss.resuming {
		if err := ss.lock(); err != nil {
			return EpochProgress{}, err
		}
		resume, ok, err := ss.reopen()
		if ok || err != nil {
			return resume, err
		}
		fmt.Fprintf(ss.stderr, "-resume %s: no checkpoint yet (the run stopped before its first save); starting it again from the beginning with its %s\n", ss.s.Out, ConfigFile)
		return EpochProgress{}, ss.start()
	}
	if ss.s.Out == "" {
		ss.s.Out = runName(ss.s)
	}
	created, err := ensureEmptyDir(ss.s.Out)
	if err != nil {
		return EpochProgress{}, err
	}
	if err = ss.lock(); err == nil {
		pc := ss.Parameters()
		cfg := runRecord{Run: ss.runID, Settings: ss.s, Parameters: pc.Stored, PerStep: pc.PerStep, Backbone: ss.bb.Description, Steps: ss.trainer.StepsPerEpoch,
			Versions: currentVersions(), Started: time.Now().Format(time.RFC3339)}
		err = writeJSON(filepath.Join(ss.s.Out, ConfigFile), cfg)
	}
	if err != nil && created { // nothing of the run is lost: it has not started
		ss.unlock()
		os.RemoveAll(ss.s.Out)
	}
	if err != nil {
		return EpochProgress{}, err
	}
	return EpochProgress{}, ss.start()
}

// start evaluates the frozen backbone and begins an empty log.
func (ss *Session) start() error {
	fmt.Fprintf(ss.stderr, "run directory %s; evaluating the frozen backbone\n", ss.s.Out)
	var err error
	if ss.baseline, _, _, err = ss.eval.run(ss.frozenEmbed); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(ss.s.Out, BaselineFile), ss.baseline); err != nil {
		return err
	}
	ss.log, err = report.CreateLog(filepath.Join(ss.s.Out, MetricsFile), nil)
	return err
}

// lock locks the run directory for the life of the session (see lockRun) and removes the
// temporary files that an interrupted save left in it.
func (ss *Session) lock() error {
	f, err := lockRun(ss.s.Out)
	if err != nil {
		return err
	}
	ss.lockFile = f
	stale, _ := filepath.Glob(filepath.Join(ss.s.Out, ".*.tmp*"))
	for _, tmp := range stale {
		os.Remove(tmp)
	}
	if len(stale) > 0 {
		fmt.Fprintf(ss.stderr, "removed %d temporary files of an interrupted save from %s\n", len(stale), ss.s.Out)
	}
	return nil
}

// unlock releases the run directory.
func (ss *Session) unlock() {
	if ss.lockFile != nil {
		ss.lockFile.Close()
		ss.lockFile = nil
	}
}

// reopen restores a run from its last checkpoint; ok is false when it has none yet.
func (ss *Session) reopen() (resume EpochProgress, ok bool, err error) {
	dir := ss.s.Out
	var meta checkpointMeta
	ck, err := ss.recover("last", &meta)
	if errors.Is(err, fs.ErrNotExist) {
		return EpochProgress{}, false, nil
	}
	if err != nil {
		return EpochProgress{}, false, fmt.Errorf("-resume: %w", err)
	}
	if meta.StepsPerEpoch != ss.trainer.StepsPerEpoch {
		return EpochProgress{}, false, fmt.Errorf("-resume %s: the checkpoint has %d steps per epoch, the dataset now gives %d", dir, meta.StepsPerEpoch, ss.trainer.StepsPerEpoch)
	}
	if err := ss.trainer.LoadState(ck.Tensors); err != nil {
		return EpochProgress{}, false, fmt.Errorf("-resume %s: %w", ck.Path, err)
	}
	if err := readJSON(filepath.Join(dir, BaselineFile), &ss.baseline); err != nil {
		return EpochProgress{}, false, fmt.Errorf("-resume: %w", err)
	}
	resume = EpochProgress{Epoch: meta.Epoch, Steps: meta.Steps, LossSum: meta.LossSum, BestRecall: math.NaN()}
	if meta.BestRecall != nil {
		resume.BestRecall = ss.checkBest(*meta.BestRecall)
	}
	if err := ss.reopenLog(ck.Path, meta, resume); err != nil {
		return EpochProgress{}, false, err
	}
	if meta.Eval != nil {
		ss.lastEval = *meta.Eval
	}
	fmt.Fprintf(ss.stderr, "resuming %s after epoch %d, step %d of %d\n", dir, meta.Epoch, meta.Steps, meta.StepsPerEpoch)
	return resume, true, nil
}

// reopenLog rewrites metrics.jsonl with the history the checkpoint at from holds, saying so when
// the file differed from it (a torn, lost or edited line): the log and the summary then agree
// with the checkpoint. A checkpoint from before histories were recorded keeps the log's own
// records of its completed epochs.
func (ss *Session) reopenLog(from string, meta checkpointMeta, resume EpochProgress) error {
	path := filepath.Join(ss.s.Out, MetricsFile)
	history := meta.History
	if history == nil {
		done := resume.Epoch
		if !resume.Complete(meta.StepsPerEpoch) {
			done--
		}
		logged, err := report.ReadLog(path)
		if err != nil {
			return fmt.Errorf("-resume: %w", err)
		}
		for _, e := range logged {
			if e.Epoch <= done {
				history = append(history, e)
			}
		}
	} else if err := report.CheckLog(path, history); err != nil {
		fmt.Fprintf(ss.stderr, "%v; rewriting it from %s\n", err, from)
	}
	var err error
	ss.log, err = report.CreateLog(path, history)
	ss.epochs = history
	return err
}

// checkBest verifies the best checkpoint of a resumed run whose best R@1 so far is recorded, and
// returns the best R@1 the run goes on with: recorded, or that of the previous best checkpoint
// when the newest was damaged, or NaN (the next evaluation becomes the best) when neither can be
// read.
func (ss *Session) checkBest(recorded float64) float64 {
	var meta checkpointMeta
	ck, err := ss.recover("best", &meta)
	switch {
	case err != nil:
		if !errors.Is(err, fs.ErrNotExist) {
			if _, aerr := ss.moveAside(filepath.Join(ss.s.Out, checkpointFile("best"))); aerr != nil {
				fmt.Fprintln(ss.stderr, aerr)
			}
		}
		fmt.Fprintf(ss.stderr, "the best checkpoint is lost (%v); the next evaluated epoch becomes the best\n", err)
		return math.NaN()
	case ck.Path != filepath.Join(ss.s.Out, checkpointFile("best")) && meta.BestRecall != nil:
		fmt.Fprintf(ss.stderr, "the best checkpoint is now that of epoch %d (R@1 %.4f) until an epoch does better\n", meta.Epoch, *meta.BestRecall)
		return *meta.BestRecall
	}
	return recorded
}

// recover loads the checkpoint name ("best" or "last") of the run, falling back on the previous
// one that weights.SaveKeeping kept when the newest is damaged or missing, or is not this run's
// checkpoint of that name (a file copied over it). A damaged newest file is moved aside
// (".damaged"), so that the next save does not keep it as the previous one. An error wrapping
// fs.ErrNotExist means the run has no such checkpoint.
func (ss *Session) recover(name string, meta *checkpointMeta) (*weights.Checkpoint, error) {
	path := filepath.Join(ss.s.Out, checkpointFile(name))
	ck, damaged, err := weights.LoadRecent(path, meta, func() error { return ss.belongs(name, *meta) })
	if err != nil || damaged == nil {
		return ck, err
	}
	if errors.Is(damaged, fs.ErrNotExist) {
		fmt.Fprintf(ss.stderr, "%s is missing (the process ended between two renames); going on from %s\n", path, ck.Path)
		return ck, nil
	}
	aside, err := ss.moveAside(path)
	if err != nil {
		return nil, fmt.Errorf("%v; %w", damaged, err)
	}
	fmt.Fprintf(ss.stderr, "%v\n  moved to %s; going on from %s (epoch %d, step %d)\n", damaged, aside, ck.Path, meta.Epoch, meta.Steps)
	return ck, nil
}

// moveAside renames a damaged checkpoint file to path.damaged, where it stays for inspection and
// where the next save will not keep it as the previous checkpoint.
func (ss *Session) moveAside(path string) (string, error) {
	aside := path + ".damaged"
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("moving %s aside: %w", path, err)
	}
	return aside, nil
}

// belongs checks that a checkpoint's metadata names this run and the checkpoint it was loaded
// as. Checkpoints from before the two were recorded pass.
func (ss *Session) belongs(name string, meta checkpointMeta) error {
	switch {
	case meta.Kind != "" && meta.Kind != name:
		return fmt.Errorf("it holds the %q checkpoint, not %q: a file was copied over it", meta.Kind, name)
	case meta.Run != "" && ss.runID != "" && meta.Run != ss.runID:
		return fmt.Errorf("it belongs to run %s, not to this directory's run %s (%s)", meta.Run, ss.runID, ConfigFile)
	}
	return nil
}

// save writes the "best" checkpoint (the model) or the "last" one (model, optimizer and the
// log's history, to resume from), each with weights.SaveKeeping, which keeps the one before.
func (ss *Session) save(name string, e EpochProgress) error {
	meta := checkpointMeta{Kind: name, Run: ss.runID, Epoch: e.Epoch, Steps: e.Steps, StepsPerEpoch: ss.trainer.StepsPerEpoch, LossSum: e.LossSum,
		BestRecall: bestRecall(e.BestRecall), Method: ss.s.Method, Dataset: ss.s.Dataset, Saved: time.Now().Format(time.RFC3339)}
	if e.Evaluated {
		ev := ss.lastEval
		meta.Eval = &ev
	}
	state := ss.model.State()
	if name == "last" {
		state = ss.trainer.State()
		meta.History = ss.epochs
	}
	return weights.SaveKeeping(filepath.Join(ss.s.Out, checkpointFile(name)), state, meta)
}

// saveEmbeddings writes the test embeddings of the best model and their labels as .npy.
func (ss *Session) saveEmbeddings() ([]string, error) {
	var meta checkpointMeta
	ck, err := ss.recover("best", &meta)
	if err != nil {
		return nil, err
	}
	if err := ss.model.LoadState(ck.Tensors); err != nil {
		return nil, err
	}
	_, emb, labels, err := ss.eval.run(ss.model.Embed)
	if err != nil {
		return nil, err
	}
	ls := make([]float32, len(labels))
	for i, l := range labels {
		ls[i] = float32(l)
	}
	files := []string{"test_embeddings.npy", "test_labels.npy"}
	for i, t := range []*tensor.Tensor{emb, tensor.FromSlice(ls, len(ls))} {
		if err := tensor.WriteNPY(filepath.Join(ss.s.Out, files[i]), t); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'))
}

// readJSON decodes the JSON file at path into v; an error names the file.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readRecord reads the config.json of a run directory.
func readRecord(dir string) (runRecord, error) {
	var c runRecord
	if err := readJSON(filepath.Join(dir, ConfigFile), &c); err != nil {
		return c, fmt.Errorf("-resume: %w", err)
	}
	c.Settings.Out = dir
	if c.Settings.Precision == "" { // a run from before the precision was recorded ran in fp32
		c.Settings.Precision = kernels.FP32.String()
	}
	return c, nil
}

// ReadRunConfig reads the configuration of the run in dir from its config.json, the one source
// a resumed run reads; Out is dir.
func ReadRunConfig(dir string) (RunConfig, error) {
	rec, err := readRecord(dir)
	return rec.Settings, err
}
