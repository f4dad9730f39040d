package metrics

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseKs reads the K of Recall@K as cmd/eval's -k gives them: comma-separated positive
// integers, returned sorted and without repeats.
func ParseKs(s string) ([]int, error) {
	var ks []int
	for p := range strings.SplitSeq(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || k < 1 {
			return nil, fmt.Errorf("-k %q: want comma-separated positive integers", s)
		}
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return slices.Compact(ks), nil
}

// ParseMetric reads a metric by its name: cosine or l2 (see Metric.String).
func ParseMetric(s string) (Metric, error) {
	switch s {
	case "cosine":
		return Cosine, nil
	case "l2":
		return L2, nil
	}
	return 0, fmt.Errorf("-metric %q: want cosine or l2", s)
}
