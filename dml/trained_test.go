package dml_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// LoadTrained gives back, from a run directory or either of its checkpoints, the model whose
// embeddings of the test images are bit for bit the test_embeddings.npy the run wrote, with the
// preprocessing of the run's evaluation; and it refuses, naming the file, what is not a
// checkpoint of the run.
func TestLoadTrained(t *testing.T) {
	root, runs := t.TempDir(), t.TempDir()
	if err := writeStripes(root, 8, 8); err != nil {
		t.Fatal(err)
	}
	runA := trainedTinyRun(t, root, filepath.Join(runs, "a"), "vptsp-g")
	runB := trainedTinyRun(t, root, filepath.Join(runs, "b"), "vptsp-g") // the same settings: only its run id differs
	runFull := trainedTinyRun(t, root, filepath.Join(runs, "full"), "full")
	ds, err := data.Open("folder", root)
	if err != nil {
		t.Fatal(err)
	}
	test := ds.Split("test")
	var paths []string
	for _, s := range test.Samples {
		paths = append(paths, s.Path)
	}
	last := filepath.Join(runA, "last.safetensors")
	ck, err := weights.Load(last, nil)
	if err != nil {
		t.Fatal(err)
	}
	optimizer := 0
	for _, name := range ck.Names {
		if strings.HasPrefix(name, "optimizer.") {
			optimizer++
		}
	}
	if optimizer == 0 {
		t.Fatalf("%s holds no optimizer tensors: the test would not check that LoadTrained leaves them out", last)
	}

	loads := []struct{ name, run, path, file string }{
		{"run directory", runA, runA, filepath.Join(runA, "best.safetensors")},
		{"best", runA, filepath.Join(runA, "best.safetensors"), filepath.Join(runA, "best.safetensors")},
		{"last", runA, last, last},
		{"full fine-tuning", runFull, runFull, filepath.Join(runFull, "best.safetensors")},
	}
	for _, l := range loads {
		t.Run(l.name, func(t *testing.T) {
			want, err := tensor.ReadNPY(filepath.Join(l.run, "test_embeddings.npy"))
			if err != nil {
				t.Fatal(err)
			}
			labels, err := tensor.ReadNPY(filepath.Join(l.run, "test_labels.npy"))
			if err != nil {
				t.Fatal(err)
			}
			if labels.Len() != len(test.Samples) || want.Dim(0) != len(test.Samples) {
				t.Fatalf("the run wrote %d labels and %d embeddings, the test split has %d images", labels.Len(), want.Dim(0), len(test.Samples))
			}
			for i, s := range test.Samples { // the rows are the split's images in order
				if labels.Data()[i] != float32(s.Label) {
					t.Fatalf("test_labels.npy[%d] = %v, the split's label is %d", i, labels.Data()[i], s.Label)
				}
			}
			cfg, err := dml.ReadRunConfig(l.run)
			if err != nil {
				t.Fatal(err)
			}

			tr, err := dml.LoadTrained(context.Background(), l.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Checkpoint != l.file || tr.Epoch != 1 {
				t.Errorf("Checkpoint %s, Epoch %d; want %s, 1", tr.Checkpoint, tr.Epoch, l.file)
			}
			if tr.Config.Method != cfg.Method || tr.Config.Seed != cfg.Seed || tr.Config.Out != l.run || tr.Precision.String() != cfg.Precision {
				t.Errorf("Config: method %s, seed %d, out %s, precision %s; config.json gives %s, %d, %s, %s",
					tr.Config.Method, tr.Config.Seed, tr.Config.Out, tr.Precision, cfg.Method, cfg.Seed, l.run, cfg.Precision)
			}
			if got := tr.Model.Bias.Value.Dim(0); got != 4 {
				t.Errorf("%d training classes, want 4 (the first half of 8)", got)
			}
			// The evaluation of a folder of photos: resize to 8/7 of the backbone's input, center
			// crop, the interpolation and the normalisation config.json records.
			size := tr.Model.ViT.ImageSize
			interp, err := vision.ParseInterpolation(cfg.Interp)
			if err != nil {
				t.Fatal(err)
			}
			pre := vision.Preprocess{Resize: size * 8 / 7, Crop: size, Interp: interp, Mean: cfg.Mean, Std: cfg.Std}
			if tr.Preprocess != pre || cfg.Mean == (vision.Channels{}) {
				t.Errorf("Preprocess %+v, want %+v", tr.Preprocess, pre)
			}
			t.Logf("%s: %+v, %s weights", tr.Checkpoint, tr.Preprocess, tr.Precision)
			if diff := trainedDiffer(trainedEmbed(t, tr, paths, tr.Preprocess), want); diff != "" {
				t.Errorf("embeddings of the test images %s test_embeddings.npy", diff)
			}
			// What the comparison sees: another preprocessing, or another packing in bf16,
			// changes them.
			other := tr.Preprocess
			other.Resize = other.Crop
			if trainedDiffer(trainedEmbed(t, tr, paths, other), want) == "" {
				t.Errorf("embeddings without the resize margin are test_embeddings.npy too")
			}
			if tr.Precision == kernels.BF16 {
				if cfg.Method == "full" { // the run read its trained weights unpacked
					tr.Model.ViT.PackAll(kernels.BF16)
				} else {
					tr.Model.ViT.Unpack()
				}
				if trainedDiffer(trainedEmbed(t, tr, paths, tr.Preprocess), want) == "" {
					t.Errorf("embeddings with the weight matrices packed otherwise are those of the run")
				}
			}
		})
	}

	runID := func(dir string) string {
		var rec struct{ Run string }
		b, err := os.ReadFile(filepath.Join(dir, dml.ConfigFile))
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil || rec.Run == "" {
			t.Fatalf("the run id of %s: %q, %v", dir, rec.Run, err)
		}
		return rec.Run
	}
	// A copy of run A's config.json in a new directory, with files from fill.
	runCopy := func(t *testing.T, fill func(dir string)) string {
		dir := t.TempDir()
		trainedCopy(t, filepath.Join(runA, dml.ConfigFile), filepath.Join(dir, dml.ConfigFile))
		fill(dir)
		return dir
	}
	best := func(dir string) string { return filepath.Join(dir, "best.safetensors") }
	checkpoint := func(t *testing.T, from, to string) { // a checkpoint and its JSON
		trainedCopy(t, from, to)
		trainedCopy(t, weights.MetaPath(from), weights.MetaPath(to))
	}
	// rewrite saves run A's best checkpoint into dir as best.safetensors, with its metadata,
	// after edit.
	rewrite := func(t *testing.T, dir string, edit func(map[string]*tensor.Tensor)) {
		var meta map[string]any
		ck, err := weights.Load(best(runA), &meta)
		if err != nil {
			t.Fatal(err)
		}
		edit(ck.Tensors)
		if err := weights.Save(best(dir), ck.Tensors, meta); err != nil {
			t.Fatal(err)
		}
	}
	errorCases := []struct {
		name string
		path func(t *testing.T) string
		want func(path string) []string // what the message must say
		is   error
	}{
		{"missing directory", func(*testing.T) string { return filepath.Join(runA, "missing") },
			func(p string) []string { return []string{p} }, fs.ErrNotExist},
		{"no config.json", func(t *testing.T) string {
			dir := t.TempDir()
			checkpoint(t, best(runA), best(dir))
			return best(dir)
		}, func(p string) []string { return []string{filepath.Dir(p), "config.json"} }, nil},
		{"no best checkpoint yet", func(t *testing.T) string {
			return runCopy(t, func(dir string) { checkpoint(t, last, filepath.Join(dir, "last.safetensors")) })
		}, func(p string) []string { return []string{best(p), filepath.Join(p, "last.safetensors")} }, fs.ErrNotExist},
		{"another run's checkpoint", func(t *testing.T) string {
			return runCopy(t, func(dir string) { checkpoint(t, best(runB), best(dir)) })
		}, func(p string) []string { return []string{best(p), runID(runA), runID(runB)} }, nil},
		{"last copied over best", func(t *testing.T) string {
			return runCopy(t, func(dir string) { checkpoint(t, last, best(dir)) })
		}, func(p string) []string { return []string{best(p), `"last"`} }, nil},
		{"truncated", func(t *testing.T) string {
			return runCopy(t, func(dir string) {
				b := trainedRead(t, best(runA))
				trainedWrite(t, best(dir), b[:len(b)/2])
			})
		}, func(p string) []string { return []string{best(p)} }, nil},
		{"damaged data", func(t *testing.T) string {
			return runCopy(t, func(dir string) {
				b := trainedRead(t, best(runA))
				b[len(b)-3] ^= 0x40
				trainedWrite(t, best(dir), b)
			})
		}, func(p string) []string { return []string{best(p), "damaged"} }, nil},
		{"no proxy_bias", func(t *testing.T) string {
			return runCopy(t, func(dir string) {
				rewrite(t, dir, func(ts map[string]*tensor.Tensor) { delete(ts, "proxy_bias") })
			})
		}, func(p string) []string { return []string{best(p), "proxy_bias"} }, nil},
		{"proxy_bias of another width", func(t *testing.T) string {
			return runCopy(t, func(dir string) {
				rewrite(t, dir, func(ts map[string]*tensor.Tensor) {
					ts["proxy_bias"] = tensor.New(4, ts["proxy_bias"].Dim(1)+1)
				})
			})
		}, func(p string) []string { return []string{best(p), "proxy_bias", "shape"} }, nil},
		{"a tensor of another shape", func(t *testing.T) string {
			return runCopy(t, func(dir string) {
				rewrite(t, dir, func(ts map[string]*tensor.Tensor) {
					ts["head.proj.weight"] = tensor.New(ts["head.proj.weight"].Dim(0)+1, ts["head.proj.weight"].Dim(1))
				})
			})
		}, func(p string) []string { return []string{best(p), "head.proj.weight"} }, nil},
		{"a missing tensor", func(t *testing.T) string {
			return runCopy(t, func(dir string) {
				rewrite(t, dir, func(ts map[string]*tensor.Tensor) { delete(ts, "head.proj.bias") })
			})
		}, func(p string) []string { return []string{best(p), "head.proj.bias"} }, nil},
	}
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path(t)
			tr, err := dml.LoadTrained(context.Background(), path, nil)
			if err == nil {
				t.Fatalf("LoadTrained(%s) loaded %s, want an error", path, tr.Checkpoint)
			}
			t.Log(err)
			for _, s := range c.want(path) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not say %q: %v", s, err)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("the error is not %v: %v", c.is, err)
			}
		})
	}
}

// trainedTinyRun trains two steps of method with the embedded backbone's preset on the stripes
// in root into out, writing the test embeddings, and returns out.
func trainedTinyRun(t *testing.T, root, out, method string) string {
	t.Helper()
	cfg := dml.NewRunConfig("folder", dml.Presets[dml.DefaultPreset])
	cfg.Data, cfg.Out, cfg.Embeddings, cfg.Method = root, out, true, method
	cfg.Epochs, cfg.StepLimit, cfg.Batch, cfg.K = 1, 2, 8, 2
	if _, err := dml.Train(context.Background(), cfg, dml.Options{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// trainedEmbed embeds the images at paths, preprocessed by pre, in one batch (as the run's
// evaluation did: its batch is at least 64), with the trained model.
func trainedEmbed(t *testing.T, tr *dml.Trained, paths []string, pre vision.Preprocess) *tensor.Tensor {
	t.Helper()
	n := 3 * pre.Crop * pre.Crop
	done := false
	emb, _, err := dml.EmbedBatches(len(paths), func() (*tensor.Tensor, []int, error) {
		if done {
			return nil, nil, nil
		}
		done = true
		x := tensor.New(len(paths), 3, pre.Crop, pre.Crop)
		for i, p := range paths {
			if err := pre.ApplyFile(x.Data()[i*n:(i+1)*n], p); err != nil {
				return nil, nil, err
			}
		}
		return x, nil, nil
	}, tr.Model.Embed)
	if err != nil {
		t.Fatal(err)
	}
	return emb
}

// trainedDiffer says how got differs from want, bit for bit; "" when it does not.
func trainedDiffer(got, want *tensor.Tensor) string {
	if got.Dims() != 2 || got.Dim(0) != want.Dim(0) || got.Dim(1) != want.Dim(1) {
		return "have shape " + trainedShape(got) + ", not that of"
	}
	for i, g := range got.Data() {
		if w := want.Data()[i]; math.Float32bits(g) != math.Float32bits(w) {
			return "differ from"
		}
	}
	return ""
}

func trainedShape(t *tensor.Tensor) string {
	b, _ := json.Marshal(t.Shape())
	return string(b)
}

func trainedRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func trainedWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func trainedCopy(t *testing.T, from, to string) {
	t.Helper()
	trainedWrite(t, to, trainedRead(t, from))
}
