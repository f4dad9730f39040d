package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/semprox/semprox/kernels"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/weights"
)

// writeIDX writes a gzip IDX file: magic 0x0000080n, the dimensions, then the bytes.
func writeIDX(t *testing.T, path string, dims []int, pix []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	binary.Write(zw, binary.BigEndian, uint32(0x800+len(dims)))
	for _, d := range dims {
		binary.Write(zw, binary.BigEndian, uint32(d))
	}
	zw.Write(pix)
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixtureDir writes a tiny Fashion-MNIST-like directory: n train and m t10k 28x28 images,
// each class a brighter square at its own place so that the classes can be told apart.
func fixtureDir(t *testing.T, n, m int) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sp := range []struct {
		prefix string
		count  int
	}{{"train", n}, {"t10k", m}} {
		pix := make([]byte, sp.count*28*28)
		labels := make([]byte, sp.count)
		for i := range sp.count {
			c := i % classes
			labels[i] = byte(c)
			img := pix[i*784 : (i+1)*784]
			for j := range img {
				img[j] = byte(rng.IntN(64))
			}
			for y := 2 * c; y < 2*c+8; y++ {
				for x := 4; x < 20; x++ {
					img[y*28+x] = 255
				}
			}
		}
		writeIDX(t, filepath.Join(dir, sp.prefix+"-images-idx3-ubyte.gz"), []int{sp.count, 28, 28}, pix)
		writeIDX(t, filepath.Join(dir, sp.prefix+"-labels-idx1-ubyte.gz"), []int{sp.count}, labels)
	}
	return dir
}

// The command trains for a few steps and writes a backbone that loads into an nn.ViT, with
// its record; the same seed and thread count give the same weights.
func TestRunWritesLoadableCheckpoint(t *testing.T) {
	dir := fixtureDir(t, 40, 20)
	procs, threads := runtime.GOMAXPROCS(0), kernels.Threads()
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); kernels.SetThreads(threads) })
	outDir := t.TempDir()
	// The two runs test in different precisions: the weights they train must still be the same,
	// as training is always fp32.
	precisions := []string{"fp32", "bf16"}
	tensors := make([]map[string][]float32, 2)
	for i := range tensors {
		out := filepath.Join(outDir, "run"+string(rune('a'+i))+".safetensors")
		var log bytes.Buffer
		args := []string{"-data", dir, "-limit", "32", "-batch", "16", "-epochs", "2", "-threads", "1", "-seed", "7", "-out", out, "-precision", precisions[i]}
		if err := run(args, &log); err != nil {
			t.Fatalf("run: %v\n%s", err, log.String())
		}
		if !strings.Contains(log.String(), "epoch 2/2 test accuracy") {
			t.Errorf("log lacks the per-epoch test accuracy:\n%s", log.String())
		}
		var meta Meta
		ck, err := weights.Load(out, &meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nn.NewViTFromCheckpoint(ck, meta.Config); err != nil {
			t.Fatalf("checkpoint does not load into a ViT: %v", err)
		}
		if meta.Arch != "vit_micro_patch4_28" || meta.Config != nn.Configs[meta.Arch] || meta.TrainImages != 32 ||
			meta.Epochs != 2 || meta.Seed != 7 || meta.Mean != mean || !strings.Contains(meta.Command, "-limit 32") ||
			meta.TestAccuracy < 0 || meta.TestAccuracy > 1 || meta.Precision != precisions[i] {
			t.Errorf("metadata %+v", meta)
		}
		tensors[i] = map[string][]float32{}
		for name, v := range ck.Tensors {
			if strings.HasPrefix(name, "head") {
				t.Errorf("checkpoint holds the classifier tensor %s", name)
			}
			tensors[i][name] = v.Data()
		}
	}
	for name, a := range tensors[0] {
		for j, v := range a {
			if math.Float32bits(v) != math.Float32bits(tensors[1][name][j]) {
				t.Fatalf("%s[%d] differs between two runs of the same seed: %v, %v", name, j, v, tensors[1][name][j])
			}
		}
	}
}

// Bad flags and a missing data directory stop the command with an error naming them.
func TestRunErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "c.safetensors")
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", "/no/such/dir", "-out", out}, "-data /no/such/dir"},
		{[]string{"-data", empty, "-out", out}, filepath.Join(empty, "train-images-idx3-ubyte.gz")},
		{[]string{"-epochs", "0", "-out", out}, "-epochs 0"},
		{[]string{"-batch", "-3", "-out", out}, "-batch -3"},
		{[]string{"-arch", "vit_huge", "-out", out}, `"vit_huge"`},
		{[]string{"-bogus"}, "bogus"},
		{[]string{"-out", "/no/such/dir/c.safetensors"}, "/no/such/dir"},
		{[]string{"-out", out, "extra"}, `"extra"`},
		{[]string{"-threads", "100000", "-out", out}, "-threads 100000"},
		{[]string{"-lr", "NaN", "-out", out}, "-lr NaN"},
		{[]string{"-lr", "Inf", "-out", out}, "-lr +Inf"},
		{[]string{"-wd", "NaN", "-out", out}, "-wd NaN"},
		{[]string{"-precision", "fp64", "-out", out}, "-precision"},
	} {
		err := run(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q: error %v, want one containing %s", c.args, err, c.want)
		}
	}
}
