package main

import (
	"strings"
	"testing"

	"github.com/semprox/semprox/dml"
	"github.com/semprox/semprox/dml/report"
)

// The -compare table puts the paper's figures beside each method where the paper has them.
func TestResultsTablePaper(t *testing.T) {
	s := dml.NewRunConfig("cub", dml.Presets["cub200_small"])
	s.Weights = dml.PaperViTS
	eval := &report.Retrieval{Ks: []int{1, 2, 4, 8}, Recall: []float64{0.85, 0.9, 0.95, 0.97}, MAPAtR: 0.5}
	rows := []comparison{
		{method: "linear", best: report.EpochRecord{Epoch: 3, Eval: eval}},
		{method: "vptsp-g+bitfit", best: report.EpochRecord{Epoch: 2, Eval: eval}},
		{method: "full"},
	}
	table := resultsTable(s, *eval, rows)
	for _, want := range []string{
		"| linear | 0 | 0 | 0.8500 | 0.5000 | 3 | 0.0 | 84.9 / 48.1 (Table 1) |",
		"| vptsp-g+bitfit | 0 | 0 | 0.8500 | 0.5000 | 2 | 0.0 | 86.6 / 52.7 (Table 1 and Table 2) |",
		"| full | 0 | 0 | n/a | n/a | - | 0.0 |  |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("missing %q in\n%s", want, table)
		}
	}
}
