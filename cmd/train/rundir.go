package main

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

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// Files of a run directory.
const (
	baselineFile = "baseline.json" // the frozen backbone's evaluation
	metricsFile  = "metrics.jsonl" // one line per epoch
)

// checkpointFile is the tensor file of a checkpoint ("best" or "last"); its JSON is beside it.
func checkpointFile(name string) string { return name + ".safetensors" }

// runConfig is config.json: the settings and what they ran on.
type runConfig struct {
	Settings   settings `json:"settings"`
	Parameters int      `json:"trainable_parameters"`
	Backbone   string   `json:"backbone"`
	Steps      int      `json:"steps_per_epoch"`
	Versions   versions `json:"versions"`
	Started    string   `json:"started"`
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

// checkpointMeta is the JSON beside a checkpoint: where in the run it was taken.
type checkpointMeta struct {
	Epoch         int          `json:"epoch"` // 1-based; complete when Steps == StepsPerEpoch
	Steps         int          `json:"steps"`
	StepsPerEpoch int          `json:"steps_per_epoch"`
	LossSum       float64      `json:"loss_sum"`
	BestRecall    *float64     `json:"best_recall_at_1"` // null before the first evaluation
	Eval          *report.Eval `json:"eval,omitempty"`   // the evaluation of this model, when it has one
	Method        string       `json:"method"`
	Dataset       string       `json:"dataset"`
	Saved         string       `json:"saved"`
}

// prepareDir creates the run directory and writes config.json and the baseline for a fresh
// run, or reads back the position, the baseline and the log of a resumed one.
func (ss *session) prepareDir() (dml.Epoch, error) {
	if ss.resuming {
		return ss.reopen()
	}
	if ss.s.Out == "" {
		ss.s.Out = runName(ss.s)
	}
	if err := ensureEmptyDir(ss.s.Out); err != nil {
		return dml.Epoch{}, err
	}
	total, _ := ss.model.ParameterCount()
	cfg := runConfig{Settings: ss.s, Parameters: total, Backbone: ss.bb.description, Steps: ss.trainer.Config.StepsPerEpoch,
		Versions: currentVersions(), Started: time.Now().Format(time.RFC3339)}
	if err := writeJSON(filepath.Join(ss.s.Out, configFile), cfg); err != nil {
		return dml.Epoch{}, err
	}
	fmt.Fprintf(ss.stderr, "run directory %s; evaluating the frozen backbone\n", ss.s.Out)
	var err error
	if ss.baseline, _, _, err = ss.eval.run(ss.frozenEmbed); err != nil {
		return dml.Epoch{}, err
	}
	if err := writeJSON(filepath.Join(ss.s.Out, baselineFile), ss.baseline); err != nil {
		return dml.Epoch{}, err
	}
	ss.log, err = report.OpenLog(filepath.Join(ss.s.Out, metricsFile), 0)
	return dml.Epoch{}, err
}

// reopen restores a run from its last checkpoint.
func (ss *session) reopen() (dml.Epoch, error) {
	dir := ss.s.Out
	var meta checkpointMeta
	ck, err := weights.Load(filepath.Join(dir, checkpointFile("last")), &meta)
	if errors.Is(err, fs.ErrNotExist) {
		return dml.Epoch{}, fmt.Errorf("-resume %s: no checkpoint yet (the run stopped before its first save); start it again", dir)
	}
	if err != nil {
		return dml.Epoch{}, fmt.Errorf("-resume: %w", err)
	}
	if meta.StepsPerEpoch != ss.trainer.Config.StepsPerEpoch {
		return dml.Epoch{}, fmt.Errorf("-resume %s: the checkpoint has %d steps per epoch, the dataset now gives %d", dir, meta.StepsPerEpoch, ss.trainer.Config.StepsPerEpoch)
	}
	if err := ss.trainer.LoadState(ck.Tensors); err != nil {
		return dml.Epoch{}, fmt.Errorf("-resume %s: %w", dir, err)
	}
	if err := readJSON(filepath.Join(dir, baselineFile), &ss.baseline); err != nil {
		return dml.Epoch{}, fmt.Errorf("-resume: %w", err)
	}
	best := math.NaN()
	if meta.BestRecall != nil {
		best = *meta.BestRecall
	}
	resume := dml.Epoch{Epoch: meta.Epoch, Steps: meta.Steps, LossSum: meta.LossSum, BestRecall: best}
	done := resume.Epoch
	if !resume.Complete(meta.StepsPerEpoch) {
		done--
	}
	path := filepath.Join(dir, metricsFile)
	if ss.log, err = report.OpenLog(path, done); err != nil {
		return dml.Epoch{}, err
	}
	if ss.epochs, err = report.ReadLog(path); err != nil {
		return dml.Epoch{}, err
	}
	if meta.Eval != nil {
		ss.lastEval = *meta.Eval
	}
	fmt.Fprintf(ss.stderr, "resuming %s after epoch %d, step %d of %d\n", dir, meta.Epoch, meta.Steps, meta.StepsPerEpoch)
	return resume, nil
}

// save writes the "best" checkpoint (the model) or the "last" one (model and optimizer, to
// resume from), each atomically.
func (ss *session) save(name string, e dml.Epoch) error {
	meta := checkpointMeta{Epoch: e.Epoch, Steps: e.Steps, StepsPerEpoch: ss.trainer.Config.StepsPerEpoch, LossSum: e.LossSum,
		BestRecall: bestRecall(e.BestRecall), Method: ss.s.Method, Dataset: ss.s.Dataset, Saved: time.Now().Format(time.RFC3339)}
	if e.Evaluated {
		ev := ss.lastEval
		meta.Eval = &ev
	}
	state := ss.model.State()
	if name == "last" {
		state = ss.trainer.State()
	}
	return weights.Save(filepath.Join(ss.s.Out, checkpointFile(name)), state, meta)
}

// saveEmbeddings writes the test embeddings of the best model and their labels as .npy.
func (ss *session) saveEmbeddings() ([]string, error) {
	ck, err := weights.Load(filepath.Join(ss.s.Out, checkpointFile("best")), nil)
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
	return tensor.WriteFileAtomic(path, append(b, '\n'))
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
