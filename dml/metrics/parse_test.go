package metrics

import (
	"slices"
	"strings"
	"testing"
)

func TestParseKsAndMetric(t *testing.T) {
	got, err := ParseKs("8, 1,2,2")
	if err != nil || !slices.Equal(got, []int{1, 2, 8}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-1"} {
		if _, err := ParseKs(bad); err == nil || !strings.Contains(err.Error(), "-k") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, m := range []Metric{Cosine, L2} {
		if got, err := ParseMetric(m.String()); err != nil || got != m {
			t.Errorf("%s: %v, %v", m, got, err)
		}
	}
	if _, err := ParseMetric("dot"); err == nil || !strings.Contains(err.Error(), `-metric "dot"`) {
		t.Errorf("dot: %v", err)
	}
}
