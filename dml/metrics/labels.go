package metrics

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseLabels reads integer class labels as text, one a line; surrounding spaces and blank
// lines are ignored. Errors name the line. No label gives an empty, non-nil slice.
func ParseLabels(r io.Reader) ([]int64, error) {
	labels := []int64{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not an integer label", line, s)
		}
		labels = append(labels, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return labels, nil
}
