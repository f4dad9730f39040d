package report

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Plot file names, written into the directory given to Plot.
const (
	LossPlot   = "loss.png"
	RecallPlot = "recall.png"
)

// Plot writes two PNG charts into dir, each atomically (a temporary file in dir, then a rename):
//
//   - loss.png: the mean training loss of each epoch;
//   - recall.png: the first recall (Recall@Ks[0], labelled with that K, R@1 in practice) of each
//     evaluated epoch, and, unless baselineR1 is NaN, a dashed horizontal line at baselineR1
//     labelled "frozen backbone" (the R@1 of the frozen backbone).
//
// Both files are always written: with no evaluated epoch recall.png shows empty axes titled
// "(no evaluated epoch)", over the run's epochs and recalls 0 to 1 (with the baseline line, if
// any), so the list of files a run writes does not depend on its evaluations.
// Non-finite values (a diverged loss) are left out of the charts.
func Plot(dir string, epochs []EpochRecord, baselineR1 float64) error {
	var loss plotter.XYs
	for _, e := range epochs {
		if isFinite(e.Loss) {
			loss = append(loss, plotter.XY{X: float64(e.Epoch), Y: e.Loss})
		}
	}
	lp := newPlot("training loss", "mean loss")
	if err := addSeries(lp, loss, ""); err != nil {
		return fmt.Errorf("report: %s: %w", LossPlot, err)
	}
	pad(lp)
	if err := savePlot(lp, filepath.Join(dir, LossPlot)); err != nil {
		return err
	}

	var recall plotter.XYs
	label := "R@1"
	for _, e := range epochs {
		if e.Eval == nil {
			continue
		}
		k, r, ok := e.Eval.first()
		if !ok || !isFinite(r) {
			continue
		}
		if len(recall) == 0 {
			label = "R@" + strconv.Itoa(k)
		}
		recall = append(recall, plotter.XY{X: float64(e.Epoch), Y: r})
	}
	rp := newPlot("test "+label, label)
	if err := addSeries(rp, recall, label); err != nil {
		return fmt.Errorf("report: %s: %w", RecallPlot, err)
	}
	if len(recall) == 0 {
		// Empty axes over the run's epochs and the range of a recall.
		rp.Title.Text += " (no evaluated epoch)"
		rp.Y.Min, rp.Y.Max = 0, 1
		if len(epochs) > 0 {
			rp.X.Min, rp.X.Max = float64(epochs[0].Epoch), float64(epochs[len(epochs)-1].Epoch)
		}
	}
	if isFinite(baselineR1) {
		b := baselineR1
		f := plotter.NewFunction(func(float64) float64 { return b })
		f.Samples = 2
		f.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		f.Width = vg.Points(1.5)
		f.Color = color.RGBA{R: 200, G: 40, B: 40, A: 255}
		rp.Add(f)
		rp.Legend.Add("frozen backbone", f)
		rp.Y.Min, rp.Y.Max = math.Min(rp.Y.Min, b), math.Max(rp.Y.Max, b)
	}
	// Top left: recall rises to the right and the baseline lies below it.
	rp.Legend.Top, rp.Legend.Left = true, true
	rp.Legend.XOffs, rp.Legend.YOffs = vg.Points(8), -vg.Points(8)
	pad(rp)
	return savePlot(rp, filepath.Join(dir, RecallPlot))
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// newPlot returns an empty chart over epochs.
func newPlot(title, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = y
	p.X.Tick.Marker = epochTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = false // bottom right: the loss falls away from it
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	return p
}

// pad widens both axes of p by 5% of their range on each side, so that no point sits on an
// axis. An empty or single-valued range is left to plot, which widens it by 1 each side.
func pad(p *plot.Plot) {
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		if d := a.Max - a.Min; d > 0 && !math.IsInf(d, 0) {
			a.Min -= d / 20
			a.Max += d / 20
		}
	}
}

// addSeries adds xy as a line with points (a lone point when xy has one), labelled in the
// legend unless label is empty. An empty xy adds nothing.
func addSeries(p *plot.Plot, xy plotter.XYs, label string) error {
	if len(xy) == 0 {
		return nil
	}
	line, points, err := plotter.NewLinePoints(xy)
	if err != nil {
		return err
	}
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	line.Width = vg.Points(1.5)
	line.Color, points.Color = blue, blue
	p.Add(line, points)
	if label != "" {
		p.Legend.Add(label, line, points)
	}
	return nil
}

// savePlot writes p as a 6 x 4 inch PNG at path, atomically.
func savePlot(p *plot.Plot, path string) error {
	wt, err := p.WriterTo(6*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return writeAtomic(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}

// epochTicks marks whole epochs, at most about ten labels.
type epochTicks struct{}

// Ticks implements plot.Ticker.
func (epochTicks) Ticks(min, max float64) []plot.Tick {
	lo, hi := math.Ceil(min), math.Floor(max)
	if hi < lo {
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	step := math.Max(1, math.Ceil((hi-lo+1)/10))
	var ticks []plot.Tick
	for x := lo; x <= hi; x += step {
		ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', 0, 64)})
	}
	return ticks
}
