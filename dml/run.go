package dml

import (
	"fmt"
	"math"
)

// Epoch is the progress of a training run after an epoch.
type Epoch struct {
	Epoch        int     // 1-based
	MeanLoss     float64 // over the epoch's steps
	Evaluated    bool    // Recall1 holds a fresh evaluation
	Recall1      float64 // R@1 of the evaluation (when Evaluated)
	Best         bool    // this evaluation is the best so far (its checkpoint was saved)
	LearningRate float64
}

// Run drives a Trainer over epochs: batches come from Batches, the model is evaluated every
// EvalEvery epochs (and after the last), the best evaluation by R@1 and the last epoch are saved.
type Run struct {
	Trainer    *Trainer
	Batches    func(epoch, step int) (Batch, error) // the step-th batch of the epoch (0-based)
	Evaluate   func() (recall1 float64, err error)
	Save       func(name string, e Epoch) error // name is "best" or "last"
	EvalEvery  int
	OnStep     func(epoch, step int, loss float64) // progress, may be nil
	OnEpoch    func(e Epoch)                       // progress, may be nil
	StartEpoch int                                 // 0 for a fresh run; the epochs already done when resuming
	BestRecall float64                             // the best R@1 of the epochs already done (NaN: none)
}

// Execute runs the remaining epochs. A step error (a non-finite loss, a batch that cannot be
// read) stops the run at once with that error: the checkpoints saved so far stay as they are.
func (r *Run) Execute() error {
	cfg := r.Trainer.Config
	if r.EvalEvery <= 0 {
		r.EvalEvery = 1
	}
	if r.StartEpoch == 0 {
		r.BestRecall = math.NaN()
	}
	for e := r.StartEpoch; e < cfg.Epochs; e++ {
		sum := 0.0
		for s := range cfg.StepsPerEpoch {
			b, err := r.Batches(e, s)
			if err != nil {
				return fmt.Errorf("dml: epoch %d, step %d: %w", e+1, s+1, err)
			}
			loss, err := r.Trainer.Step(e, s, b)
			if err != nil {
				return err
			}
			sum += loss
			if r.OnStep != nil {
				r.OnStep(e, s, loss)
			}
		}
		ep := Epoch{Epoch: e + 1, MeanLoss: sum / float64(cfg.StepsPerEpoch), LearningRate: r.Trainer.rate(cfg.LR, e)}
		if (e+1)%r.EvalEvery == 0 || e+1 == cfg.Epochs {
			recall, err := r.Evaluate()
			if err != nil {
				return fmt.Errorf("dml: evaluation after epoch %d: %w", e+1, err)
			}
			ep.Evaluated, ep.Recall1 = true, recall
			if math.IsNaN(r.BestRecall) || recall > r.BestRecall {
				r.BestRecall, ep.Best = recall, true
				if err := r.Save("best", ep); err != nil {
					return err
				}
			}
		}
		if err := r.Save("last", ep); err != nil {
			return err
		}
		if r.OnEpoch != nil {
			r.OnEpoch(ep)
		}
	}
	return nil
}
