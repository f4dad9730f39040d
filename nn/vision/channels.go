package vision

import (
	"fmt"
	"strconv"
	"strings"
)

// Channels is a per-channel (R, G, B) value such as a normalisation mean or standard deviation.
// It implements flag.Value as three comma-separated numbers ("0.5,0.5,0.5").
type Channels [3]float32

// String implements flag.Value.
func (c *Channels) String() string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("%g,%g,%g", c[0], c[1], c[2])
}

// Set implements flag.Value: three comma-separated finite numbers.
func (c *Channels) Set(s string) error {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return fmt.Errorf("%q: want three comma-separated numbers", s)
	}
	var v Channels
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil || f != f || f > 1e30 || f < -1e30 {
			return fmt.Errorf("%q: bad number %q", s, p)
		}
		v[i] = float32(f)
	}
	*c = v
	return nil
}

// Positive reports an error naming what unless every channel is above zero (a standard
// deviation).
func (c Channels) Positive(what string) error {
	for _, v := range c {
		if v <= 0 {
			return fmt.Errorf("%s %s: every channel must be positive", what, c.String())
		}
	}
	return nil
}

// Fraction reports an error naming what unless every channel is in [0, 1], as a mean of pixel
// values scaled to [0, 1] is.
func (c Channels) Fraction(what string) error {
	for _, v := range c {
		if v < 0 || v > 1 {
			return fmt.Errorf("%s %s: every channel must be in [0, 1]", what, c.String())
		}
	}
	return nil
}
