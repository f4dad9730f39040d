package vision

import "testing"

func TestChannels(t *testing.T) {
	var c Channels
	if err := c.Set("0.485, 0.456,0.406"); err != nil || c != (Channels{0.485, 0.456, 0.406}) {
		t.Errorf("Set: %v %v", c, err)
	}
	if c.String() != "0.485,0.456,0.406" {
		t.Errorf("String %q", c.String())
	}
	for _, bad := range []string{"", "1,2", "1,2,3,4", "a,b,c", "1,NaN,2", "1,inf,2"} {
		if err := c.Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if (Channels{0.2, 0, 0.2}).Positive("-std") == nil || (Channels{1, 1, 1}).Positive("-std") != nil {
		t.Error("Positive")
	}
}
