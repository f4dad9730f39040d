// Package units formats byte counts and durations for progress lines and messages.
package units

import (
	"fmt"
	"time"
)

// Bytes writes n in binary units with one decimal: 512 B, 1.5 KiB, 330.2 MiB, 1.1 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// Duration writes d rounded to the second: 5s, 1m05s, 2h03m04s (0s for a negative d).
func Duration(d time.Duration) string {
	s := max(int64(d.Round(time.Second)/time.Second), 0)
	h, m, s := s/3600, s/60%60, s%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}
