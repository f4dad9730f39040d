package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/internal/childtest"
	"github.com/semprox/semprox/internal/fulldisk"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/vision"
	"github.com/semprox/semprox/nn/weights"
)

// argsEnv passes the command line to a child process running the command.
const argsEnv = "SEMPROX_TRAIN_ARGS"

// runChild is the child's half of a test that starts the command in a child process: it runs
// the command line the parent gave it.
func runChild(t *testing.T) {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &args); err != nil {
		t.Fatal(err)
	}
	if err := run(args, os.Stdout, os.Stderr, never); err != nil {
		t.Fatal(err)
	}
}

// startTrain starts the command with args in a child process (this test binary again, running
// the test t, whose first half must call runChild), to be killed.
func startTrain(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	js, _ := json.Marshal(args)
	cmd := childtest.Command(t, argsEnv+"="+string(js))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// killWhen kills cmd once changed reports true (polled every 100 µs) or after limit, and waits
// for it; it reports whether changed fired.
func killWhen(cmd *exec.Cmd, limit time.Duration, changed func() bool) bool {
	deadline := time.Now().Add(limit)
	fired := false
	for time.Now().Before(deadline) && !fired {
		fired = changed()
		time.Sleep(100 * time.Microsecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return fired
}

// fileChanged returns a function that reports when the file at path is no longer the one it
// was: created, renamed over, removed or rewritten.
func fileChanged(path string) func() bool {
	before, err := os.Stat(path)
	return func() bool {
		now, nowErr := os.Stat(path)
		switch {
		case err != nil || nowErr != nil:
			return (err == nil) != (nowErr == nil)
		case !os.SameFile(before, now):
			return true
		}
		return now.Size() != before.Size() || !now.ModTime().Equal(before.ModTime())
	}
}

// uninterrupted runs the command with args into a new directory, to the end, and returns the
// directory, what it printed on standard output and how long it took.
func uninterrupted(t *testing.T, args func(out string) []string) (string, string, time.Duration) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "whole")
	var out, errOut bytes.Buffer
	start := time.Now()
	if err := run(args(dir), &out, &errOut, never); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	return dir, out.String(), time.Since(start)
}

// sameRun fails t unless the run in dir logged the same losses and evaluations as want and its
// last checkpoint holds the same tensors, bit for bit, as the one in wantDir.
func sameRun(t *testing.T, what, dir, wantDir string) {
	t.Helper()
	got, want := readRun(t, dir), readRun(t, wantDir)
	js := func(e []report.EpochRecord) string { b, _ := json.Marshal(e); return string(b) }
	if js(got) != js(want) {
		t.Errorf("%s: metrics differ from the uninterrupted run:\n%s\n%s", what, js(got), js(want))
	}
	a, err := weights.Load(filepath.Join(dir, "last.safetensors"), nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b, err := weights.Load(filepath.Join(wantDir, "last.safetensors"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range b.Tensors {
		if g, ok := a.Tensors[name]; !ok || !slices.Equal(g.Data(), w.Data()) {
			t.Errorf("%s: tensor %s of the last checkpoint differs from the uninterrupted run's", what, name)
		}
	}
}

// TestKilledRunResumes kills a training process again and again, at random moments and right
// after a checkpoint file changes (within a poll of 100 µs: between the switch of
// last.safetensors and the write of last.json, and after both), resuming each time; the run
// ends with the losses, metrics and checkpoint of a run that was never interrupted.
func TestKilledRunResumes(t *testing.T) {
	if childtest.Child(t) {
		runChild(t)
		return
	}
	dataDir := smallMNIST(t, 200, 60)
	whole, _, took := uninterrupted(t, func(out string) []string { return trainArgs(dataDir, out) })
	var out, errOut bytes.Buffer
	var start time.Time
	dir := filepath.Join(t.TempDir(), "killed")
	rng := rand.New(rand.NewPCG(3, 5))
	args := trainArgs(dataDir, dir)
	watch := []string{"last.safetensors", "last.json", "best.safetensors", "metrics.jsonl", dml.ConfigFile}
	for kill := range 12 {
		cmd := startTrain(t, args...)
		var changed func() bool
		if kill%2 == 1 { // kill as soon as one of the run's files changes
			changed = fileChanged(filepath.Join(dir, watch[kill/2%len(watch)]))
		} else {
			wait := time.Duration(rng.Int64N(int64(took)))
			changed = func() bool { return time.Since(start) > wait }
			start = time.Now()
		}
		killWhen(cmd, 2*took, changed)
		if _, err := os.Stat(filepath.Join(dir, dml.ConfigFile)); err == nil {
			args = []string{"-resume", dir}
		}
	}
	if err := run(args, &out, &errOut, never); err != nil {
		t.Fatalf("the last resume: %v\n%s", err, errOut.String())
	}
	sameRun(t, "after 12 kills", dir, whole)
}

// TestResumeBeforeFirstCheckpoint resumes a run killed before its first checkpoint: it starts
// again from the beginning, and says so.
func TestResumeBeforeFirstCheckpoint(t *testing.T) {
	if childtest.Child(t) {
		runChild(t)
		return
	}
	dataDir := smallMNIST(t, 200, 60)
	whole, _, _ := uninterrupted(t, func(out string) []string { return trainArgs(dataDir, out) })
	var out, errOut bytes.Buffer
	dir := filepath.Join(t.TempDir(), "early")
	cmd := startTrain(t, trainArgs(dataDir, dir)...)
	if !killWhen(cmd, time.Minute, fileChanged(filepath.Join(dir, dml.ConfigFile))) {
		t.Fatal("the child wrote no config.json")
	}
	if _, err := os.Stat(filepath.Join(dir, "last.safetensors")); err == nil {
		t.Skip("the child saved a checkpoint before it was killed")
	}
	errOut.Reset()
	if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
		t.Fatalf("resume without a checkpoint: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "no checkpoint yet (the run stopped before its first save); starting it again from the beginning") {
		t.Errorf("the restart is not announced:\n%s", errOut.String())
	}
	sameRun(t, "restarted", dir, whole)
}

// TestFullDiskResumes trains into a tmpfs too small for the run: the run stops with an error
// naming the file that could not be written, a resume on the still full disk finds a consistent
// checkpoint (and fails on the disk again, not on the checkpoint), and once there is room the
// run resumes to the result of an uninterrupted one.
func TestFullDiskResumes(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	args := func(out string) []string {
		return append(trainArgs(dataDir, out), "-epochs", "3")
	}
	whole, _, _ := uninterrupted(t, args)
	var out, errOut bytes.Buffer
	dir := fulldisk.Mount(t, 2900<<10)
	err := run(args(dir), &out, &errOut, never)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("a run on a 2.9 MB tmpfs: %v, want a full disk", err)
	}
	errOut.Reset()
	err = run([]string{"-resume", dir}, &out, &errOut, never)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("resume on the full disk: %v, want the full disk again\n%s", err, errOut.String())
	}
	if strings.Contains(errOut.String(), "damaged") {
		t.Errorf("resume on the full disk found a damaged checkpoint:\n%s", errOut.String())
	}
	fulldisk.Resize(t, dir, 64<<20)
	if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
		t.Fatalf("resume with room: %v", err)
	}
	sameRun(t, "after a full disk", dir, whole)
}

// stoppedRun runs trainArgs into a new directory and stops it after stop steps.
func stoppedRun(t *testing.T, dataDir string, stop int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "stopped")
	var out, errOut bytes.Buffer
	if err := run(trainArgs(dataDir, dir), &out, &errOut, stopAfter(stop)); !errors.Is(err, dml.ErrStopped) {
		t.Fatalf("stop after %d: %v", stop, err)
	}
	return dir
}

// bestLine returns the summary's line that names the best epoch.
func bestLine(out string) string {
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "best R@1") {
			return line
		}
	}
	return ""
}

// TestResumeDetectsDamage damages a stopped run in the ways a disk or a person might, resumes
// it, and gets the uninterrupted run's result each time, with a message naming what was wrong.
func TestResumeDetectsDamage(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	whole, printed, _ := uninterrupted(t, func(out string) []string { return trainArgs(dataDir, out) })
	wantBest := bestLine(printed)
	var out, errOut bytes.Buffer
	flip := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-5] ^= 0x10 // inside the tensor data
		os.WriteFile(path, b, 0o644)
	}
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(to, b, 0o644)
	}
	cases := []struct {
		name   string
		stop   int // stop after this many steps (4: mid epoch 2, with epoch 1 checkpointed and logged)
		damage func(dir string)
		want   string
	}{
		{"bit flip in last", 4, func(dir string) { flip(filepath.Join(dir, "last.safetensors")) }, "damaged: the SHA-256 of its tensor data"},
		{"best copied over last", 4, func(dir string) {
			copyFile(filepath.Join(dir, "best.safetensors"), filepath.Join(dir, "last.safetensors"))
			copyFile(filepath.Join(dir, "best.json"), filepath.Join(dir, "last.json"))
		}, `holds the "best" checkpoint, not "last"`},
		{"last of another run", 4, func(dir string) {
			other := stoppedRun(t, dataDir, 4)
			copyFile(filepath.Join(other, "last.safetensors"), filepath.Join(dir, "last.safetensors"))
		}, "belongs to run"},
		{"bit flip in best", 4, func(dir string) {
			best := filepath.Join(dir, "best.safetensors")
			copyFile(best, weights.PreviousPath(best)) // as if an earlier save had kept one
			flip(best)
		}, "best.safetensors: damaged"},
		{"metrics line deleted", 4, func(dir string) { os.WriteFile(filepath.Join(dir, dml.MetricsFile), nil, 0o644) }, "metrics.jsonl: the record of epoch 1 is missing"},
		{"metrics line torn", 4, func(dir string) {
			path := filepath.Join(dir, dml.MetricsFile)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)/2], 0o644)
		}, "metrics.jsonl: the record of epoch 1 is missing"},
		{"metrics line edited", 4, func(dir string) {
			path := filepath.Join(dir, dml.MetricsFile)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.Replace(b, []byte(`"epoch":1`), []byte(`"epoch":1,"best":false`), 1), 0o644)
		}, "metrics.jsonl:1: the record of epoch 1 differs"},
	}
	t.Run("best lost", func(t *testing.T) {
		dir := stoppedRun(t, dataDir, 4)
		flip(filepath.Join(dir, "best.safetensors"))
		errOut.Reset()
		if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
			t.Fatal(err)
		}
		if want := "the best checkpoint is lost"; !strings.Contains(errOut.String(), want) {
			t.Errorf("the resume does not say %q:\n%s", want, errOut.String())
		}
		if _, err := weights.Load(filepath.Join(dir, "best.safetensors"), nil); err != nil {
			t.Errorf("no new best checkpoint: %v", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := stoppedRun(t, dataDir, tc.stop)
			tc.damage(dir)
			errOut.Reset()
			out.Reset()
			if err := run([]string{"-resume", dir}, &out, &errOut, never); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("the resume does not say %q:\n%s", tc.want, errOut.String())
			}
			sameRun(t, tc.name, dir, whole)
			if got := bestLine(out.String()); got != wantBest {
				t.Errorf("the summary says %q, the uninterrupted run %q", got, wantBest)
			}
		})
	}
}

// TestOneProcessPerRun refuses a second process on a run directory that a training process
// holds, and lets it in once that process is gone (killed: the lock dies with it).
func TestOneProcessPerRun(t *testing.T) {
	if childtest.Child(t) {
		runChild(t)
		return
	}
	dataDir := smallMNIST(t, 200, 60)
	dir := filepath.Join(t.TempDir(), "run")
	cmd := startTrain(t, trainArgs(dataDir, dir, "-epochs", "50")...)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(dir, "last.safetensors")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var out, errOut bytes.Buffer
	err := run([]string{"-resume", dir}, &out, &errOut, never)
	if err == nil || !strings.Contains(err.Error(), "in use by another training process (pid") {
		t.Errorf("a second -resume while the first trains: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := run([]string{"-resume", dir}, &out, &errOut, stopAfter(1)); !errors.Is(err, dml.ErrStopped) {
		t.Errorf("-resume once the first is killed: %v", err)
	}
}

// Flags beyond what the machine or the dataset allow are refused with the flag named, before a
// run directory is made.
func TestFlagsBeyondMachineAndData(t *testing.T) {
	dataDir := smallMNIST(t, 200, 60)
	dir := filepath.Join(t.TempDir(), "run")
	var out, errOut bytes.Buffer
	for _, bad := range [][]string{
		{"-threads", "100000"}, {"-workers", "100000"}, {"-threads", "-1"},
		{"-batch", "100000", "-k", "100000"}, {"-batch", "300", "-k", "4"}, {"-lr", "NaN"}, {"-alpha", "NaN"},
	} {
		err := run(trainArgs(dataDir, dir, bad...), &out, &errOut, never)
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming %s", bad, err, bad[0])
		}
		if _, err := os.Stat(dir); err == nil {
			t.Fatalf("%v left the run directory %s", bad, dir)
		}
	}
	vitS := nn.Configs["vit_small_patch16_224"]
	var s dml.RunConfig
	s.Batch, s.Prompts = 64, dml.PromptSpec{Count: 10}
	train := &data.Split{Samples: make([]data.Sample, 5000), Classes: 100}
	if err := dml.CheckBatch(s, train, vitS, 24<<30); err != nil {
		t.Errorf("ViT-S/16, batch 64, 24 GB: %v", err)
	}
	err := dml.CheckBatch(s, train, vitS, 2<<30)
	if err == nil || !strings.Contains(err.Error(), "-batch 64") || !strings.Contains(err.Error(), "the machine has 2.1 GB") {
		t.Errorf("ViT-S/16, batch 64, 2 GB: %v", err)
	}
	s.Class = dml.PromptSpec{Count: 1000, Depth: 12}
	if err := dml.CheckBatch(s, train, vitS, 24<<30); err == nil || !strings.Contains(err.Error(), "class prompts of 100 classes") {
		t.Errorf("1000 class prompts in 12 blocks for 100 classes: %v", err)
	}
}

// Training on images none of which can be read is an error, not a run with loss 0 (the test
// images, read first for the baseline, are fine).
func TestNoReadableImages(t *testing.T) {
	root := t.TempDir()
	var good bytes.Buffer
	png.Encode(&good, image.NewGray(image.Rect(0, 0, 28, 28)))
	for c := range 4 {
		dir := filepath.Join(root, fmt.Sprintf("class%d", c))
		os.MkdirAll(dir, 0o755)
		content := good.Bytes()
		if c < 2 { // the train classes
			content = []byte("not a PNG")
		}
		for i := range 6 {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.png", i)), content, 0o644)
		}
	}
	var out, errOut bytes.Buffer
	args := []string{"-dataset", "folder", "-data", root, "-epochs", "1", "-steps", "2", "-batch", "4", "-k", "2", "-out", filepath.Join(t.TempDir(), "run")}
	err := run(args, &out, &errOut, never)
	if err == nil || !strings.Contains(err.Error(), "could be read") {
		t.Errorf("training on unreadable images: %v\n%s", err, errOut.String())
	}
}

// -max-pixels sets the limit on decoded images, and config.json keeps it for -resume.
func TestMaxPixelsFlag(t *testing.T) {
	defer func() { vision.MaxPixels = vision.DefaultMaxPixels }()
	dataDir := smallMNIST(t, 100, 40)
	dir := filepath.Join(t.TempDir(), "run")
	var out, errOut bytes.Buffer
	if err := run(trainArgs(dataDir, dir, "-max-pixels", "20000"), &out, &errOut, stopAfter(1)); !errors.Is(err, dml.ErrStopped) {
		t.Fatal(err)
	}
	vision.MaxPixels = vision.DefaultMaxPixels
	if err := run([]string{"-resume", dir}, &out, &errOut, stopAfter(1)); !errors.Is(err, dml.ErrStopped) {
		t.Fatal(err)
	}
	if vision.MaxPixels != 20000 {
		t.Errorf("after -resume of a run with -max-pixels 20000: vision.MaxPixels = %d", vision.MaxPixels)
	}
}
