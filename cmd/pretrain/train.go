package main

import (
	"fmt"
	"io"
	"time"

	"github.com/semprox/semprox/autodiff"
	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/data"
	"github.com/semprox/semprox/nn"
	"github.com/semprox/semprox/tensor"
)

// fit trains m on train for o.epochs epochs, reports the test accuracy after each, and returns
// the last one.
func fit(m *model, train, test *data.Split, o options, log io.Writer) (float64, error) {
	loader := data.NewLoader(data.LoaderConfig{Split: train, Transform: trainTransform(o.cfg.ImageSize), Seed: o.seed})
	defer loader.Close()
	sampler := data.Shuffled{N: len(train.Samples), BatchSize: o.batch, DropLast: len(train.Samples) >= o.batch, Seed: o.seed}
	opt := nn.NewAdamW(m.groups(o.lr, o.wd))
	tp := autodiff.NewTape()
	acc := 0.0
	for epoch := range o.epochs {
		batches := sampler.Batches(epoch)
		if err := trainEpoch(m, loader.Stream(epoch, batches), loader, opt, tp, len(batches), epoch, o, log); err != nil {
			return 0, err
		}
		var err error
		if acc, err = evaluate(m, test, o); err != nil {
			return 0, err
		}
		fmt.Fprintf(log, "pretrain: epoch %d/%d test accuracy %.4f\n", epoch+1, o.epochs, acc)
	}
	return acc, nil
}

// schedule is the learning rate: linear warm-up over the first epoch's steps (when there is
// more than one epoch), then cosine annealing per epoch down to 1% of the base rate.
func schedule(o options) dml.Schedule {
	warmup := 0
	if o.epochs > 1 {
		warmup = 1
	}
	return dml.Schedule{Cosine: nn.Cosine{TMax: o.epochs, EtaMin: o.lr / 100}, WarmupEpochs: warmup, WarmupPerStep: true}
}

// progress accumulates the running loss and accuracy of an epoch.
type progress struct {
	loss            float64
	correct, images int
	start, last     time.Time
}

// trainEpoch runs the steps of one epoch.
func trainEpoch(m *model, ep *data.BatchStream, loader *data.Loader, opt *nn.AdamW, tp *autodiff.Tape, steps, epoch int, o options, log io.Writer) error {
	defer ep.Stop()
	sched := schedule(o)
	p := progress{start: time.Now(), last: time.Now()}
	for step := 0; ; step++ {
		b, ok := ep.Next()
		if !ok {
			break
		}
		lr := sched.LR(o.lr, epoch, step, steps)
		for i := range opt.Groups {
			opt.Groups[i].LR = lr
		}
		loss, correct := trainStep(m, tp, opt, b)
		if err := dml.CheckLoss(loss, epoch, step); err != nil {
			return fmt.Errorf("%w (try a lower -lr than %g)", err, o.lr)
		}
		p.loss += loss * float64(len(b.Labels))
		p.correct += correct
		p.images += len(b.Labels)
		loader.Recycle(b)
		if time.Since(p.last) >= o.logEvery || step == steps-1 {
			p.last = time.Now()
			fmt.Fprintf(log, "pretrain: epoch %d/%d step %d/%d lr %.2e loss %.4f accuracy %.4f %.0f img/s\n",
				epoch+1, o.epochs, step+1, steps, lr, p.loss/float64(p.images),
				float64(p.correct)/float64(p.images), float64(p.images)/time.Since(p.start).Seconds())
		}
	}
	return nil
}

// trainStep runs one AdamW step on a batch and returns its loss and the number of rows it
// classified right.
func trainStep(m *model, tp *autodiff.Tape, opt *nn.AdamW, b *data.Batch) (float64, int) {
	defer tp.Reset()
	logits := m.logits(tp, b.Images)
	correct := countCorrect(logits.Value, b.Labels)
	loss := tp.CrossEntropy(logits, b.Labels)
	value := float64(loss.Value.Data()[0])
	tp.Backward(loss)
	opt.Step()
	opt.ZeroGrad()
	return value, correct
}

// countCorrect counts the rows of logits [B, C] whose largest score (the first one on ties)
// is at the label.
func countCorrect(logits *tensor.Tensor, labels []int) int {
	c := logits.Dim(1)
	d := logits.Data()
	n := 0
	for r, l := range labels {
		row := d[r*c : (r+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == l {
			n++
		}
	}
	return n
}

// evaluate returns the accuracy of m on split, without augmentation, its weights packed in the
// -precision for the pass.
func evaluate(m *model, split *data.Split, o options) (float64, error) {
	m.vit.PackAll(o.evalPrecision)
	defer m.vit.Unpack()
	loader := data.NewLoader(data.LoaderConfig{Split: split, Transform: evalTransform(o.cfg.ImageSize), Seed: o.seed})
	defer loader.Close()
	logits, labels, err := dml.EmbedSplit(loader, len(split.Samples), 256, func(tp *autodiff.Tape, images *autodiff.Var) *autodiff.Var {
		return m.logits(tp, images.Value)
	})
	if err != nil || logits == nil {
		return 0, err
	}
	dense := make([]int, len(labels))
	for i, l := range labels {
		dense[i] = int(l)
	}
	return float64(countCorrect(logits, dense)) / float64(len(labels)), nil
}
