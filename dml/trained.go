package dml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// Trained is a model trained by a session, loaded for inference: the run's backbone with the
// checkpoint's trained tensors, the run's settings and the preprocessing its evaluation gave the
// test images. Preprocess.ApplyFile (or data.EvalTransform{Preprocess}) then Model.Embed on a
// no-grad tape (EmbedBatches does both) gives the embeddings the run's own evaluation gave, bit
// for bit in the run's precision and thread count (kernels.Threads): from the best checkpoint,
// the test_embeddings.npy a run with Embeddings writes.
//
// The frozen weight matrices of Model.ViT come packed in Precision for the forward pass, as the
// run packed them (nn.ViT.PackFrozen, less the input gradient's copies, which inference does not
// use); the weights that trained are left unpacked, read in float32 as the run's evaluation read
// them. A caller may repack them (Model.ViT.PackAll in another precision, say) or Unpack them:
// Embed works either way, but only this packing reproduces the run's embeddings exactly (PackAll
// in the run's precision differs from it only in bf16 and for the methods that train the weight
// matrices, full and proxy-anchor).
type Trained struct {
	Model      *Model            // its Embed gives the run's embeddings
	Config     RunConfig         // the run's settings as config.json records them; Out is the run directory
	Preprocess vision.Preprocess // the run's evaluation preprocessing: resize, crop, interpolation, mean, std
	Precision  kernels.Precision // config.json's precision, in which the frozen weights are packed
	Checkpoint string            // the file read
	// Epoch is the 1-based epoch of the checkpoint, from its metadata: for "best" the epoch whose
	// evaluation was the best, for "last" the epoch it ended (or, for a run stopped part-way
	// through an epoch, the epoch in progress).
	Epoch int
}

// LoadTrained reads a run's checkpoint for inference. path is a run directory (its best
// checkpoint is read, best.safetensors) or a checkpoint file of one (best.safetensors or
// last.safetensors; config.json is read from its directory). The backbone is loaded as the run
// loaded it (LoadBackbone with config.json's settings: its weights, pinned to the commit it read
// for a hub model, heads and normalisation), with download progress, if any, on progress (nil
// discards it), which also gets a notice when the run's precision is bf16 and this CPU computes
// it in plain Go.
//
// The checkpoint must be one that weights.SaveKeeping wrote for this run (its metadata names
// config.json's run id, and the checkpoint it was saved as when the file is best or last) and
// hold the model's tensors, with their shapes, and the proxy bias, which gives the number of
// training classes; a "last" checkpoint's optimizer state is ignored. Unlike a resumed session,
// LoadTrained never falls back on the previous checkpoint (best.prev.safetensors): a damaged
// file is an error. Every error names the file at fault. LoadTrained sets no global state: the
// caller sets the threads (kernels.SetThreads) and the bound on image size
// (vision.MaxPixels; the run's is Config.MaxPixels) it wants.
func LoadTrained(ctx context.Context, path string, progress io.Writer) (*Trained, error) {
	progress = orDiscard(progress)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loading a trained model: %w", err)
	}
	dir, file := path, filepath.Join(path, checkpointFile("best"))
	if !st.IsDir() {
		dir, file = filepath.Dir(path), path
	}
	configPath := filepath.Join(dir, ConfigFile)
	if _, err := os.Stat(configPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading a trained model from %s: %s has no %s: not a run directory that cmd/train or dml.Train wrote", path, dir, ConfigFile)
	}
	rec, err := readRecord(dir)
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "-resume: ") {
			err = inner // readRecord speaks to -resume; the file it names is what matters here
		}
		return nil, fmt.Errorf("loading a trained model: %w", err)
	}
	cfg := rec.Settings

	var meta checkpointMeta
	ck, err := weights.Load(file, &meta)
	if err != nil {
		if prev := weights.PreviousPath(file); prev != file && checkpointExists(prev) {
			err = fmt.Errorf("%w (the checkpoint it replaced is %s)", err, prev)
		} else if last := filepath.Join(dir, checkpointFile("last")); st.IsDir() && errors.Is(err, fs.ErrNotExist) && checkpointExists(last) {
			err = fmt.Errorf("%w (the run has no best checkpoint yet, only %s)", err, last)
		}
		return nil, fmt.Errorf("loading a trained model: %w", err)
	}
	if err := checkTrainedMeta(file, rec, meta); err != nil {
		return nil, err
	}
	state := map[string]*tensor.Tensor{}
	for name, t := range ck.Tensors {
		if !strings.HasPrefix(name, optimizerPrefix) {
			state[name] = t
		}
	}
	bias, ok := state["proxy_bias"]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: no tensor proxy_bias, which gives the number of training classes: not a checkpoint of a dml model", file)
	case bias.Dims() != 2 || bias.Dim(0) < 1 || bias.Dim(1) != cfg.EmbedDim:
		return nil, fmt.Errorf("%s: tensor proxy_bias has shape %v, want [classes, %d] (the embedding width of %s)", file, bias.Shape(), cfg.EmbedDim, configPath)
	}
	classes := bias.Dim(0)

	precision, err := kernels.ParsePrecision(cfg.Precision)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, err)
	}
	kind, err := data.Lookup(cfg.Dataset)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, err)
	}
	bb, err := LoadBackbone(ctx, cfg, progress)
	if err != nil {
		return nil, fmt.Errorf("loading the backbone of %s: %w", configPath, err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x1417)) // as Session.build draws the initial values
	model, err := NewModel(bb.ViT, cfg.ModelConfig, classes, rng)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, err)
	}
	if err := model.LoadState(state); err != nil {
		return nil, fmt.Errorf("%s does not fit the model of %s: %w", file, configPath, err)
	}
	model.ViT.PackFrozenForward(precision)
	if _, warning, _ := kernels.ChoosePrecision(precision.String()); warning != "" {
		fmt.Fprintf(progress, "notice: %s runs in %s: %s\n", dir, precision, warning)
	}
	_, eval, err := transforms(cfg, kind, bb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", configPath, err)
	}
	ev, ok := eval.(data.EvalTransform)
	if !ok {
		return nil, fmt.Errorf("%s: the evaluation transform of dataset %s is a %T, not a data.EvalTransform", configPath, cfg.Dataset, eval)
	}
	return &Trained{Model: model, Config: cfg, Preprocess: ev.Preprocess, Precision: precision, Checkpoint: file, Epoch: meta.Epoch}, nil
}

// checkTrainedMeta refuses a checkpoint that is not of the run of rec (config.json's run id, its
// method and dataset) or that holds another checkpoint than its name says (last copied over
// best). A checkpoint or config.json from before the fields were recorded passes on them.
func checkTrainedMeta(file string, rec runRecord, meta checkpointMeta) error {
	configPath := filepath.Join(rec.Settings.Out, ConfigFile)
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(file), ".safetensors"), ".prev")
	switch {
	case meta.Run != "" && rec.Run != "" && meta.Run != rec.Run:
		return fmt.Errorf("%s belongs to run %s, not to the run %s of %s: a checkpoint of another run", file, meta.Run, rec.Run, configPath)
	case meta.Kind != "" && (name == "best" || name == "last") && meta.Kind != name:
		return fmt.Errorf("%s holds the %q checkpoint, not %q: a file was copied over it", file, meta.Kind, name)
	case meta.Method != "" && meta.Method != rec.Settings.Method:
		return fmt.Errorf("%s is a checkpoint of method %s, %s gives %s", file, meta.Method, configPath, rec.Settings.Method)
	case meta.Dataset != "" && meta.Dataset != rec.Settings.Dataset:
		return fmt.Errorf("%s is a checkpoint of dataset %s, %s gives %s", file, meta.Dataset, configPath, rec.Settings.Dataset)
	}
	return nil
}

// checkpointExists reports whether path names a regular file.
func checkpointExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
