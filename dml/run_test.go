package dml

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/nn/weights"
)

// The run evaluates every epoch, saves "best" only when R@1 improves and "last" every epoch,
// and the saved state loads back into a fresh model.
func TestRunKeepsBestAndLast(t *testing.T) {
	m := tinyModel(t, "vptsp-m")
	tr, err := NewTrainer(m, TrainConfig{Epochs: 3, StepsPerEpoch: 2, Optimizer: "sgd", LR: 1e-3, LRProxy: 1e-2, Cosine: nn.Cosine{TMax: 3}})
	if err != nil {
		t.Fatal(err)
	}
	batches := syntheticBatches(6, 8, 4, 3)
	recalls := []float64{0.5, 0.7, 0.6}
	dir := t.TempDir()
	var saved []string
	var epochs []Epoch
	run := &Run{
		Trainer:  tr,
		Batches:  func(e, s int) (Batch, error) { return batches[e*2+s], nil },
		Evaluate: func() (float64, error) { r := recalls[0]; recalls = recalls[1:]; return r, nil },
		Save: func(name string, e Epoch) error {
			saved = append(saved, name)
			return weights.Save(filepath.Join(dir, name+".safetensors"), m.State(), e)
		},
		OnEpoch: func(e Epoch) { epochs = append(epochs, e) },
	}
	if err := run.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"best", "last", "best", "last", "last"}; !slices.Equal(saved, want) {
		t.Errorf("saved %v, want %v", saved, want)
	}
	if run.BestRecall != 0.7 || !epochs[1].Best || epochs[2].Best || math.IsNaN(epochs[0].MeanLoss) {
		t.Errorf("best %v, epochs %+v", run.BestRecall, epochs)
	}
	var meta Epoch
	ck, err := weights.Load(filepath.Join(dir, "last.safetensors"), &meta)
	if err != nil {
		t.Fatal(err)
	}
	fresh := tinyModel(t, "vptsp-m")
	if err := fresh.LoadState(ck.Tensors); err != nil {
		t.Fatal(err)
	}
	if meta.Epoch != 3 || !equal(fresh.Memory.P.Data(), m.Memory.P.Data()) || !equal(fresh.Head.Proj.Weight.Value.Data(), m.Head.Proj.Weight.Value.Data()) {
		t.Errorf("the last checkpoint (epoch %d) does not restore the model", meta.Epoch)
	}
	other := tinyModel(t, "vpt")
	if err := other.LoadState(ck.Tensors); err == nil {
		t.Error("a vptsp-m checkpoint loaded into a vpt model")
	}
}

// A non-finite loss stops the run; the checkpoints already written are the last word.
func TestRunStopsOnNonFiniteLoss(t *testing.T) {
	m := tinyModel(t, "vpt")
	tr, err := NewTrainer(m, TrainConfig{Epochs: 2, StepsPerEpoch: 1, Optimizer: "sgd", LR: 1e-3, LRProxy: 1e-3, Cosine: nn.Cosine{TMax: 2}})
	if err != nil {
		t.Fatal(err)
	}
	batches := syntheticBatches(2, 4, 2, 4)
	batches[1].Images.Data()[0] = float32(math.NaN())
	saves := 0
	run := &Run{
		Trainer:  tr,
		Batches:  func(e, s int) (Batch, error) { return batches[e], nil },
		Evaluate: func() (float64, error) { return 0.5, nil },
		Save:     func(string, Epoch) error { saves++; return nil },
	}
	if err := run.Execute(); err == nil {
		t.Fatal("a NaN loss did not stop the run")
	}
	if saves != 2 {
		t.Errorf("%d saves, want the first epoch's best and last only", saves)
	}
}
