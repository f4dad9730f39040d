package httpfetch

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/semprox/semprox/internal/units"
)

// plainInterval is the least time between two plain progress lines; a variable for tests.
var plainInterval = 10 * time.Second

// progress shows one download. On a terminal it draws a progress bar in bytes; elsewhere (a log
// file, a pipe) it writes plain lines: one when the download starts, one at most every
// plainInterval, and a final one:
//
//	vit.safetensors: downloading 330.2 MiB
//	vit.safetensors: 120.0 MiB of 330.2 MiB (36%) 12.0 MiB/s eta 17s
//	vit.safetensors: 330.2 MiB done in 27s (12.2 MiB/s)
//
// A nil writer shows nothing.
type progress struct {
	w            io.Writer
	label        string
	terminal     bool
	bar          *progressbar.ProgressBar
	start, last  time.Time
	have, total  int64 // bytes on disk; size of the file (-1: unknown)
	fetched      int64 // bytes received by this Fetch (not the resumed ones)
	startedPlain bool
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, total: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.terminal = true
	}
	return p
}

// begin starts (or, after a retry, continues) the download at have bytes of total (-1: unknown).
func (p *progress) begin(have, total int64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if p.start.IsZero() {
		p.start, p.last = now, now
	}
	p.have, p.total = have, total
	if p.terminal {
		if p.bar == nil {
			p.bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(p.label),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowTotalBytes(true),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetRenderBlankState(true),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
			)
		} else if total != p.bar.GetMax64() {
			p.bar.ChangeMax64(total)
		}
		p.bar.Set64(have)
		return
	}
	if p.startedPlain {
		return
	}
	p.startedPlain = true
	switch {
	case have > 0:
		fmt.Fprintf(p.w, "%s: resuming at %s of %s\n", p.label, units.Bytes(have), formatSize(total))
	case total >= 0:
		fmt.Fprintf(p.w, "%s: downloading %s\n", p.label, units.Bytes(total))
	default:
		fmt.Fprintf(p.w, "%s: downloading\n", p.label)
	}
}

// add records n more bytes.
func (p *progress) add(n int64) {
	if p.w == nil {
		return
	}
	p.have += n
	p.fetched += n
	if p.bar != nil {
		p.bar.Add64(n)
		return
	}
	if t := time.Now(); t.Sub(p.last) >= plainInterval {
		p.last = t
		line := fmt.Sprintf("%s: %s of %s", p.label, units.Bytes(p.have), formatSize(p.total))
		if p.total > 0 {
			line += fmt.Sprintf(" (%d%%)", p.have*100/p.total)
		}
		rate := p.rate(t)
		line += fmt.Sprintf(" %s/s", units.Bytes(int64(rate)))
		if p.total > 0 && rate > 0 {
			line += " eta " + units.Duration(time.Duration(float64(p.total-p.have)/rate*float64(time.Second)))
		}
		fmt.Fprintln(p.w, line)
	}
}

// rate is the speed of this Fetch so far, bytes per second.
func (p *progress) rate(t time.Time) float64 {
	if s := t.Sub(p.start).Seconds(); s > 0 {
		return float64(p.fetched) / s
	}
	return 0
}

// note writes a line about the download (a retry), on its own line under a bar.
func (p *progress) note(s string) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		fmt.Fprintln(p.w)
	}
	fmt.Fprintln(p.w, s)
}

// finish ends the progress of a download whose file holds size bytes.
func (p *progress) finish(size int64) {
	if p.w == nil {
		return
	}
	if p.bar != nil {
		if !p.bar.IsFinished() {
			p.bar.Finish()
		}
		return
	}
	if p.start.IsZero() { // nothing was fetched: the partial file was complete already
		fmt.Fprintf(p.w, "%s: %s, complete\n", p.label, units.Bytes(size))
		return
	}
	t := time.Now()
	fmt.Fprintf(p.w, "%s: %s done in %s (%s/s)\n", p.label, units.Bytes(size),
		units.Duration(t.Sub(p.start)), units.Bytes(int64(p.rate(t))))
}

// formatSize is formatBytes, or "?" for an unknown size (-1).
func formatSize(n int64) string {
	if n < 0 {
		return "?"
	}
	return units.Bytes(n)
}
