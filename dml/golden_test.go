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
	"github.com/semprox/semprox/kernels"
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

// goldenTolerance is what a golden run must match: the loss of every step relative to the
// reference's, and every final tensor's largest error relative to its largest magnitude, the
// trained tensors and the optimizer's moments apart; the trained tensors also their mean error
// relative to their mean magnitude (tensorMean).
type goldenTolerance struct{ loss, tensor, tensorMean, moments float64 }

var (
	// The reference computes in float64, semprox in float32.
	goldenFP32 = goldenTolerance{loss: goldenLossTol, tensor: goldenTensorTol, tensorMean: goldenTensorTol, moments: goldenTensorTol}
	// With the frozen weights and the attention products in bf16 (8 bits of mantissa against
	// float32's 24: a relative rounding of 2^-9 on each operand) every gradient carries that
	// rounding; the moments, averages of a few small gradients, carry the most of it. AdamW's
	// first step moves an entry by the learning rate whatever its gradient's size, so an entry
	// whose first gradient is within that rounding of zero can step the other way: one entry
	// off by twice the learning rate, which the largest error shows (tensor) and the mean error
	// hardly does (tensorMean).
	goldenBF16 = goldenTolerance{loss: 5e-3, tensor: 0.6, tensorMean: 2e-2, moments: 0.25}
)

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
//
// The frozen weights are packed in float32 (kernels.PackB), which changes no bit.
func TestGolden(t *testing.T) {
	runs := goldenRuns(t)
	for _, dir := range runs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkGolden(t, dir, kernels.FP32, goldenFP32) })
	}
}

// TestGoldenBF16 is TestGolden with the frozen weights in bf16, within the looser tolerances.
func TestGoldenBF16(t *testing.T) {
	runs := goldenRuns(t)
	for _, dir := range runs {
		t.Run(filepath.Base(dir), func(t *testing.T) { checkGolden(t, dir, kernels.BF16, goldenBF16) })
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

func checkGolden(t *testing.T, dir string, precision kernels.Precision, tol goldenTolerance) {
	c := readGoldenConfig(t, dir)
	trainer := goldenTrainer(t, dir, c, precision)
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
		if worst = max(worst, rel); !(rel <= tol.loss) {
			t.Errorf("step %d: loss %.9g, reference %.9g (relative error %.2g)", s, loss, want, rel)
		}
	}
	worstOf := compareGolden(t, trainer.State(), readGolden(t, dir, "final.safetensors"), tol)
	t.Logf("largest errors: loss %.2g, tensor %.2g (%s), moment %.2g (%s)", worst,
		worstOf[false].err, worstOf[false].name, worstOf[true].err, worstOf[true].name)
}

// goldenTrainer builds the run's model on its frozen ViT, its frozen weights packed in the given
// precision, loads its initial tensors and prepares its optimizer.
func goldenTrainer(t *testing.T, dir string, c goldenConfig, precision kernels.Precision) *Trainer {
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
	vit.PackFrozen(precision)
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

// worstTensor is the tensor with the largest relative error, and that error.
type worstTensor struct {
	name string
	err  float64
}

// compareGolden checks that got and want hold the same names, and each tensor within tol of the
// reference (step counts exactly). It returns the worst tensor of the trained ones (false) and
// of the optimizer's moments (true).
func compareGolden(t *testing.T, got, want map[string]*tensor.Tensor, tol goldenTolerance) map[bool]worstTensor {
	worstOf := map[bool]worstTensor{}
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
		moment := strings.HasPrefix(name, "optimizer.")
		if w := worstOf[moment]; rel > w.err || w.name == "" {
			worstOf[moment] = worstTensor{name, rel}
		}
		limit := tol.tensor
		if moment {
			limit = tol.moments
		}
		if !(rel <= limit) {
			t.Errorf("%s: max abs error / max abs value %.3g, want at most %g", name, rel, limit)
		}
		if mean := meanRelativeError(gd, wd); !moment && !(mean <= tol.tensorMean) {
			t.Errorf("%s: mean abs error / mean abs value %.3g, want at most %g", name, mean, tol.tensorMean)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in semprox's state, not in the reference", name)
		}
	}
	return worstOf
}

// meanRelativeError is sum |got - want| / sum |want| (the absolute error when want is all zero).
func meanRelativeError(got, want []float32) float64 {
	sumErr, sumAbs := 0.0, 0.0
	for i, w := range want {
		sumErr += math.Abs(float64(got[i]) - float64(w))
		sumAbs += math.Abs(float64(w))
	}
	if sumAbs == 0 {
		return sumErr
	}
	return sumErr / sumAbs
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
