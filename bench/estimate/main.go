// Command estimate extrapolates the wall time of each paper preset's full run on this machine.
// It times a short run of every preset (a given number of training steps of one epoch, and the
// two evaluations around it) with cmd/train on a generated CUB-layout dataset (100 train and 100
// test classes of 3 images, 448x448 JPEGs) and randomly initialised ViT-S/16 and ViT-B/16 weights,
// then scales the step and evaluation rates to the real datasets' sizes and the presets' epochs:
//
//	go run ./bench/estimate            # about 25 minutes on 2 cores
//
// It prints a Markdown table: the measured training and evaluation rates, and the estimated time
// of the training steps, of the evaluations (one before training and one after each epoch) and
// of the whole run.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data/datatest"
	"github.com/semprox/semprox/internal/archive"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// splitSizes are the training images and the evaluated images (test, or query + gallery) of
// the real datasets, by preset family.
var splitSizes = map[string][2]int{"cub200": {5864, 5924}, "cars": {8054, 8131}, "sop": {59551, 60502}, "inshop": {25882, 14218 + 12612}}

const evalImages = 300 // the generated test split

func main() {
	dir := flag.String("dir", filepath.Join(os.TempDir(), "semprox-estimate"), "working directory (inputs and runs)")
	steps := flag.Int("steps", 4, "training steps timed per preset")
	list := flag.String("presets", "cub200_small,cars_small,sop_small,inshop_small,cub200_basic,cars_basic,sop_basic,inshop_basic", "the presets to time")
	flag.Parse()
	log.SetFlags(0)
	if err := prepare(*dir); err != nil {
		log.Fatal(err)
	}
	fmt.Println("| preset | full run | training img/s | evaluation img/s | training | evaluations | total |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for _, p := range strings.Split(*list, ",") {
		preset, err := dml.PresetNamed(p)
		if err != nil {
			log.Fatal(err)
		}
		train, eval, err := measure(*dir, p, *steps)
		if err != nil {
			log.Fatalf("%s: %v", p, err)
		}
		sizes := splitSizes[strings.Split(p, "_")[0]]
		perEpoch := sizes[0] / preset.Batch
		trainSeconds := float64(preset.Epochs*perEpoch*preset.Batch) / train
		evalSeconds := float64((preset.Epochs+1)*sizes[1]) / eval
		fmt.Printf("| %s | %d epochs x %d steps of %d | %.2f | %.1f | %s | %s | %s |\n", p, preset.Epochs, perEpoch, preset.Batch,
			train, eval, duration(trainSeconds), duration(evalSeconds), duration(trainSeconds+evalSeconds))
	}
}

// prepare writes the weights and the dataset into dir and builds cmd/train there.
func prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, arch := range map[string]string{"vit_s16": "vit_small_patch16_224", "vit_b16": "vit_base_patch16_224"} {
		vit := nn.NewViT(nn.Configs[arch])
		tensors := map[string]*tensor.Tensor{}
		for _, p := range vit.Parameters() {
			tensors[p.Name] = p.Var.Value
		}
		if err := weights.Save(filepath.Join(dir, name+".safetensors"), tensors, nil); err != nil {
			return err
		}
	}
	var tgz bytes.Buffer
	if err := datatest.WriteCUBArchive(&tgz, 200, 3, 448); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(dir, datatest.CUBRoot))
	if _, err := archive.ExtractAtomicDir(&tgz, filepath.Join(dir, datatest.CUBRoot), datatest.CUBRoot, archive.Limits{MaxBytes: 1 << 30, MaxFiles: 10000}); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "train"), "./cmd/train")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

// measure returns the training and evaluation rates (img/s) of preset: a dry run times the
// start-up, a run of steps steps the rest; the epoch's record gives its training time, and the
// remainder is the two evaluations.
func measure(dir, preset string, steps int) (train, eval float64, err error) {
	w := filepath.Join(dir, "vit_s16.safetensors")
	if strings.HasSuffix(preset, "_basic") {
		w = filepath.Join(dir, "vit_b16.safetensors")
	}
	out := filepath.Join(dir, "runs", preset)
	os.RemoveAll(out)
	args := []string{"-dataset", "cub", "-data", filepath.Join(dir, datatest.CUBRoot), "-weights", w, "-preset", preset}
	startup, err := timed(dir, append(args, "-dry-run"))
	if err != nil {
		return 0, 0, err
	}
	total, err := timed(dir, append(args, "-epochs", "1", "-steps", fmt.Sprint(steps), "-out", out))
	if err != nil {
		return 0, 0, err
	}
	raw, err := os.ReadFile(filepath.Join(out, dml.MetricsFile))
	if err != nil {
		return 0, 0, err
	}
	var epoch struct {
		Images  int     `json:"images"`
		Seconds float64 `json:"seconds"`
	}
	if err := json.Unmarshal(bytes.SplitN(raw, []byte("\n"), 2)[0], &epoch); err != nil {
		return 0, 0, err
	}
	evalSeconds := (total - startup - epoch.Seconds) / 2
	return float64(epoch.Images) / epoch.Seconds, evalImages / evalSeconds, nil
}

// timed runs the built cmd/train with args and returns its wall time in seconds.
func timed(dir string, args []string) (float64, error) {
	cmd := exec.Command(filepath.Join(dir, "train"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%v: %v\n%s", args, err, stderr.String())
	}
	return time.Since(start).Seconds(), nil
}

// duration formats seconds as hours, or days past two days.
func duration(s float64) string {
	if h := s / 3600; h < 48 {
		return fmt.Sprintf("%.1f h", h)
	}
	return fmt.Sprintf("%.1f days", s/86400)
}
