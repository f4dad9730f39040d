package dml

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// syntheticBatches returns n batches of images around class-specific patterns.
func syntheticBatches(n, batch, classes int, seed uint64) []data.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	patterns := make([]*tensor.Tensor, classes)
	for c := range patterns {
		patterns[c] = tensor.New(3, 32, 32)
		for i := range patterns[c].Data() {
			patterns[c].Data()[i] = float32(rng.NormFloat64())
		}
	}
	var out []data.Batch
	for range n {
		b := data.Batch{Images: tensor.New(batch, 3, 32, 32)}
		for i := range batch {
			c := (i / 2) % classes
			b.Labels = append(b.Labels, c)
			for j, v := range patterns[c].Data() {
				b.Images.Row(i).Data()[j] = v + 0.3*float32(rng.NormFloat64())
			}
		}
		out = append(out, b)
	}
	return out
}

// tinyViT loads the reference ViT of testdata/torchref (D = 64, 3 blocks, 32x32 images).
func tinyViT(t *testing.T) *nn.ViT {
	t.Helper()
	vit, _, err := nn.LoadViT(filepath.Join(torchref, "vit.safetensors"),
		nn.LoadOptions{Config: &nn.Config{ImageSize: 32, PatchSize: 16, Dim: 64, Depth: 3, Heads: 2, MLPRatio: 4, Eps: 1e-6}})
	if err != nil {
		t.Fatal(err)
	}
	return vit
}

// tinyPreset is cub200_small scaled to tinyViT: E = 16, 2 prompts per block, 2 class prompts
// in the first 2 blocks.
func tinyPreset() Preset {
	preset := Presets["cub200_small"]
	preset.EmbedDim = 16
	preset.Prompts, preset.Class = PromptSpec{Count: 2, Depth: 3}, PromptSpec{Count: 2, Depth: 2}
	return preset
}

// newModel is NewModel for method with cfg's other settings, failing the test on an error.
func newModel(t *testing.T, vit *nn.ViT, method Method, cfg ModelConfig, classes int, rng *rand.Rand) *Model {
	t.Helper()
	cfg.Method = method.String()
	m, err := NewModel(vit, cfg, classes, rng)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tinyModel(t *testing.T, method string) *Model {
	t.Helper()
	m, err := ParseMethod(method)
	if err != nil {
		t.Fatal(err)
	}
	return newModel(t, tinyViT(t), m, tinyPreset().ModelConfig, 4, rand.New(rand.NewPCG(5, 5)))
}

// Two runs with the same seed give the same losses bit for bit, and training lowers the loss.
func TestTrainerDeterministicAndLearns(t *testing.T) {
	batches := syntheticBatches(6, 8, 4, 9)
	run := func() []float64 {
		m := tinyModel(t, "vptsp-g+bitfit")
		tr, err := NewTrainer(m, TrainConfig{Epochs: 2, Optimizer: "adamw", LR: 1e-3, LRProxy: 1e-2,
			CosineTMax: 2, WarmupEpochs: 1, ClipNorm: 10}, 3)
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for e := range 2 {
			for s := range 3 {
				l, err := tr.Step(e, s, batches[e*3+s])
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, l)
			}
		}
		return losses
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different losses:\n%v\n%v", a, b)
	}
	if !(a[len(a)-1] < a[0]) {
		t.Errorf("loss did not go down: %v", a)
	}
}

func TestTrainerStopsOnNonFiniteLoss(t *testing.T) {
	m := tinyModel(t, "vpt")
	tr, err := NewTrainer(m, TrainConfig{Epochs: 1, Optimizer: "sgd", LR: 1, LRProxy: 1, CosineTMax: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := syntheticBatches(1, 4, 2, 1)[0]
	b.Images.Data()[0] = float32(math.NaN())
	before := m.Head.Proj.Weight.Value.Clone()
	if _, err := tr.Step(0, 0, b); err == nil {
		t.Fatal("a NaN loss did not stop the step")
	}
	if !equal(before.Data(), m.Head.Proj.Weight.Value.Data()) {
		t.Error("a NaN step changed the parameters")
	}
	empty := data.Batch{Images: tensor.New(0, 3, 32, 32)}
	if _, err := tr.Step(0, 2, empty); err == nil || !strings.Contains(err.Error(), "epoch 1, step 3: the batch is empty") {
		t.Errorf("an empty batch (every image unreadable): %v", err)
	}
	if _, err := NewTrainer(m, TrainConfig{Optimizer: "lamb"}, 1); err == nil {
		t.Error("unknown optimizer accepted")
	}
}

// A trainer restored from another's State continues with the same losses bit for bit, for
// both optimizers (AdamW's per-row state of the class prompts included).
func TestTrainerStateResumes(t *testing.T) {
	batches := syntheticBatches(4, 8, 4, 3)
	cfg := TrainConfig{Epochs: 1, LR: 1e-3, LRProxy: 1e-2, CosineTMax: 1}
	for _, opt := range []string{"sgd", "adamw"} {
		cfg.Optimizer = opt
		newTrainer := func() *Trainer {
			tr, err := NewTrainer(tinyModel(t, "vptsp-g+bitfit"), cfg, 4)
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}
		a := newTrainer()
		for s, b := range batches[:2] {
			if _, err := a.Step(0, s, b); err != nil {
				t.Fatal(err)
			}
		}
		saved := map[string]*tensor.Tensor{}
		for name, v := range a.State() {
			saved[name] = v.Clone()
		}
		b := newTrainer()
		if err := b.LoadState(saved); err != nil {
			t.Fatalf("%s: %v", opt, err)
		}
		for s, batch := range batches[2:] {
			la, _ := a.Step(0, s+2, batch)
			lb, _ := b.Step(0, s+2, batch)
			if la != lb {
				t.Fatalf("%s: step %d after restoring: loss %v, uninterrupted %v", opt, s+2, lb, la)
			}
		}
		delete(saved, "head.proj.weight")
		if err := newTrainer().LoadState(saved); err == nil {
			t.Errorf("%s: a checkpoint without head.proj.weight loaded", opt)
		}
	}
}
