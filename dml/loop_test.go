package dml

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn/weights"
	"github.com/semprox/semprox/tensor"
)

// The run evaluates every epoch, saves "best" only when R@1 improves and "last" every epoch,
// and the saved state loads back into a fresh model.
func TestRunKeepsBestAndLast(t *testing.T) {
	m := tinyModel(t, "vptsp-m")
	tr, err := NewTrainer(m, TrainConfig{Epochs: 3, Optimizer: "sgd", LR: 1e-3, LRProxy: 1e-2, CosineTMax: 3}, 2)
	if err != nil {
		t.Fatal(err)
	}
	batches := syntheticBatches(6, 8, 4, 3)
	recalls := []float64{0.5, 0.7, 0.6}
	dir := t.TempDir()
	var saved []string
	var epochs []EpochProgress
	run := &Loop{
		Trainer:  tr,
		Batches:  func(e, s int) (data.Batch, error) { return batches[e*2+s], nil },
		Evaluate: func() (float64, error) { r := recalls[0]; recalls = recalls[1:]; return r, nil },
		Save: func(name string, e EpochProgress) error {
			saved = append(saved, name)
			return weights.Save(filepath.Join(dir, name+".safetensors"), m.State(), e)
		},
		OnEpoch: func(e EpochProgress) error { epochs = append(epochs, e); return nil },
	}
	if err := run.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"best", "last", "best", "last", "last"}; !slices.Equal(saved, want) {
		t.Errorf("saved %v, want %v", saved, want)
	}
	if epochs[2].BestRecall != 0.7 || !epochs[1].Best || epochs[2].Best || math.IsNaN(epochs[0].MeanLoss) {
		t.Errorf("best %v, epochs %+v", epochs[2].BestRecall, epochs)
	}
	var meta EpochProgress
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
	tr, err := NewTrainer(m, TrainConfig{Epochs: 2, Optimizer: "sgd", LR: 1e-3, LRProxy: 1e-3, CosineTMax: 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	batches := syntheticBatches(2, 4, 2, 4)
	batches[1].Images.Data()[0] = float32(math.NaN())
	saves := 0
	run := &Loop{
		Trainer:  tr,
		Batches:  func(e, s int) (data.Batch, error) { return batches[e], nil },
		Evaluate: func() (float64, error) { return 0.5, nil },
		Save:     func(string, EpochProgress) error { saves++; return nil },
	}
	if err := run.Execute(); err == nil {
		t.Fatal("a NaN loss did not stop the run")
	}
	if saves != 2 {
		t.Errorf("%d saves, want the first epoch's best and last only", saves)
	}
}

// A run stopped after any step and resumed from its "last" checkpoint ends with the same losses
// and parameters as an uninterrupted run, bit for bit.
func TestRunStopAndResume(t *testing.T) {
	batches := syntheticBatches(6, 8, 4, 5)
	cfg := TrainConfig{Epochs: 3, Optimizer: "adamw", LR: 1e-3, LRProxy: 1e-2, CosineTMax: 3}
	type result struct {
		losses []float64
		state  map[string]*tensor.Tensor
	}
	// execute runs from resume (nil: fresh) and stops after stopAfter steps (-1: never).
	execute := func(resume *EpochProgress, state map[string]*tensor.Tensor, stopAfter int, out *result) (EpochProgress, map[string]*tensor.Tensor, error) {
		tr, err := NewTrainer(tinyModel(t, "vptsp-g"), cfg, 2)
		if err != nil {
			t.Fatal(err)
		}
		if state != nil {
			if err := tr.LoadState(state); err != nil {
				t.Fatal(err)
			}
		}
		var last EpochProgress
		var saved map[string]*tensor.Tensor
		steps := 0
		run := &Loop{
			Trainer:  tr,
			Batches:  func(e, s int) (data.Batch, error) { return batches[e*2+s], nil },
			Evaluate: func() (float64, error) { return 0.5, nil },
			Save: func(name string, e EpochProgress) error {
				if name == "last" {
					last, saved = e, map[string]*tensor.Tensor{}
					for n, v := range tr.State() {
						saved[n] = v.Clone()
					}
				}
				return nil
			},
			OnStep: func(_, _ int, loss float64) { out.losses = append(out.losses, loss); steps++ },
			Stop:   func() bool { return steps == stopAfter },
		}
		if resume != nil {
			run.Resume = *resume
		}
		err = run.Execute()
		out.state = tr.State()
		return last, saved, err
	}
	var whole result
	if _, _, err := execute(nil, nil, -1, &whole); err != nil {
		t.Fatal(err)
	}
	for _, stopAfter := range []int{1, 2, 3} {
		var parts result
		ep, state, err := execute(nil, nil, stopAfter, &parts)
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("stop after %d steps: %v", stopAfter, err)
		}
		if ep.Epoch != (stopAfter+1)/2 || ep.Steps != 2-stopAfter%2 {
			t.Errorf("stop after %d steps saved epoch %d step %d", stopAfter, ep.Epoch, ep.Steps)
		}
		if _, _, err := execute(&ep, state, -1, &parts); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(parts.losses, whole.losses) {
			t.Fatalf("stop after %d: losses %v, uninterrupted %v", stopAfter, parts.losses, whole.losses)
		}
		for name, v := range whole.state {
			if !equal(v.Data(), parts.state[name].Data()) {
				t.Fatalf("stop after %d: %s differs from the uninterrupted run", stopAfter, name)
			}
		}
	}
}
