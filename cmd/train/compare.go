package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/report"
	"github.com/semprox/semprox/internal/atomicfile"
)

// resultsFile is the table a -compare run writes into its directory.
const resultsFile = "results.md"

// comparison is one method's line of a -compare table.
type comparison struct {
	method     string
	parameters dml.ParameterCounts
	best       report.EpochRecord // the epoch of the best R@1
	minutes    float64
}

// compare trains each method of o.compare in turn with the same settings, each into its own
// directory under the -out directory, and writes a Markdown table of their best evaluations
// beside the frozen backbone's.
func compare(o options, stdout, stderr io.Writer, stop func() bool) error {
	root := o.Out
	if root == "" {
		root = filepath.Join("runs", "compare-"+time.Now().Format("20060102-150405"))
	}
	var rows []comparison
	var baseline report.Retrieval
	resolved := o.RunConfig // the settings as the presets resolved them, for the table's footer
	for _, method := range strings.Split(o.compare, ",") {
		one := o
		one.Method, one.Out = strings.TrimSpace(method), filepath.Join(root, strings.ReplaceAll(strings.TrimSpace(method), "+", "_"))
		one.set = map[string]bool{"method": true}
		for name := range o.set {
			one.set[name] = true
		}
		fmt.Fprintf(stderr, "== %s\n", one.Method)
		start := time.Now()
		ss, _, err := newSession(one, stdout, stderr, stop)
		if err != nil {
			return fmt.Errorf("-compare %s: %w", one.Method, err)
		}
		ss.Describe(stderr)
		ctx, release := stopContext(stop)
		res, err := ss.Run(ctx)
		release()
		resolved = ss.Config()
		ss.Close()
		if err != nil {
			return fmt.Errorf("-compare %s: %w", one.Method, err)
		}
		best, _ := report.BestEpoch(res.History, res.Baseline.Ks[0]) // a nil Eval when none was evaluated
		rows = append(rows, comparison{method: one.Method, parameters: res.Parameters, best: best, minutes: time.Since(start).Minutes()})
		baseline = res.Baseline
	}
	table := resultsTable(resolved, baseline, rows)
	fmt.Fprint(stdout, table)
	path := filepath.Join(root, resultsFile)
	if err := atomicfile.WriteFile(path, []byte(table)); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "written: %s\n", path)
	return nil
}

// resultsTable formats the comparison as Markdown.
func resultsTable(s dml.RunConfig, baseline report.Retrieval, rows []comparison) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| method | trainable parameters | per step | R@1 | MAP@R | best epoch | minutes | paper R@1 / MAP@R |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| frozen backbone | 0 | 0 | %.4f | %.4f | - | - | |\n", baseline.Recall[0], baseline.MAPAtR)
	for _, r := range rows {
		recall, mapr := "n/a", "n/a"
		epoch := "-"
		if r.best.Eval != nil {
			recall, mapr, epoch = fmt.Sprintf("%.4f", r.best.Eval.Recall[0]), fmt.Sprintf("%.4f", r.best.Eval.MAPAtR), fmt.Sprint(r.best.Epoch)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %.1f | %s |\n", r.method, r.parameters.Stored, r.parameters.PerStep,
			recall, mapr, epoch, r.minutes, paperCell(s, r.method))
	}
	fmt.Fprintf(&b, "\nDataset %s, preset %s, %d epochs, %d classes a step, seed %d. Trainable parameters count every class's prompts, per step\nonly those of one step's classes; R@1 and MAP@R of the best epoch by R@1.\n",
		s.Dataset, s.Name, s.Epochs, s.Batch/s.K, s.Seed)
	return b.String()
}

// paperCell is the paper's R@1 and MAP@R (in percent, as it prints them) of method on s's
// dataset and backbone, "" when it publishes none.
func paperCell(s dml.RunConfig, method string) string {
	s.Method = method
	p, ok := dml.PaperFor(s)
	if !ok {
		return ""
	}
	cell := fmt.Sprintf("%.1f", p.Recall[1])
	if p.MAPAtR > 0 {
		cell += fmt.Sprintf(" / %.1f", p.MAPAtR)
	}
	return cell + " (" + p.Table + ")"
}
