package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn/weights"
)

func never() bool { return false }

// A dry run reads a dataset, builds the model and prints both; a bad layout names the file at
// fault.
func TestDryRun(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-dataset", "mnist", "-dry-run"}, &out, &errOut, never); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dataset mnist", "train", "test", "skipped", "method vptsp-g, preset mnist_micro", "trainable parameters"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "images.txt"), []byte("1 a/x.jpg\nnot a line\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "image_class_labels.txt"), []byte("1 1\n2 1\n"), 0o644)
	err := run([]string{"-dataset", "cub", "-data", dir, "-dry-run"}, &out, &errOut, never)
	if err == nil || !strings.Contains(err.Error(), "images.txt") {
		t.Errorf("bad CUB layout: error %v, want one naming images.txt", err)
	}
	if err := run([]string{"-dataset", "nope", "-dry-run"}, &out, &errOut, never); err == nil {
		t.Error("unknown dataset accepted")
	}
}

// A preset gives the defaults; explicit flags override them; bad values are named.
func TestFlagsAndPresets(t *testing.T) {
	resolve := func(width int, args ...string) (dml.RunConfig, error) {
		t.Helper()
		o, err := parseOptions(args)
		if err != nil {
			return dml.RunConfig{}, err
		}
		s, err := resolvePreset(o, width)
		if err == nil {
			err = s.Validate()
		}
		return s, err
	}
	s, err := resolve(96)
	micro := dml.Presets["mnist_micro"]
	if err != nil || s.Name != "mnist_micro" || s.LR != micro.LR || s.Batch != micro.Batch || s.Prompts != micro.Prompts || s.Method != "vptsp-g" ||
		s.Interp != "bicubic" || s.PositivesOverAll || s.ClassAfterDataset || s.GRUDropout != 0 || s.AdapterBlocks != 0 {
		t.Errorf("defaults: %+v, %v", s, err)
	}
	s, err = resolve(384, "-dataset", "cub", "-lr", "0.02", "-prompts", "7")
	cub := dml.Presets["cub200_small"]
	if err != nil || s.Name != "cub200_small" || s.LR != 0.02 || s.LRProxy != cub.LRProxy || s.Prompts.Count != 7 || s.Prompts.Depth != cub.Prompts.Depth || s.Epochs != cub.Epochs {
		t.Errorf("cub with -lr and -prompts: %+v, %v", s, err)
	}
	if s.Method != "vptsp-g+bitfit" || s.Interp != "bilinear" || s.Semantics != dml.Released(dml.PromptsDense, 0) || s.AdapterBlocks != 7 || s.AdapterBlocksBitFit != 1 {
		t.Errorf("cub: method %s, interpolation %s, semantics %+v, adapter blocks %d and %d", s.Method, s.Interp, s.Semantics, s.AdapterBlocks, s.AdapterBlocksBitFit)
	}
	s, err = resolve(384, "-dataset", "cub", "-method", "vpt", "-interp", "bicubic", "-pa-all=false", "-class-after-dataset", "-class-prompt-state", "per-row",
		"-gru-mix", "paper", "-gru-dropout", "0.3", "-init", "semprox", "-adapter-blocks", "4")
	want := dml.Semantics{ClassAfterDataset: true, ClassPromptState: dml.PromptsPerRow, GRUMix: dml.MixPaper, GRUDropout: 0.3, Init: dml.InitSemprox}
	if err != nil || s.Method != "vpt" || s.Interp != "bicubic" || s.Semantics != want || s.AdapterBlocks != 4 || s.AdapterBlocksBitFit != 4 {
		t.Errorf("cub with every semantics flag: method %s, interpolation %s, semantics %+v, adapter blocks %d and %d, %v", s.Method, s.Interp, s.Semantics, s.AdapterBlocks, s.AdapterBlocksBitFit, err)
	}
	if s, _ := resolve(384, "-dataset", "sop", "-gru-dropout", "0"); s.Semantics != dml.Released(dml.PromptsBank, 0) || s.Name != "sop_small" {
		t.Errorf("sop with -gru-dropout 0: %+v", s.Semantics)
	}
	if s, _ := resolve(96, "-preset", "inshop_small"); s.Semantics != dml.Released(dml.PromptsBank, 0.1) || s.Method != "vptsp-g+bitfit" {
		t.Errorf("inshop_small: %s, %+v", s.Method, s.Semantics)
	}
	if s, _ := resolve(768, "-dataset", "cars"); s.Name != "cars_basic" {
		t.Errorf("cars on a ViT-B: preset %s", s.Name)
	}
	if s, _ := resolve(96, "-preset", "sop_small", "-batch", "30", "-k", "3"); s.Name != "sop_small" || s.Batch != 30 || s.K != 3 || s.Optimizer != "adamw" {
		t.Errorf("-preset sop_small -batch 30 -k 3: %+v", s)
	}
	for _, bad := range [][]string{
		{"-batch", "10", "-k", "3"}, {"-method", "lora"}, {"-alpha", "2"}, {"-preset", "cub"}, {"-std", "1,0,1"},
		{"-epochs", "0"}, {"-lr", "-1"}, {"stray"},
		{"-lr", "NaN"}, {"-lr-proxy", "+Inf"}, {"-alpha", "NaN"}, {"-wd", "NaN"}, {"-wd", "-1"}, {"-clip", "NaN"},
		{"-max-pixels", "-1"}, {"-precision", "fp16"}, {"-mean", "-1,0.5,0.5"}, {"-cosine-min", "Inf"}, {"-embed-dim", "1000000"}, {"-prompts", "5000"}, {"-class-prompts", "5000"},
	} {
		_, err := resolve(96, bad...)
		if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(bad[0], "-")) {
			t.Errorf("%v: error %v, want one naming %s", bad, err, bad[0])
		}
	}
	if _, err := parseOptions([]string{"-resume", "x", "-lr", "1"}); err == nil || !strings.Contains(err.Error(), "-lr") {
		t.Errorf("-resume with -lr: %v", err)
	}
	if _, err := parseOptions([]string{"-resume", "x", "-threads", "1"}); err != nil {
		t.Errorf("-resume with -threads: %v", err)
	}
}

// smallMNIST writes the first train and test images of MNIST as an IDX directory, for runs
// that take seconds.
func smallMNIST(t *testing.T, train, test int) string {
	t.Helper()
	ds, err := data.ReadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, sp := range []struct {
		split, prefix string
		n             int
	}{{"train", "train", train}, {"test", "t10k", test}} {
		s := ds.Split(sp.split)
		var pix, labels []byte
		for i := range sp.n {
			pix = append(pix, s.Images[s.Samples[i].Index].(*image.Gray).Pix...)
			label := s.Samples[i].Label
			if sp.split == "test" {
				label += 5
			}
			labels = append(labels, byte(label))
		}
		writeIDX(t, filepath.Join(dir, sp.prefix+"-images-idx3-ubyte"), 0x803, []int{sp.n, 28, 28}, pix)
		writeIDX(t, filepath.Join(dir, sp.prefix+"-labels-idx1-ubyte"), 0x801, []int{sp.n}, labels)
	}
	return dir
}

func writeIDX(t *testing.T, path string, magic uint32, dims []int, body []byte) {
	t.Helper()
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	if err := os.WriteFile(path, append(b, body...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// trainArgs is a run of 2 epochs of 3 steps on a small MNIST directory with the embedded
// backbone, normalised with an explicit -mean that a resumed run must keep.
func trainArgs(dataDir, out string, extra ...string) []string {
	return append([]string{"-dataset", "mnist", "-data", dataDir, "-epochs", "2", "-steps", "3", "-batch", "20", "-k", "4",
		"-cosine-t", "2", "-mean", "0.45,0.45,0.45", "-out", out}, extra...)
}

// stopAfter returns a stop function that asks to stop once n steps have been done.
func stopAfter(n int) func() bool {
	steps := 0
	return func() bool { steps++; return steps >= n }
}

// readRun returns the epochs of a run's metrics.jsonl without their timings.
func readRun(t *testing.T, dir string) []report.EpochRecord {
	t.Helper()
	epochs, err := report.ReadLog(filepath.Join(dir, dml.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range epochs {
		epochs[i].Seconds, epochs[i].ImagesPerSec, epochs[i].Images = 0, 0, 0
	}
	return epochs
}

// The whole command: it trains, evaluates, writes the run directory, and a run stopped at any
// step, or killed mid-epoch, resumes to the same final metrics as an uninterrupted one.
func TestTrainResumeEndToEnd(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	for _, p := range []kernels.Precision{kernels.FP32, kernels.BF16} {
		t.Run(p.String(), func(t *testing.T) { checkTrainResume(t, dataDir, p) })
	}
}

// checkTrainResume trains in the given precision, whole and stopped and resumed, and compares.
func checkTrainResume(t *testing.T, dataDir string, p kernels.Precision) {
	var out, errOut bytes.Buffer
	whole := filepath.Join(t.TempDir(), "whole")
	if err := run(trainArgs(dataDir, whole, "-precision", p.String()), &out, &errOut, never); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if cfg, err := dml.ReadRunConfig(whole); err != nil || cfg.Precision != p.String() {
		t.Errorf("config.json records precision %q (%v), want %s", cfg.Precision, err, p)
	}
	if !strings.Contains(errOut.String(), p.String()+" frozen weights") {
		t.Errorf("the description does not name the precision %s:\n%s", p, errOut.String())
	}
	for _, f := range []string{dml.ConfigFile, dml.BaselineFile, dml.MetricsFile, "best.safetensors", "best.json", "last.safetensors", "last.json", "loss.png", "recall.png"} {
		if _, err := os.Stat(filepath.Join(whole, f)); err != nil {
			t.Errorf("the run directory lacks %s", f)
		}
	}
	for _, want := range []string{"frozen backbone: R@1", "epoch 2: R@1", "best R@1", "vs frozen backbone"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "epoch 2/2 step 3/3") {
		t.Errorf("progress lacks the last step of epoch 2:\n%s", errOut.String())
	}
	want := readRun(t, whole)
	if len(want) != 2 || want[1].Eval == nil {
		t.Fatalf("metrics %+v", want)
	}

	for _, stop := range []int{2, 3, 4} {
		dir := filepath.Join(t.TempDir(), "parts")
		err := run(trainArgs(dataDir, dir, "-precision", p.String()), &out, &errOut, stopAfter(stop))
		if !errors.Is(err, dml.ErrStopped) {
			t.Fatalf("stop after %d steps: %v", stop, err)
		}
		if !strings.Contains(errOut.String(), "-resume "+dir) {
			t.Errorf("the stop message does not say how to resume")
		}
		if stop == 3 {
			// A kill during epoch 2 after its metrics line was written but before its checkpoint.
			f, _ := os.OpenFile(filepath.Join(dir, dml.MetricsFile), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"epoch":2,"loss":1}` + "\n")
			f.Close()
		}
		if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
			t.Fatalf("resume after %d steps: %v", stop, err)
		}
		got := readRun(t, dir)
		if len(got) != len(want) {
			t.Fatalf("stop after %d: %d epochs logged, want %d", stop, len(got), len(want))
		}
		for i := range want {
			if got[i].Loss != want[i].Loss || got[i].Eval.Recall[0] != want[i].Eval.Recall[0] || got[i].Eval.MAPAtR != want[i].Eval.MAPAtR {
				t.Errorf("stop after %d, epoch %d: loss %v R@1 %v MAP@R %v, uninterrupted %v %v %v", stop, i+1,
					got[i].Loss, got[i].Eval.Recall[0], got[i].Eval.MAPAtR, want[i].Loss, want[i].Eval.Recall[0], want[i].Eval.MAPAtR)
			}
		}
	}

	if err := run(trainArgs(dataDir, whole), &out, &errOut, never); err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Errorf("a second run into %s: %v", whole, err)
	}
	if err := run([]string{"-resume", filepath.Join(t.TempDir(), "none")}, &out, &errOut, never); err == nil || !strings.Contains(err.Error(), dml.ConfigFile) {
		t.Errorf("-resume of a missing run: %v", err)
	}
}

// A loss that is not finite stops the run with an error naming the epoch and step; the
// checkpoint of the last good epoch stays, and the run resumes from it.
func TestNonFiniteLossStops(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	dir := filepath.Join(t.TempDir(), "run")
	var out, errOut bytes.Buffer
	// Cosine annealing from 1e-3 to 1e30 in one epoch: epoch 1 trains, epoch 2 diverges.
	args := trainArgs(dataDir, dir, "-optimizer", "sgd", "-lr", "1e-3", "-lr-proxy", "1e-3", "-cosine-min", "1e30", "-cosine-t", "1")
	err := run(args, &out, &errOut, never)
	if err == nil || !strings.Contains(err.Error(), "epoch 2, step") {
		t.Fatalf("error %v, want one naming epoch 2 and its step", err)
	}
	var meta struct {
		Epoch int `json:"epoch"`
		Steps int `json:"steps"`
	}
	if _, err := weights.Load(filepath.Join(dir, "last.safetensors"), &meta); err != nil || meta.Epoch != 1 || meta.Steps != 3 {
		t.Errorf("last checkpoint after the stop: epoch %d step %d, %v; want epoch 1 complete", meta.Epoch, meta.Steps, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if err := run([]string{"-resume", dir}, &out, &errOut, never); err == nil || !strings.Contains(err.Error(), "epoch 2, step") {
		t.Errorf("resuming the diverged run: %v", err)
	}
}

// -compare trains each method into its own directory and writes one table of all of them.
func TestCompare(t *testing.T) {
	dataDir := smallMNIST(t, 100, 40)
	root := filepath.Join(t.TempDir(), "cmp")
	var out, errOut bytes.Buffer
	args := []string{"-dataset", "mnist", "-data", dataDir, "-epochs", "1", "-steps", "2", "-batch", "20", "-k", "4", "-out", root, "-compare", "linear,vpt+bitfit",
		"-preset", "cub200_small", "-embed-dim", "64"}
	if err := run(args, &out, &errOut, never); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	table, err := os.ReadFile(filepath.Join(root, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| frozen backbone | 0 | 0 |", "| linear | 6720 | 6720 | ", "| vpt+bitfit | ", "preset cub200_small, 1 epochs"} {
		if !strings.Contains(string(table), want) {
			t.Errorf("results table lacks %q:\n%s", want, table)
		}
	}
	for _, method := range []string{"linear", "vpt+bitfit"} {
		dir := filepath.Join(root, strings.ReplaceAll(method, "+", "_"))
		if _, err := os.Stat(filepath.Join(dir, "best.safetensors")); err != nil {
			t.Errorf("no run directory for %s: %v", method, err)
		}
		s, err := dml.ReadRunConfig(dir)
		if err != nil || s.Method != method || s.Semantics != dml.Released(dml.PromptsDense, 0) || s.Interp != "bilinear" {
			t.Errorf("%s: config.json has method %s, semantics %+v, interpolation %s (%v)", method, s.Method, s.Semantics, s.Interp, err)
		}
	}
	if _, err := parseOptions([]string{"-compare", "linear", "-method", "vpt"}); err == nil {
		t.Error("-compare with -method accepted")
	}
}

// Without -out a run names its directory under runs/, and the stop message gives that name.
func TestDefaultRunDirectory(t *testing.T) {
	dataDir := smallMNIST(t, 100, 40)
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	args := []string{"-dataset", "mnist", "-data", dataDir, "-epochs", "1", "-steps", "2", "-batch", "20", "-k", "4"}
	if err := run(args, &out, &errOut, stopAfter(1)); !errors.Is(err, dml.ErrStopped) {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	dirs, _ := filepath.Glob(filepath.Join("runs", "mnist-vptsp-g-*"))
	if len(dirs) != 1 || !strings.Contains(errOut.String(), "go run ./cmd/train -resume "+dirs[0]+"\n") {
		t.Fatalf("run directories %v; stop message:\n%s", dirs, errOut.String())
	}
	if err := run([]string{"-resume", dirs[0]}, &out, &errOut, never); err != nil {
		t.Fatal(err)
	}
}
