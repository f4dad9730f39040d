package dml

import (
	"errors"
	"fmt"
	"math"

	"github.com/semprox/semprox/dml/data"
)

// EpochProgress is the progress of a training run within or after an epoch.
type EpochProgress struct {
	Epoch        int     // 1-based
	Steps        int     // steps of the epoch done: StepsPerEpoch once it is complete
	LossSum      float64 // sum of the losses of those steps
	MeanLoss     float64 // LossSum / Steps
	Evaluated    bool    // Recall1 holds a fresh evaluation
	Recall1      float64 // R@1 of the evaluation (when Evaluated)
	Best         bool    // this evaluation is the best so far (its checkpoint was saved)
	BestRecall   float64 // the best R@1 of the run so far (NaN: no evaluation yet)
	LearningRate float64
}

// Complete reports whether every step of the epoch is done.
func (e EpochProgress) Complete(stepsPerEpoch int) bool { return e.Steps >= stepsPerEpoch }

// ErrStopped is returned by Loop.Execute (and Session.Run) when Stop asked it to stop; the run was saved first.
var ErrStopped = errors.New("dml: training stopped on request")

// Loop drives a Trainer over epochs: batches come from Batches, the model is evaluated every
// EvalEvery epochs (and after the last), the best evaluation by R@1 and the last epoch are saved.
//
// A run can stop after any step (Stop) and go on later from the saved Epoch (Resume): the
// batches of a step depend only on its epoch and index, so the resumed run computes exactly
// what an uninterrupted one would.
type Loop struct {
	Trainer   *Trainer
	Batches   func(epoch, step int) (data.Batch, error) // the step-th batch of the epoch (0-based)
	Evaluate  func() (recall1 float64, err error)
	Save      func(name string, e EpochProgress) error // name is "best" or "last"
	EvalEvery int
	OnStep    func(epoch, step int, loss float64) // progress, may be nil
	// OnEpoch reports a completed epoch before its "last" checkpoint is saved (so a record it
	// writes is never behind the checkpoint); an error stops the run. May be nil.
	OnEpoch func(e EpochProgress) error
	// Stop is asked after every step; true saves "last" and returns ErrStopped. May be nil.
	Stop func() bool
	// Resume is the Epoch of the checkpoint a resumed run starts from (zero: a fresh run).
	// A complete epoch resumes with the next one; a partial one at its next step.
	Resume EpochProgress
}

// Execute runs the remaining epochs. A step error (a non-finite loss, a batch that cannot be
// read) stops the run at once with that error: the checkpoints saved so far stay as they are.
func (r *Loop) Execute() error {
	cfg := r.Trainer.Config
	if r.EvalEvery <= 0 {
		r.EvalEvery = 1
	}
	ep := r.Resume
	if ep.Epoch == 0 {
		ep.BestRecall = math.NaN()
	}
	if ep.Epoch == 0 || ep.Complete(r.Trainer.StepsPerEpoch) {
		ep = EpochProgress{Epoch: ep.Epoch + 1, BestRecall: ep.BestRecall}
	}
	for ; ep.Epoch <= cfg.Epochs; ep = (EpochProgress{Epoch: ep.Epoch + 1, BestRecall: ep.BestRecall}) {
		e := ep.Epoch - 1
		ep.LearningRate = r.Trainer.rate(cfg.LR, e)
		for ; ep.Steps < r.Trainer.StepsPerEpoch; ep.Steps++ {
			b, err := r.Batches(e, ep.Steps)
			if err != nil {
				return fmt.Errorf("dml: epoch %d, step %d: %w", ep.Epoch, ep.Steps+1, err)
			}
			loss, err := r.Trainer.Step(e, ep.Steps, b)
			if err != nil {
				return err
			}
			ep.LossSum += loss
			if r.OnStep != nil {
				r.OnStep(e, ep.Steps, loss)
			}
			if ep.Steps+1 < r.Trainer.StepsPerEpoch && r.stopping() {
				ep.Steps++
				return r.stop(ep)
			}
		}
		ep.MeanLoss = ep.LossSum / float64(ep.Steps)
		if err := r.finishEpoch(&ep); err != nil {
			return err
		}
		if ep.Epoch < cfg.Epochs && r.stopping() {
			return ErrStopped
		}
	}
	return nil
}

func (r *Loop) stopping() bool { return r.Stop != nil && r.Stop() }

// stop saves a partial epoch as "last" and returns ErrStopped.
func (r *Loop) stop(ep EpochProgress) error {
	ep.MeanLoss = ep.LossSum / float64(ep.Steps)
	if err := r.Save("last", ep); err != nil {
		return err
	}
	return ErrStopped
}

// finishEpoch evaluates a completed epoch when due, saves "best" when R@1 improved, reports
// the epoch and saves "last".
func (r *Loop) finishEpoch(ep *EpochProgress) error {
	if ep.Epoch%r.EvalEvery == 0 || ep.Epoch == r.Trainer.Config.Epochs {
		recall, err := r.Evaluate()
		if err != nil {
			return fmt.Errorf("dml: evaluation after epoch %d: %w", ep.Epoch, err)
		}
		ep.Evaluated, ep.Recall1 = true, recall
		if math.IsNaN(ep.BestRecall) || recall > ep.BestRecall {
			ep.BestRecall, ep.Best = recall, true
			if err := r.Save("best", *ep); err != nil {
				return err
			}
		}
	}
	if r.OnEpoch != nil {
		if err := r.OnEpoch(*ep); err != nil {
			return err
		}
	}
	return r.Save("last", *ep)
}
