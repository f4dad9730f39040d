package report

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/semprox/semprox/internal/units"
)

// plainInterval is the least time between two plain progress lines.
const plainInterval = 10 * time.Second

// Progress reports the steps of one training epoch. On a terminal it draws a progress bar titled
// "epoch e/E" with the running mean loss, images/s and the time left; elsewhere (a log file, a
// pipe) it writes complete plain lines, at most one every 10 seconds, and a final line at Done:
//
//	epoch 2/4 step 120/470 loss 0.4123 312 img/s eta 1m05s
//	epoch 2/4 step 470/470 loss 0.3998 315 img/s done in 1m29s
type Progress struct {
	w             io.Writer
	epoch, epochs int
	steps, batch  int
	bar           *progressbar.ProgressBar // nil for plain lines
	interval      time.Duration            // least time between plain lines
	now           func() time.Time         // the clock
	start, last   time.Time                // start of the epoch, time of the last plain line
	step          int                      // steps done
	lossSum       float64                  // sum of the steps' losses
	done          bool
}

// NewProgress starts the progress of epoch (1-based) of epochs, which has steps steps of batch
// images each, written to w.
func NewProgress(w io.Writer, epoch, epochs, steps, batch int) *Progress {
	p := &Progress{w: w, epoch: epoch, epochs: epochs, steps: steps, batch: batch,
		interval: plainInterval, now: time.Now}
	p.start = p.now()
	p.last = p.start
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && steps > 0 && batch > 0 {
		p.bar = progressbar.NewOptions(steps*batch,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(p.title()),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return p
}

// Step records one step of batch images with its loss.
func (p *Progress) Step(loss float64) {
	if p.done {
		return
	}
	p.step++
	p.lossSum += loss
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s loss %.4f", p.title(), p.meanLoss()))
		p.bar.Add(p.batch)
		return
	}
	if t := p.now(); t.Sub(p.last) >= p.interval {
		p.last = t
		fmt.Fprintf(p.w, "%s eta %s\n", p.line(t), units.Duration(p.eta(t)))
	}
}

// Done ends the epoch's progress: it completes the bar, or writes the final plain line with the
// epoch's elapsed time. Later calls of Step and Done do nothing.
func (p *Progress) Done() {
	if p.done {
		return
	}
	p.done = true
	if p.bar != nil {
		if !p.bar.IsFinished() {
			p.bar.Exit()
		}
		return
	}
	t := p.now()
	fmt.Fprintf(p.w, "%s done in %s\n", p.line(t), units.Duration(t.Sub(p.start)))
}

func (p *Progress) title() string { return fmt.Sprintf("epoch %d/%d", p.epoch, p.epochs) }

// meanLoss is the mean loss of the steps so far.
func (p *Progress) meanLoss() float64 {
	if p.step == 0 {
		return 0
	}
	return p.lossSum / float64(p.step)
}

// line is a plain line without its time field.
func (p *Progress) line(t time.Time) string {
	rate := 0.0
	if s := t.Sub(p.start).Seconds(); s > 0 {
		rate = float64(p.step*p.batch) / s
	}
	return fmt.Sprintf("%s step %d/%d loss %.4f %.0f img/s", p.title(), p.step, p.steps, p.meanLoss(), rate)
}

// eta is the time left at t, at the mean step time so far.
func (p *Progress) eta(t time.Time) time.Duration {
	if p.step == 0 || p.step >= p.steps {
		return 0
	}
	return time.Duration(float64(t.Sub(p.start)) / float64(p.step) * float64(p.steps-p.step))
}
