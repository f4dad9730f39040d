package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Summary writes the end-of-run report to w: an aligned table of every evaluated epoch (epoch,
// mean loss, R@K for each K, MAP@R, NMI; n/a for a skipped NMI or a K an epoch lacks),
// preceded by a "frozen" row for baseline when it is not nil; a line comparing the best R@1 with
// the baseline's,
//
//	best R@1 0.9634 (epoch 3) vs frozen backbone 0.8921: +0.0713
//
// and "written:" followed by files, one a line (left out when files is empty). The Ks are those of
// the first evaluated epoch (of baseline when no epoch was evaluated); R@1 is Recall@Ks[0].
func Summary(w io.Writer, epochs []EpochRecord, baseline *Retrieval, files []string) {
	var evaluated []EpochRecord
	for _, e := range epochs {
		if e.Eval != nil {
			evaluated = append(evaluated, e)
		}
	}
	var ks []int
	switch {
	case len(evaluated) > 0:
		ks = evaluated[0].Eval.Ks
	case baseline != nil:
		ks = baseline.Ks
	}

	if len(evaluated) > 0 || baseline != nil {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		head := []string{"epoch", "loss"}
		for _, k := range ks {
			head = append(head, "R@"+strconv.Itoa(k))
		}
		head = append(head, "MAP@R", "NMI")
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		if baseline != nil {
			fmt.Fprintln(tw, row("frozen", "-", ks, *baseline))
		}
		for _, e := range evaluated {
			fmt.Fprintln(tw, row(strconv.Itoa(e.Epoch), num(e.Loss), ks, *e.Eval))
		}
		tw.Flush()
	}

	if len(evaluated) == 0 || len(ks) == 0 {
		fmt.Fprintln(w, "no evaluated epoch")
	} else {
		k := ks[0]
		bestR := math.Inf(-1)
		line := fmt.Sprintf("best R@%d n/a", k)
		if best, ok := BestEpoch(evaluated, k); ok {
			bestR = best.Eval.RecallAt(k)
			line = fmt.Sprintf("best R@%d %s (epoch %d)", k, num(bestR), best.Epoch)
		}
		if baseline != nil {
			if b := baseline.RecallAt(k); isFinite(b) {
				line += fmt.Sprintf(" vs frozen backbone %.4f", b)
				if isFinite(bestR) {
					line += fmt.Sprintf(": %+.4f", bestR-b)
				}
			}
		}
		fmt.Fprintln(w, line)
	}

	Written(w, files)
}

// Written lists files under "written:", one a line; nothing when files is empty.
func Written(w io.Writer, files []string) {
	if len(files) > 0 {
		fmt.Fprintln(w, "written:")
		for _, f := range files {
			fmt.Fprintln(w, "  "+f)
		}
	}
}

// row is one table row: label, loss, the recall at each of ks, MAP@R and NMI.
func row(label, loss string, ks []int, e Retrieval) string {
	cells := []string{label, loss}
	for _, k := range ks {
		cells = append(cells, num(e.RecallAt(k)))
	}
	cells = append(cells, num(e.MAPAtR), num(e.NMI))
	return strings.Join(cells, "\t") + "\t"
}

// num formats x with four decimals, "n/a" when it is NaN.
func num(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", x)
}

// BestEpoch returns the evaluated epoch with the highest Recall@k (the first of equals), or
// false when no epoch has a Recall@k above -Inf.
func BestEpoch(epochs []EpochRecord, k int) (EpochRecord, bool) {
	var best EpochRecord
	bestR := math.Inf(-1)
	for _, e := range epochs {
		if e.Eval == nil {
			continue
		}
		if r := e.Eval.RecallAt(k); r > bestR {
			best, bestR = e, r
		}
	}
	return best, !math.IsInf(bestR, -1)
}
