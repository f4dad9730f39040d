package dml

import (
	"fmt"
	"math"

	"github.com/semprox/semprox/nn"
)

// Schedule is a learning rate over a run: cosine annealing per epoch, scaled by a linear
// warm-up over the first WarmupEpochs epochs, which rises once an epoch or, with WarmupPerStep,
// once a step.
type Schedule struct {
	Cosine        nn.Cosine
	WarmupEpochs  int
	WarmupPerStep bool
}

// LR returns the rate for base rate base at step step of epoch epoch (both 0-based) of an epoch
// of steps steps. It panics if Cosine.TMax is not positive.
func (s Schedule) LR(base float64, epoch, step, steps int) float64 {
	lr := s.Cosine.LR(base, epoch)
	switch {
	case epoch >= s.WarmupEpochs:
	case s.WarmupPerStep:
		lr *= float64(epoch*steps+step+1) / float64(s.WarmupEpochs*steps)
	default:
		lr *= float64(epoch+1) / float64(s.WarmupEpochs)
	}
	return lr
}

// CheckLoss returns an error naming the epoch and step (both 0-based) when loss is NaN or
// infinite, and nil otherwise.
func CheckLoss(loss float64, epoch, step int) error {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("dml: loss is %v at epoch %d, step %d: stopping", loss, epoch+1, step+1)
	}
	return nil
}
