package dml

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// goldenEnv names a directory of golden runs (or one run) to check instead of the committed ones
// in testdata/golden; testdata/golden/README.md says how to make one.
const goldenEnv = "SEMPROX_GOLDEN"

// Tolerances of the golden runs: the loss of every step relative to the reference's, and every
// final tensor's largest error relative to its largest magnitude. The reference computes in
// float64, semprox in float32.
const goldenLossTol, goldenTensorTol = 1e-5, 1e-4

// goldenConfig is a golden run's config.json: what testdata/golden/golden.py trained.
type goldenConfig struct {
	Method, Optimizer             string
	Steps, Epochs                 int
	StepsPerEpoch                 int     `json:"steps_per_epoch"`
	DropoutSeed                   uint64  `json:"dropout_seed"`
	PA                            string  `json:"pa"`
	ClassPlacement                string  `json:"class_placement"`
	ClassPromptState              string  `json:"class_prompt_state"`
	GRUMix                        string  `json:"gru_mix"`
	GRUDropout                    float64 `json:"gru_dropout"`
	LR                            float64 `json:"lr"`
	LRProxy                       float64 `json:"lr_proxy"`
	WeightDecay                   float64 `json:"weight_decay"`
	CosineTMax                    int     `json:"cosine_t_max"`
	CosineEtaMin                  float64 `json:"cosine_eta_min"`
	Alpha, Kappa                  float64
	Classes, Batch, K             int
	EmbedDim                      int `json:"embed_dim"`
	Dim, Heads, Depth, Patch, Img int
	MLPRatio                      int     `json:"mlp_ratio"`
	Eps                           float64 `json:"eps"`
	Prompts                       PromptSpec
	ClassPrompts                  PromptSpec `json:"class_prompts"`
	Labels                        [][]int
	Losses                        []float64
	GoldenSHA256                  string `json:"golden_sha256"`
}

// TestGolden trains each golden run's steps from its initial tensors and compares every loss,
// and then every trainable tensor, the class memory and the optimizer's state, with those of
// the PyTorch reference trainer.
func TestGolden(t *testing.T) {
	runs := goldenRuns(t)
	for _, dir := range runs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkGolden(t, dir) })
	}
}

// The committed runs were written by the committed reference trainer: golden.py changed without
// regenerating them fails here.
func TestGoldenRunsAreCurrent(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "testdata", "golden", "golden.py"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x", sha256.Sum256(script))
	for _, dir := range goldenRunsIn(t, filepath.Join("..", "testdata", "golden")) {
		if c := readGoldenConfig(t, dir); c.GoldenSHA256 != want {
			t.Errorf("%s was written by a golden.py of SHA-256 %s, not the committed one (%s): regenerate it with the command in testdata/golden/README.md", dir, c.GoldenSHA256, want)
		}
	}
}

// goldenRuns lists the run directories: $SEMPROX_GOLDEN (a run or a directory of runs) or the
// committed ones.
func goldenRuns(t *testing.T) []string {
	root := os.Getenv(goldenEnv)
	if root == "" {
		root = filepath.Join("..", "testdata", "golden")
	}
	return goldenRunsIn(t, root)
}

// goldenRunsIn lists root if it is a run, else the runs in it.
func goldenRunsIn(t *testing.T, root string) []string {
	if _, err := os.Stat(filepath.Join(root, "config.json")); err == nil {
		return []string{root}
	}
	runs, err := filepath.Glob(filepath.Join(root, "*", "config.json"))
	if err != nil || len(runs) == 0 {
		t.Fatalf("no golden runs (directories with a config.json) in %s", root)
	}
	for i, r := range runs {
		runs[i] = filepath.Dir(r)
	}
	return runs
}

func readGoldenConfig(t *testing.T, dir string) goldenConfig {
	var c goldenConfig
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return c
}

func checkGolden(t *testing.T, dir string) {
	c := readGoldenConfig(t, dir)
	trainer := goldenTrainer(t, dir, c)
	images := readGolden(t, dir, "batches.safetensors")
	worst := 0.0
	for s := range c.Steps {
		b := data.Batch{Images: images[fmt.Sprintf("images.%d", s)], Labels: c.Labels[s]}
		loss, err := trainer.Step(s/c.StepsPerEpoch, s%c.StepsPerEpoch, b)
		if err != nil {
			t.Fatal(err)
		}
		want := c.Losses[s]
		rel := math.Abs(loss-want) / math.Abs(want)
		if worst = max(worst, rel); !(rel <= goldenLossTol) {
			t.Errorf("step %d: loss %.9g, reference %.9g (relative error %.2g)", s, loss, want, rel)
		}
	}
	name, rel := compareGolden(t, trainer.State(), readGolden(t, dir, "final.safetensors"))
	t.Logf("largest errors: loss %.2g, tensor %.2g (%s)", worst, rel, name)
}

// goldenTrainer builds the run's model on its frozen ViT, loads its initial tensors and
// prepares its optimizer.
func goldenTrainer(t *testing.T, dir string, c goldenConfig) *Trainer {
	cfg := nn.Config{ImageSize: c.Img, PatchSize: c.Patch, Dim: c.Dim, Depth: c.Depth, Heads: c.Heads, MLPRatio: c.MLPRatio, Eps: float32(c.Eps)}
	vit, _, err := nn.LoadViT(filepath.Join(dir, "vit.safetensors"), nn.LoadOptions{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	method, err := ParseMethod(c.Method)
	if err != nil {
		t.Fatal(err)
	}
	sem := Semantics{
		PositivesOverAll:  c.PA == "all",
		ClassAfterDataset: c.ClassPlacement == "after",
		ClassPromptState:  PromptState(c.ClassPromptState),
		GRUMix:            c.GRUMix,
		GRUDropout:        c.GRUDropout,
	}
	if err := sem.Check(); err != nil {
		t.Fatal(err)
	}
	model := ModelConfig{EmbedDim: c.EmbedDim, Prompts: c.Prompts, Class: c.ClassPrompts, Alpha: c.Alpha, Semantics: sem}
	m := newModel(t, vit, method, model, c.Classes, rand.New(rand.NewPCG(1, 2)))
	if m.Memory != nil {
		m.Memory.Kappa, m.Memory.DropoutSeed = float32(c.Kappa), c.DropoutSeed
	}
	if err := m.LoadState(readGolden(t, dir, "initial.safetensors")); err != nil {
		t.Fatalf("initial tensors: %v", err)
	}
	trainer, err := NewTrainer(m, TrainConfig{Epochs: c.Epochs, Optimizer: c.Optimizer,
		LR: c.LR, LRProxy: c.LRProxy, WeightDecay: c.WeightDecay, CosineTMax: c.CosineTMax, CosineMin: c.CosineEtaMin}, c.StepsPerEpoch)
	if err != nil {
		t.Fatal(err)
	}
	return trainer
}

func readGolden(t *testing.T, dir, name string) map[string]*tensor.Tensor {
	ck, err := weights.Read(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return ck.Tensors
}

// compareGolden checks that got and want hold the same names, and each tensor within
// goldenTensorTol of the reference (step counts exactly). It returns the tensor with the
// largest relative error, and that error.
func compareGolden(t *testing.T, got, want map[string]*tensor.Tensor) (worstName string, worst float64) {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: in the reference, not in semprox's state", name)
			continue
		}
		gd, wd := g.Data(), want[name].Data()
		if len(gd) != len(wd) {
			t.Errorf("%s: %d values, reference %d", name, len(gd), len(wd))
			continue
		}
		if strings.HasSuffix(name, ".step") {
			if !slices.Equal(gd, wd) {
				t.Errorf("%s: %v steps, reference %v", name, gd, wd)
			}
			continue
		}
		rel := relativeError(gd, wd)
		if rel > worst || worstName == "" {
			worstName, worst = name, rel
		}
		if !(rel <= goldenTensorTol) {
			t.Errorf("%s: max abs error / max abs value %.3g, want at most %g", name, rel, goldenTensorTol)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in semprox's state, not in the reference", name)
		}
	}
	return worstName, worst
}

// relativeError is max |got - want| / max |want| (the absolute error when want is all zero).
func relativeError(got, want []float32) float64 {
	maxErr, maxAbs := 0.0, 0.0
	for i, w := range want {
		maxErr = max(maxErr, math.Abs(float64(got[i])-float64(w)))
		maxAbs = max(maxAbs, math.Abs(float64(w)))
	}
	if maxAbs == 0 {
		return maxErr
	}
	return maxErr / maxAbs
}
